"""Issuing: sign-off completes → official number, stamped copy, archive record, distribution.

ke-hoach: review by every `truong-phong` (here one), sign-off by `truong-ban`;
register KH, `{seq:02d}/KH-{org}` → 01/KH-BDT; distributed to vanthu@bandantoc.gov.vn.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from pypdf import PdfReader
from tortoise.transactions import in_transaction

from docflow.archive.records import ArchiveRecord, ImmutableRecordError, IssuedFile
from docflow.archive.search import SearchQuery
from docflow.clock import FrozenClock
from docflow.documents.models import AuditEvent
from tests import mails
from tests.conftest import Relay, Stack, make_settings
from tests.filebuilders import make_pdf
from tests.integration.conftest import ClockedStack
from tests.integration.test_accounts import ARCHIVIST
from tests.integration.test_spine_mail import AUTHOR
from tests.integration.test_workflow_links import SIGNER, links_of, submit, task_mails

HEAD = "an.nt@bandantoc.gov.vn"
CLERK = "vanthu@bandantoc.gov.vn"  # ke-hoach's distribute_to, not a user
PLAN_TEXT = "Kế hoạch tổ chức Đại hội đại biểu các dân tộc thiểu số tỉnh lần thứ IV."


def pdf_draft(subject: str, body: str = "Kính gửi Lãnh đạo Ban.") -> EmailMessage:
    """A plan as a PDF, with a list of delegates as an annex."""
    return mails.draft(
        subject,
        "Kế hoạch Đại hội.pdf",
        make_pdf(PLAN_TEXT),
        "application/pdf",
        annexes=[("Phụ lục danh sách.txt", b"Danh sach dai bieu\n", "text/plain")],
        body=body,
    )


async def office(stack: Stack) -> None:
    await stack.add_user(AUTHOR, "Lê Thị Thu")
    await stack.add_user(HEAD, "Nguyễn Thị An", ["truong-phong"])
    await stack.add_user(SIGNER, "Trần Đức Minh", ["truong-ban"], language="en")


async def sign_off(stack: Stack, subject: str, body: str = "Kính gửi Lãnh đạo Ban.") -> str:
    """Mail a PDF plan in and approve it through the mailed links: its tracking code."""
    before = len(await task_mails_or_none(stack, SIGNER))
    await stack.send(pdf_draft(subject, body))
    review = (await task_mails(stack, HEAD, before + 1))[-1]
    assert (await submit(stack, links_of(review)["approve"], "approve"))[0] == 200
    signoff = (await task_mails(stack, SIGNER, before + 1))[-1]
    assert (await submit(stack, links_of(signoff)["approve"], "approve"))[0] == 200
    code = re.search(r"DF-\d{4}-\d{6}", str(signoff["Subject"]))
    assert code
    await stack.settled()
    return code.group(0)


async def task_mails_or_none(stack: Stack, to: str) -> list[EmailMessage]:
    return [m for m in stack.relay.to(to) if "/t/" in (m.get_body(("plain",)) or m).get_content()]


def issued_mails(stack: Stack, to: str) -> list[EmailMessage]:
    return [m for m in stack.relay.to(to) if "Ban hành" in str(m["Subject"])]


def pdf_text(data: bytes) -> str:
    return "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(data)).pages)


async def test_signed_off_pdf_is_issued_numbered_stamped_and_distributed(stack: Stack) -> None:
    await office(stack)
    code = await sign_off(
        stack,
        "[KH] Kế hoạch tổ chức Đại hội",
        "Kính gửi Lãnh đạo Ban.\nTrích yếu: Về việc tổ "
        "chức Đại hội đại biểu các dân tộc thiểu số tỉnh lần thứ IV\n",
    )
    doc = await stack.document(code)
    assert doc["status"] == "issued"

    status, record = await stack.api(f"/api/v1/archive/{code}")
    assert status == 200, record
    assert (doc["number"], doc["record"], doc["issued_at"]) == (
        "01/KH-BDT",
        record["id"],
        record["issued_at"],
    ), "the document's JSON names its number and record once issued"
    assert (record["number"], record["register"], record["seq"]) == ("01/KH-BDT", "KH", 1)
    assert record["summary"].startswith("Về việc tổ chức Đại hội")
    assert record["signer"]["email"] == SIGNER and record["retention"] == "20y"
    local_today = datetime.now(UTC).astimezone(stack.settings.org.timezone).date()
    assert record["issue_date"] == local_today.isoformat()
    roles = [(f["role"], f["name"]) for f in record["files"]]
    assert roles == [
        ("main", "Kế hoạch Đại hội.pdf"),
        ("annex", "Phụ lục danh sách.txt"),
        ("issued", "Kế hoạch Đại hội (01-KH-BDT).pdf"),
    ]
    for f in record["files"]:  # every recorded hash is the hash of what is served
        status, data = await stack.api(f"/api/v1/archive/{code}/files/{f['position']}")
        assert status == 200 and hashlib.sha256(data).hexdigest() == f["sha256"]
    version_main = doc["versions"][0]["files"][0]
    assert record["files"][0]["sha256"] == version_main["sha256"], "the original is unchanged"

    stamped_text = pdf_text(data)
    assert "Số: 01/KH-BDT" in stamped_text
    assert f"Ngày ban hành: {local_today:%d/%m/%Y}" in stamped_text
    assert PLAN_TEXT[:30] in stamped_text

    for to in (CLERK, AUTHOR):
        [mail] = issued_mails(stack, to)
        assert "01/KH-BDT" in str(mail["Subject"]) and code in str(mail["Subject"])
        attached = {a.get_filename(): a.get_content() for a in mail.iter_attachments()}
        assert sorted(attached) == ["Kế hoạch Đại hội (01-KH-BDT).pdf", "Phụ lục danh sách.txt"]
        assert "Số: 01/KH-BDT" in pdf_text(attached["Kế hoạch Đại hội (01-KH-BDT).pdf"])
    [receipt] = [m for m in stack.relay.to(AUTHOR) if "Đã tiếp nhận" in str(m["Subject"])]
    [issued] = issued_mails(stack, AUTHOR)
    assert receipt["Message-ID"] in str(issued["References"]), "threaded with the document"

    second = await sign_off(stack, "[KH] Kế hoạch kiểm tra chính sách")
    status, record2 = await stack.api(f"/api/v1/archive/{second}")
    assert record2["number"] == "02/KH-BDT" and record2["summary"] == (
        "Kế hoạch kiểm tra chính sách"
    ), "the title serves when no summary is given"
    status, book = await stack.api("/api/v1/registers/KH")
    assert [(b["number"], b["code"]) for b in book["items"]] == [
        ("01/KH-BDT", code),
        ("02/KH-BDT", second),
    ]
    issued_event = await AuditEvent.get(action="issued", document__code=code)
    assert issued_event.actor == SIGNER and issued_event.detail["number"] == "01/KH-BDT"

    # a rebuild read from the archive a record at a time finds the same, the second plan
    # by the text of its PDF alone
    search, archive = stack.services.search, stack.services.archive
    found = [h.number for h in (await search.search(SearchQuery("thieu so"))).items]
    assert sorted(found) == ["01/KH-BDT", "02/KH-BDT"]
    assert await search.reindex(lambda conn: archive.index_entries(conn, batch=1)) == 2
    assert [h.number for h in (await search.search(SearchQuery("thieu so"))).items] == found


async def test_archive_records_refuse_change_in_code_and_in_sql(stack: Stack) -> None:
    await office(stack)
    code = await sign_off(stack, "[KH] Kế hoạch không được sửa sau ban hành")
    record = await ArchiveRecord.get(document__code=code)
    record.title = "Đã bị sửa"
    with pytest.raises(ImmutableRecordError):
        await record.save()
    with pytest.raises(ImmutableRecordError):
        await record.delete()
    issued = await IssuedFile.filter(record=record).first()
    assert issued is not None
    with pytest.raises(ImmutableRecordError):
        await issued.save()

    statements = [
        "UPDATE archive_records SET title = 'Đã bị sửa'",
        "UPDATE archive_records SET seq = seq + 1",
        "DELETE FROM archive_records",
        "UPDATE issued_files SET sha256 = 'x'",
        "DELETE FROM issued_files",
    ]
    for sql in statements:
        with pytest.raises(Exception, match="immutable"):
            async with in_transaction() as conn:
                await conn.execute_script(sql)
    with pytest.raises(Exception, match="immutable"):
        await ArchiveRecord.filter(id=record.id).update(title="Đã bị sửa")
    again = await ArchiveRecord.get(id=record.id)
    assert (again.title, again.seq) == ("Kế hoạch không được sửa sau ban hành", 1)
    assert await IssuedFile.filter(record=record).count() == 3


async def test_legal_hold_only_by_admin_and_audited(stack: Stack) -> None:
    await office(stack)
    code = await sign_off(stack, "[KH] Kế hoạch lưu trữ có thời hạn")
    assert stack.http is not None
    url = f"{stack.base}/api/v1/archive/{code}/legal-hold"
    body = {"held": True, "reason": "Thanh tra đang xem xét", "by": "quantri@bandantoc.gov.vn"}
    async with stack.http.put(url, json=body) as r:
        assert r.status == 401, "no token, no hold"
    headers = {"Authorization": f"Bearer {stack.settings.http.admin_token}"}
    async with stack.http.put(url, json=body, headers=headers) as r:
        assert r.status == 200
        view = await r.json()
    assert view["legal_hold"] is True
    assert [(h["held"], h["reason"]) for h in view["legal_hold_history"]] == [
        (True, "Thanh tra đang xem xét")
    ]
    async with stack.http.put(url, json={"held": False}, headers=headers) as r:
        assert (await r.json())["legal_hold"] is False
    events = await AuditEvent.filter(action__startswith="legal_hold").order_by("id")
    assert [(e.action, e.actor, e.source) for e in events] == [
        ("legal_hold_on", "quantri@bandantoc.gov.vn", "api"),
        ("legal_hold_off", "api", "api"),
    ]


@pytest.fixture
async def new_year_eve(
    database_url: str, relay: Relay, tmp_path: Path
) -> AsyncIterator[ClockedStack]:
    """docflow at 23:00 on 31 December 2026, office time (UTC+7)."""
    clock = FrozenClock(datetime(2026, 12, 31, 16, 0, tzinfo=UTC))
    s = ClockedStack(make_settings(tmp_path / "data", database_url, relay.port), relay, clock)
    await s.start()
    yield s
    await s.stop()


async def test_numbers_start_again_at_01_on_the_first_of_january(
    new_year_eve: ClockedStack,
) -> None:
    stack = new_year_eve
    await office(stack)
    numbers = []
    for i, step in enumerate((timedelta(0), timedelta(minutes=20), timedelta(minutes=20))):
        stack.clock.advance(step)  # 23:00, 23:20, then 23:40 office time
        code = await sign_off(stack, f"[KH] Kế hoạch cuối năm số {i + 1}")
        numbers.append((await stack.api(f"/api/v1/archive/{code}"))[1]["number"])
    stack.clock.advance(timedelta(minutes=30))  # 00:10 on 1 January 2027, office time
    code = await sign_off(stack, "[KH] Kế hoạch đầu năm")
    _status, first_of_2027 = await stack.api(f"/api/v1/archive/{code}")
    assert numbers == ["01/KH-BDT", "02/KH-BDT", "03/KH-BDT"]
    assert (first_of_2027["number"], first_of_2027["year"]) == ("01/KH-BDT", 2027)
    assert first_of_2027["issue_date"] == "2027-01-01"
    _, registers = await stack.api("/api/v1/registers")
    kh = next(r for r in registers["items"] if r["key"] == "KH")
    assert kh["years"] == {"2026": 3, "2027": 1}


async def test_confidential_records_do_not_exist_for_archivist_tokens(stack: Stack) -> None:
    """As on the archive pages: an archivist's token gets 404 on a confidential record, its
    files and its register book, and does not see the register listed; admins see all."""
    kh = stack.settings.registers["KH"]
    stack.settings.registers["KH"] = dataclasses.replace(kh, confidential=True)
    await office(stack)
    await stack.add_user(ARCHIVIST, "Đỗ Thị Lưu", ["archivist"])
    reader = await stack.services.accounts.add_token("tra cứu", ARCHIVIST)
    code = await sign_off(stack, "[KH] Kế hoạch bảo vệ bí mật nhà nước")
    doc = await stack.document(code)
    assert doc["number"] == "01/KH-BDT" and doc["record"] is not None

    record = doc["record"]
    for path in (
        f"/api/v1/archive/{code}",
        f"/api/v1/archive/{record}",
        f"/api/v1/archive/{record}/files/0",
        "/api/v1/registers/KH",
    ):
        status, body = await stack.api(path, token=reader)
        assert status == 404, (path, body)
        assert "01/KH-BDT" not in str(body)
        assert (await stack.api(path))[0] == 200, f"the admin token still reads {path}"
    _, registers = await stack.api("/api/v1/registers", token=reader)
    assert "KH" not in [r["key"] for r in registers["items"]]
    _, registers = await stack.api("/api/v1/registers")
    assert "KH" in [r["key"] for r in registers["items"]]
