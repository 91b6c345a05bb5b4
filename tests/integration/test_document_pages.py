"""Authors' pages: my documents, one document, a new version by upload, version diffs, and
the decision link's page showing what changed since the approver's last decision."""

from __future__ import annotations

import re
from pathlib import Path

import aiohttp
from playwright.async_api import Browser, expect

from docflow.documents.diffs import version_diff
from tests.conftest import Stack, wait_for
from tests.filebuilders import make_docx_python_docx
from tests.integration.test_decision_browser import browser  # noqa: F401 (fixture)
from tests.integration.test_spine_mail import AUTHOR, TITLE, draft
from tests.integration.test_workflow_links import REVIEWER, click, links_of, people, submit
from tests.integration.test_workflow_links import task_mails as mails_with_links
from tests.webapp import browser_as, csrf_of, http_as

V1 = "Đổi mới phương thức làm việc đã được thống nhất."
V2 = "Đổi mới phương thức làm việc da được thống nhất.\nBổ sung lộ trình số hoá."
OTHER = "binh.tv@bandantoc.gov.vn"


async def first_document(stack: Stack) -> str:
    """The office, and the author's draft (V1) under review: its code."""
    await people(stack)
    await stack.add_user(OTHER, "Trần Văn Bình")
    await stack.send(draft(TITLE, text=V1))
    await mails_with_links(stack, REVIEWER)
    return str((await stack.documents())[0]["code"])


async def versions(stack: Stack, code: str, n: int) -> None:
    async def arrived() -> bool:
        return len((await stack.document(code))["versions"]) >= n

    await wait_for(arrived, what=f"version {n}")


async def upload(
    http: aiohttp.ClientSession, base: str, code: str, name: str, data: bytes
) -> aiohttp.ClientResponse:
    form = aiohttp.FormData()
    form.add_field("csrf", await csrf_of(http, f"{base}/documents/{code}"))
    form.add_field("key", "k1")
    form.add_field("file", data, filename=name, content_type="application/octet-stream")
    return await http.post(f"{base}/documents/{code}/versions", data=form, allow_redirects=False)


async def test_author_uploads_version_2_and_reads_the_diff_in_a_browser(
    stack: Stack,
    browser: Browser,  # noqa: F811
    tmp_path: Path,
) -> None:
    code = await first_document(stack)
    v2 = tmp_path / "Kế hoạch (sửa).docx"
    v2.write_bytes(make_docx_python_docx(V2.split("\n")))
    async with browser_as(browser, stack, AUTHOR) as context:
        page = await context.new_page()
        await page.goto(f"{stack.base}/documents")
        await page.get_by_role("link", name=TITLE).click()
        await expect(page.get_by_role("heading", name=TITLE)).to_be_visible()
        await expect(page.get_by_text("Người xem xét 1").first).to_be_visible()  # holds it
        await page.get_by_label("Dự thảo chính").set_input_files(v2)
        await page.get_by_role("button", name="Gửi phiên bản mới").click()
        await expect(page.get_by_role("status")).to_contain_text("Đã nhận phiên bản 2")
        await expect(page.get_by_text("Kế hoạch (sửa).docx").first).to_be_visible()

        async def receipt() -> bool:
            return any("(v2)" in str(m["Subject"]) for m in stack.relay.to(AUTHOR))

        await wait_for(receipt, what="the receipt of version 2")
        await page.get_by_role("link", name="So sánh phiên bản 1 với 2").click()
        await expect(page.locator("del").filter(has_text="đã")).to_have_count(1)
        await expect(page.locator("ins").filter(has_text="da")).to_have_count(1)
        await expect(page.locator("ins").filter(has_text="lộ trình số hoá")).to_have_count(1)
        await expect(page.locator(".diff-counts")).to_contain_text("Từ được thêm: +7")
        assert await page.evaluate("document.documentElement.scrollWidth") <= 390
        await page.screenshot(path=tmp_path / "diff.png", full_page=True)
    doc = await stack.document(code)
    assert [v["number"] for v in doc["versions"]] == [1, 2]
    assert [t["state"] for t in doc["tasks"]] == ["superseded", "open"]  # the stage restarted
    _, audit = await stack.api(f"/api/v1/documents/{code}/audit")
    assert ("version_added", "web", 2) in [
        (e["action"], e["source"], e["version"]) for e in audit["items"]
    ]


async def test_someone_else_gets_403_on_a_document_and_its_diff(stack: Stack) -> None:
    code = await first_document(stack)
    async with http_as(stack, OTHER) as http:
        for path in ("", "/diff", "/versions/1/files/0"):
            async with http.get(f"{stack.base}/documents/{code}{path}") as r:
                assert r.status == 403, path
        async with http.get(f"{stack.base}/documents") as r:
            assert r.status == 200 and code not in await r.text()
    async with http_as(stack, REVIEWER) as http:  # an approver with a task reads it
        async with http.get(f"{stack.base}/documents/{code}") as r:
            assert r.status == 200 and TITLE in await r.text()


async def test_only_the_author_may_upload_a_version(stack: Stack) -> None:
    code = await first_document(stack)
    docx = make_docx_python_docx(["Bản của người khác."])
    async with http_as(stack, REVIEWER) as http:
        async with await upload(http, stack.base, code, "khac.docx", docx) as r:
            assert r.status == 403
    assert len((await stack.document(code))["versions"]) == 1


