"""A draft typed in the mail body (`intake.body_as_draft`): a short letter written straight
in the mail becomes a document whose main file is that body as a PDF.

Mail goes in through docflow's real SMTP port; the PDF is read back with Poppler's
`pdftotext`, as a reviewer's viewer would show it.
"""

from __future__ import annotations

import subprocess
import unicodedata
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from docflow.intake.quarantine import list_entries
from tests import mails
from tests.conftest import Relay, Stack, make_settings

AUTHOR = mails.AUTHOR
LETTER = """Kính gửi: Lãnh đạo Ban Dân tộc

Phòng Hành chính – Tổng hợp kính mời Lãnh đạo Ban dự cuộc họp giao ban
tuần 3 năm 2027, vào lúc 08 giờ 00 ngày 18 tháng 01 năm 2027.

Nội dung: tổng kết công tác hỗ trợ đồng bào dân tộc thiểu số; kế hoạch quý I.

Trân trọng./.
Lê Thị Thu"""
SUBJECT = "Giấy mời họp: giao ban tuần 3/2027"


async def started(database_url: str, relay: Relay, tmp_path: Path, **env: str) -> Stack:
    s = Stack(make_settings(tmp_path / "data", database_url, relay.port, **env), relay)
    await s.start()
    await s.add_user(AUTHOR, mails.AUTHOR_NAME)
    await s.add_user("cvp@bandantoc.gov.vn", "Chánh Văn phòng", ["chanh-van-phong"])
    return s


@pytest.fixture
async def typed(database_url: str, relay: Relay, tmp_path: Path) -> AsyncIterator[Stack]:
    s = await started(database_url, relay, tmp_path, DOCFLOW_BODY_AS_DRAFT="true")
    yield s
    await s.stop()


@pytest.fixture
async def attached_only(database_url: str, relay: Relay, tmp_path: Path) -> AsyncIterator[Stack]:
    s = await started(database_url, relay, tmp_path)  # the default: off
    yield s
    await s.stop()


def pdf_text(data: bytes, tmp_path: Path) -> str:
    path = tmp_path / "body.pdf"
    path.write_bytes(data)
    out = subprocess.run(
        ["pdftotext", "-enc", "UTF-8", str(path), "-"], capture_output=True, check=True
    )
    return unicodedata.normalize("NFC", out.stdout.decode())


async def test_a_letter_typed_in_the_mail_becomes_a_document_with_its_body_as_the_pdf(
    typed: Stack, relay: Relay, tmp_path: Path
) -> None:
    await typed.send(mails.draft(SUBJECT, body=LETTER))
    await typed.settled()

    (listed,) = await typed.documents()
    doc = await typed.document(listed["code"])
    assert (doc["title"], doc["author"], doc["status"]) == (SUBJECT, AUTHOR, "in_review")
    (version,) = doc["versions"]
    (file,) = version["files"]
    # named after the subject, made safe as a file name (no ":" or "/")
    assert (file["name"], file["role"], file["mime"]) == (
        "Giấy mời họp giao ban tuần 3 2027.pdf",
        "main",
        "application/pdf",
    )
    status, shown = await typed.api(f"/api/v1/documents/{doc['code']}/versions/1")
    assert status == 200 and shown["files"][0]["text"] == LETTER  # the body, as typed

    status, pdf = await typed.api(f"/api/v1/documents/{doc['code']}/versions/1/files/0")
    assert status == 200 and pdf.startswith(b"%PDF-")
    text = pdf_text(pdf, tmp_path)
    for line in ("Kính gửi: Lãnh đạo Ban Dân tộc", "đồng bào dân tộc thiểu số", "Trân trọng./."):
        assert line in text, text
    assert "tuần 3 năm 2027, vào lúc 08 giờ 00 ngày 18 tháng 01 năm 2027." in text

    (receipt,) = relay.texts_to(AUTHOR)  # answered as any draft is, naming the file
    assert doc["code"] in receipt and "Giấy mời họp giao ban tuần 3 2027.pdf" in receipt
    assert await list_entries() == []


async def test_without_a_body_or_in_a_documents_thread_a_mail_without_a_file_is_refused(
    typed: Stack, relay: Relay
) -> None:
    """An empty body is no letter; a reply to a document without a file is no new version."""
    await typed.send(mails.draft("Trống", body="\n \n"))
    await typed.send(mails.draft(SUBJECT, body=LETTER))
    await typed.settled()
    (listed,) = await typed.documents()
    receipt = next(m for m in relay.to(AUTHOR) if listed["code"] in str(m["Subject"]))
    reply = mails.draft(
        f"Re: {receipt['Subject']}",
        body="Cảm ơn, đã nhận.",
        headers={"In-Reply-To": receipt["Message-ID"]},
    )
    await typed.send(reply)

    await typed.settled()
    assert len(await typed.documents()) == 1
    assert len((await typed.document(listed["code"]))["versions"]) == 1
    assert sorted(e["reason"] for e in await list_entries()) == ["no_attachment"] * 2


async def test_with_the_setting_off_a_body_only_mail_is_refused_as_before(
    attached_only: Stack, relay: Relay
) -> None:
    await attached_only.send(mails.draft(SUBJECT, body=LETTER))
    await attached_only.settled()
    assert await attached_only.documents() == []
    (entry,) = await list_entries()
    assert entry["reason"] == "no_attachment"
    (refusal,) = relay.texts_to(AUTHOR)
    assert "không có tệp đính kèm" in refusal
