"""The clerk's register book and the leaders' reports: paper saved, decided on time.

ke-hoach (register KH, `{seq:02d}/KH-BDT`): review by every `truong-phong` (HEAD, due
2 days, escalating to `pho-truong-ban`), sign-off by `truong-ban` (SIGNER, due 1 day);
issued documents go to the author and vanthu@bandantoc.gov.vn. Renditions are off in
tests, so pages are read from the files themselves.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

from playwright.async_api import Browser
from pypdf import PdfReader

from tests import mails
from tests.conftest import Stack
from tests.filebuilders import make_docx_python_docx, make_pdf
from tests.integration.conftest import DAY, ClockedStack
from tests.integration.test_decision_browser import browser  # noqa: F401 (fixture)
from tests.integration.test_issuing import CLERK as DISTRIBUTION
from tests.integration.test_issuing import HEAD, office
from tests.integration.test_spine_mail import AUTHOR
from tests.integration.test_workflow_links import SIGNER, links_of, submit, task_mails
from tests.webapp import DESK, browser_as, http_as

CLERK = "thu.vt@bandantoc.gov.vn"  # role van-thu: keeps the register books
LEADER = "hai.lv@bandantoc.gov.vn"  # role lanh-dao: reads the reports
DEPUTY = "khoa.pv@bandantoc.gov.vn"  # role pho-truong-ban: ke-hoach review's escalation
PDF = "application/pdf"
MARCH = datetime(2027, 3, 10, 2, 0, tzinfo=UTC)  # 09:00 in Hà Nội


def pdf_of(pages: int) -> bytes:
    """A PDF of exactly `pages` pages (46 lines fill one)."""
    data = make_pdf("\n".join(f"Dòng {i} của kế hoạch" for i in range(46 * pages - 20)))
    assert len(PdfReader(io.BytesIO(data)).pages) == pages
    return data


def docx_of(saved_pages: int) -> bytes:
    """A DOCX whose properties (docProps/app.xml) say Word laid it out on `saved_pages`."""
    original = zipfile.ZipFile(io.BytesIO(make_docx_python_docx(["Dự thảo kế hoạch"])))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for item in original.infolist():
            data = original.read(item)
            if item.filename == "docProps/app.xml":
                data = re.sub(rb"<Pages>\d+</Pages>", b"<Pages>%d</Pages>" % saved_pages, data)
            z.writestr(item, data)
    return out.getvalue()


async def staff(stack: Stack) -> None:
    await office(stack)  # AUTHOR, HEAD (truong-phong), SIGNER (truong-ban)
    await stack.add_user(CLERK, "Vũ Thị Thư", ["van-thu"])
    await stack.add_user(LEADER, "Lê Văn Hải", ["lanh-dao"])


async def in_review(stack: Stack, msg: EmailMessage) -> EmailMessage:
    """Mail a draft in; the review task mail HEAD gets for it."""
    before = len([m for m in stack.relay.to(HEAD) if "/t/" in m.get_content()])
    await stack.send(msg)
    return (await task_mails(stack, HEAD, before + 1))[-1]


async def issue(stack: Stack, subject: str, filename: str, data: bytes) -> str:
    """A PDF plan mailed in, approved by HEAD then SIGNER: issued. Its tracking code."""
    before = len([m for m in stack.relay.to(SIGNER) if "/t/" in m.get_content()])
    review = await in_review(stack, mails.draft(subject, filename, data, PDF))
    assert (await submit(stack, links_of(review)["approve"], "approve"))[0] == 200
    signoff = (await task_mails(stack, SIGNER, before + 1))[-1]
    assert (await submit(stack, links_of(signoff)["approve"], "approve"))[0] == 200
    await stack.settled()
    found = re.search(r"DF-\d{4}-\d{6}", str(signoff["Subject"]))
    assert found
    return found.group(0)


async def test_clerk_prints_and_exports_the_register_book_and_a_leader_sees_the_paper_saved(
    clocked: ClockedStack,
    browser: Browser,  # noqa: F811
) -> None:
    clocked.clock.current = MARCH
    await staff(clocked)
    first = await issue(clocked, "[KH] Kế hoạch tổ chức Đại hội", "Kế hoạch.pdf", pdf_of(3))
    clocked.clock.advance(31 * DAY)  # April
    second = await issue(clocked, "[KH] Kế hoạch kiểm tra", "Kiểm tra.pdf", pdf_of(1))
    await in_review(
        clocked,
        mails.draft("[KH] Kế hoạch tập huấn", "Tập huấn.docx", docx_of(5), mails.DOCX),
    )
    await clocked.settled()
    # By hand, from SPEC's formula (sheets = ⌈pages ÷ 2⌉ per copy):
    # March, first: version 3 pages × (HEAD, SIGNER + author) = 9 pages, 2 × 3 = 6 sheets;
    #   issued 3 pages × (author, vanthu@ + file copy) = 9 pages, 6 sheets.
    # April, second: version 1 × 3 = 3 pages, 3 sheets; issued 1 × 3 = 3 pages, 3 sheets;
    #   the DOCX in review (5 pages saved in it): 5 × (HEAD + author) = 10 pages, 3 × 2 = 6.
    march = {"pages": 18, "sheets": 12}
    april = {"pages": 16, "sheets": 12}

    async with browser_as(browser, clocked, CLERK, viewport=DESK) as context:
        page = await context.new_page()
        await page.goto(f"{clocked.base}/registers")
        async with page.expect_navigation():
            await page.get_by_role("link", name="Sổ KH").click()
        assert page.url.endswith("/registers/KH?year=2027")
        numbers = await page.locator("table.book tbody tr td:first-child").all_inner_texts()
        assert numbers == ["01/KH-BDT", "02/KH-BDT"], "the book lists the numbers in order"
        headers = await page.locator("table.book thead th").all_inner_texts()
        assert headers[0] == "Số, ký hiệu văn bản" and headers[-1] == "Ghi chú"
        assert "SỔ ĐĂNG KÝ VĂN BẢN ĐI" in await page.locator(".book-cover").inner_text()
        async with page.expect_download() as download_info:
            await page.get_by_role("link", name="Tải CSV (Excel)").click()
        download = await download_info.value
        raw = (await download.path()).read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf"), "a BOM, so that Excel reads the Vietnamese"
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[0][:3] == [
        "Số, ký hiệu văn bản",
        "Ngày tháng văn bản",
        "Tên loại và trích yếu nội dung",
    ]
    assert [r[0] for r in rows[1:]] == ["01/KH-BDT", "02/KH-BDT"]
    assert [r[-1] for r in rows[1:]] == [first, second]
    assert rows[1][1] == "10/03/2027" and rows[2][1] == "10/04/2027"
    assert rows[1][3] == "Trần Đức Minh", "the signer"
    assert AUTHOR in rows[1][4] and DISTRIBUTION in rows[1][4], "the recipients"
    assert rows[1][6] == "3", "copies: two recipients and the file copy"

    status, body = await clocked.api("/api/v1/reports/paper?year=2027")
    assert status == 200, body
    assert (body["total"]["pages"], body["total"]["sheets"]) == (34, 24)
    assert {k: body["months"][2][k] for k in march} == march
    assert {k: body["months"][3][k] for k in april} == april
    assert body["total"]["versions"] == 3 and body["total"]["issued"] == 2
    assert body["counted"] == {"rendition": 0, "pdf": 4, "docx": 1, "odt": 0, "none": 0}

    async with browser_as(browser, clocked, LEADER, locale="vi-VN") as context:
        page = await context.new_page()
        await page.goto(f"{clocked.base}/reports/paper?year=2027")
        assert await page.locator("#total-sheets").inner_text() == "24"
        assert await page.locator("#total-pages").inner_text() == "34"
        assert "+ 1 bản lưu" in await page.locator(".formula").inner_text()
        chart = page.locator("svg.chart")
        assert await chart.locator("rect.bar").count() == 2, "one bar per month with data"
        assert "Tháng 3: 12 tờ giấy" in await chart.inner_html()
        assert await chart.get_attribute("role") == "img"
        scroll = await page.evaluate("document.documentElement.scrollWidth")
        assert scroll <= 390, f"horizontal scroll on a phone: {scroll}px"


async def test_timeliness_counts_decisions_before_and_after_due_and_what_waits_past_due(
    clocked: ClockedStack,
) -> None:
    clocked.clock.current = datetime(2027, 5, 5, 2, 0, tzinfo=UTC)
    await staff(clocked)
    await clocked.add_user(DEPUTY, "Phạm Văn Khoa", ["pho-truong-ban"])
    review = await in_review(clocked, mails.draft("[KH] Kế hoạch năm", "KH.pdf", pdf_of(1), PDF))
    clocked.clock.advance(timedelta(hours=1))  # review: due in 2 days, decided in 1 hour
    assert (await submit(clocked, links_of(review)["approve"], "approve"))[0] == 200
    signoff = (await task_mails(clocked, SIGNER))[-1]
    clocked.clock.advance(2 * DAY)  # sign-off: due in 1 day, decided after 2
    assert (await submit(clocked, links_of(signoff)["approve"], "approve"))[0] == 200
    await in_review(clocked, mails.draft("[KH] Kế hoạch quý", "Q.pdf", pdf_of(1), PDF))
    clocked.clock.advance(3 * DAY)  # nobody reviews the second: overdue, escalated
    assert (await clocked.sweep())[1] == 1

    status, body = await clocked.api("/api/v1/reports/timeliness?year=2027")
    assert status == 200, body
    by_stage = {i["stage"]: i for i in body["items"]}
    assert by_stage["review"] | {"month": 5} == {
        "month": 5,
        "workflow": "ke-hoach",
        "stage": "review",
        "decided": 1,
        "with_due": 1,
        "on_time": 1,
        "on_time_share": 1.0,
        "median_hours": 1.0,
        "p90_hours": 1.0,
        "escalations": 1,
    }
    signed = by_stage["signoff"]
    assert (signed["decided"], signed["on_time"], signed["on_time_share"]) == (1, 0, 0.0)
    assert signed["median_hours"] == 48.0 and signed["escalations"] == 0
    total = body["total"]
    assert (total["decided"], total["on_time_share"], total["median_hours"]) == (2, 0.5, 24.5)
    assert total["p90_hours"] == 48.0 and total["escalations"] == 1
    assert body["open_past_due"]["documents"] == 1
    [waiting] = body["open_past_due"]["items"]
    assert (waiting["workflow"], waiting["stage"], waiting["documents"]) == (
        "ke-hoach",
        "review",
        1,
    )

    async with http_as(clocked, LEADER) as http:
        async with http.get(f"{clocked.base}/reports/timeliness?year=2027") as r:
            assert r.status == 200
            page = await r.text()
        assert "50,0 %" in page and "Phòng chuyên môn xem xét" in page
        async with http.get(f"{clocked.base}/reports/timeliness.csv?year=2027") as r:
            rows = list(csv.reader(io.StringIO((await r.read()).decode("utf-8-sig"))))
    assert rows[-1][2:] == ["Cả năm", "", "2", "1", "0.5", "24.5", "48.0", "1"]


async def test_registers_are_for_clerks_and_reports_for_leaders(stack: Stack) -> None:
    await staff(stack)
    forbidden = {
        AUTHOR: ["/registers", "/registers/KH", "/registers/KH.csv", "/reports/paper"],
        CLERK: ["/reports/paper", "/reports/paper.csv", "/reports/timeliness"],
        LEADER: ["/registers", "/registers/KH.csv"],
    }
    for email, paths in forbidden.items():
        async with http_as(stack, email) as http:
            for path in paths:
                async with http.get(f"{stack.base}{path}", allow_redirects=False) as r:
                    assert r.status == 403, (email, path, r.status)
    async with http_as(stack, CLERK) as http:
        async with http.get(f"{stack.base}/registers/MAT") as r:
            assert r.status == 404, "a confidential register is for admins only"
        async with http.get(f"{stack.base}/registers/KH") as r:
            assert r.status == 200
    async with stack.http.get(f"{stack.base}/registers", allow_redirects=False) as r:  # type: ignore[union-attr]
        assert r.status == 303 and "/login" in r.headers["Location"]

    accounts = stack.services.accounts
    leader_token = await accounts.add_token("rep", LEADER)
    author_token = await accounts.add_token("doc", AUTHOR)
    for path in ("/api/v1/reports/paper", "/api/v1/reports/timeliness"):
        assert (await stack.api(path, leader_token))[0] == 200
        assert (await stack.api(path, author_token))[0] == 403
    status, body = await stack.api("/api/v1/reports/paper?year=twenty")
    assert status == 400 and "year" in body["error"]["message"]