async def test_a_file_of_a_refused_type_is_refused_with_a_clear_message(stack: Stack) -> None:
    code = await first_document(stack)
    async with http_as(stack, AUTHOR) as http:
        data = b"MZ\x90\x00" + bytes(200)  # a Windows program, whatever its name says
        async with await upload(http, stack.base, code, "du-thao.docx", data) as r:
            page = await r.text()
    assert r.status == 422
    assert "Chưa nhận phiên bản mới" in page and "không được chấp nhận: du-thao.docx" in page
    assert len((await stack.document(code))["versions"]) == 1


async def test_the_api_gives_the_diff_as_json(stack: Stack) -> None:
    code = await first_document(stack)
    await stack.send(draft(f"[{code}] {TITLE}", text=V2))
    await versions(stack, code, 2)
    status, body = await stack.api(f"/api/v1/documents/{code}/diff")
    assert status == 200
    assert body == await version_diff(code, 1, 2)
    assert (body["from"], body["to"], body["words_added"], body["words_removed"]) == (1, 2, 7, 1)
    assert body["paragraphs"][0]["pieces"][1] == {"op": "removed", "text": " đã"}
    status, body = await stack.api(f"/api/v1/documents/{code}/diff?from=1&to=9")
    assert status == 404 and "error" in body
    status, _ = await stack.api(f"/api/v1/documents/{code}/diff?from=x")
    assert status == 400
    status, spec = await stack.api("/api/v1/openapi.json", None)
    assert status == 200 and "/api/v1/documents/{code}/diff" in spec["paths"]
    mine = await stack.services.accounts.add_token("tích hợp", AUTHOR)
    theirs = await stack.services.accounts.add_token("khác", OTHER)
    assert (await stack.api(f"/api/v1/documents/{code}/diff", mine))[0] == 200
    assert (await stack.api(f"/api/v1/documents/{code}/diff", theirs))[0] == 403
    assert (await stack.api(f"/api/v1/documents/{code}", mine))[0] == 403, "diffs only"


async def test_the_decision_link_shows_what_changed_since_the_approvers_decision(
    stack: Stack,
) -> None:
    code = await first_document(stack)
    first = links_of((await mails_with_links(stack, REVIEWER))[0])
    status, page = await click(stack, first["open"])
    assert status == 200 and "Thay đổi giữa các phiên bản" not in page  # version 1: nothing
    assert (await submit(stack, first["changes"], "changes", "Sửa câu đầu."))[0] == 200
    await stack.send(draft(f"[{code}] {TITLE}", text=V2))
    second = links_of((await mails_with_links(stack, REVIEWER, 2))[-1])
    status, page = await click(stack, second["open"])
    assert status == 200
    assert "Từ phiên bản 1 đến phiên bản 2" in page
    assert re.search(r"<del><span class=\"diff-m\">\[−</span>đã<span", page)
    assert "Từ được thêm: <strong>+7</strong>" in page


async def test_the_documents_list_filters_by_title_words_status_and_pages(stack: Stack) -> None:
    code = await first_document(stack)
    async with http_as(stack, AUTHOR) as http:
        for query, found in (
            ("?q=C%E1%BA%A2I+c%C3%A1ch", True),  # "CẢI cách": case folded after NFC
            ("?q=cai+cach", False),  # diacritics matter
            ("?status=in_review", True),
            ("?status=withdrawn", False),
        ):
            async with http.get(f"{stack.base}/documents{query}") as r:
                assert r.status == 200
                assert (code in await r.text()) is found, query
        form = {"csrf": await csrf_of(http, f"{stack.base}/documents/{code}"), "confirm": "yes"}
        async with http.post(
            f"{stack.base}/documents/{code}/withdraw", data=form, allow_redirects=False
        ) as r:
            assert r.status == 303
    assert (await stack.document(code))["status"] == "withdrawn"
    _, audit = await stack.api(f"/api/v1/documents/{code}/audit")
    assert ("withdrawn", "web") == (audit["items"][-1]["action"], audit["items"][-1]["source"])


async def test_the_decision_link_compares_with_the_version_opened_signed_in(
    stack: Stack,
) -> None:
    code = await first_document(stack)
    first = links_of((await mails_with_links(stack, REVIEWER))[0])
    assert (await click(stack, first["open"]))[0] == 200  # a link GET remembers nothing
    await stack.send(draft(f"[{code}] {TITLE}", text=V2))
    second = links_of((await mails_with_links(stack, REVIEWER, 2))[-1])
    _, page = await click(stack, second["open"])
    assert "Thay đổi giữa các phiên bản" not in page  # neither decided nor opened signed in

    async with http_as(stack, REVIEWER) as http:
        async with http.get(f"{stack.base}/documents/{code}/diff?from=2&to=2") as r:
            assert r.status == 200  # the diff page remembers nothing either
        await stack.send(draft(f"[{code}] {TITLE} (3)", text=V2 + "\nThêm một đoạn."))
        await versions(stack, code, 3)
        async with http.get(f"{stack.base}/documents/{code}") as r:
            assert r.status == 200  # the reviewer opens version 3 signed in
    await stack.send(draft(f"[{code}] {TITLE} (4)", text=V2 + "\nThêm hai đoạn."))
    fourth = links_of((await mails_with_links(stack, REVIEWER, 4))[-1])
    _, page = await click(stack, fourth["open"])
    assert "Từ phiên bản 3 đến phiên bản 4" in page
