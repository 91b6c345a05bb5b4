"""A draft mailed in becomes a document; replies and tagged subjects become versions."""

from __future__ import annotations

from email.message import EmailMessage

from tests import mails
from tests.conftest import Stack, wait_for
from tests.filebuilders import make_docx_python_docx
from tests.mails import AUTHOR, DOCX

TITLE = "Kế hoạch cải cách hành chính năm 2027"


def draft(
    subject: str,
    sender: str = AUTHOR,
    text: str = "Đổi mới phương thức làm việc.",
    name: str = "Kế hoạch.docx",
) -> EmailMessage:
    """The draft of these tests: a DOCX holding `text`."""
    return mails.draft(subject, name, make_docx_python_docx([text]), DOCX, sender=sender)


def reply_to(receipt: EmailMessage, text: str, sender: str = AUTHOR) -> EmailMessage:
    m = draft(f"Re: {receipt['Subject']}", sender=sender, text=text, name="Kế hoạch (sửa).docx")
    m["In-Reply-To"] = receipt["Message-ID"]
    m["References"] = receipt["Message-ID"]
    return m


async def test_draft_becomes_document_with_receipt_and_reply_becomes_version_2(
    stack: Stack,
) -> None:
    await stack.add_user(AUTHOR, "Lê Thị Thu")
    first = draft(TITLE)
    await stack.send(first)
    receipt = (await wait_for(lambda: _receipts(stack), what="receipt"))[0]
    docs = await stack.documents()
    assert [d["title"] for d in docs] == [TITLE]
    code = docs[0]["code"]
    assert code in str(receipt["Subject"])
    assert receipt["In-Reply-To"] == first["Message-ID"]
    assert receipt["Auto-Submitted"] == "auto-replied"
    assert "Mã theo dõi" in receipt.get_content()  # Vietnamese by default

    await stack.send(reply_to(receipt, "Bổ sung lộ trình số hoá."))
    await wait_for(lambda: _has_versions(stack, code, 2), what="version 2")
    doc = await stack.document(code)
    assert [v["number"] for v in doc["versions"]] == [1, 2]
    assert doc["versions"][1]["files"][0]["name"] == "Kế hoạch (sửa).docx"
    status, v2 = await stack.api(f"/api/v1/documents/{code}/versions/2")
    assert status == 200 and "lộ trình số hoá" in v2["files"][0]["text"]


async def test_code_in_subject_adds_a_version(stack: Stack) -> None:
    await stack.add_user(AUTHOR, "Lê Thị Thu")
    await stack.send(draft(TITLE))
    code = (await wait_for(stack.documents, what="document"))[0]["code"]
    await stack.send(draft(f"[{code}] {TITLE} bản sửa"))
    await wait_for(lambda: _has_versions(stack, code, 2), what="version 2")
    assert len(await stack.documents()) == 1


async def test_reply_from_someone_else_is_quarantined(stack: Stack) -> None:
    await stack.add_user(AUTHOR, "Lê Thị Thu")
    await stack.add_user("hung.nv@bandantoc.gov.vn", "Nguyễn Văn Hùng")
    await stack.send(draft(TITLE))
    receipt = (await wait_for(lambda: _receipts(stack), what="receipt"))[0]
    code = (await stack.documents())[0]["code"]
    await stack.send(reply_to(receipt, "sửa", sender="hung.nv@bandantoc.gov.vn"))
    refusal = (await wait_for(lambda: _to(stack, "hung.nv@bandantoc.gov.vn"), what="refusal"))[0]
    assert "người khác soạn" in refusal.get_content()
    doc = await stack.document(code)
    assert len(doc["versions"]) == 1
    from docflow.intake.quarantine import list_entries

    entries = await list_entries()
    assert [e["reason"] for e in entries] == ["not_author"]


async def _receipts(stack: Stack) -> list[EmailMessage]:
    return stack.relay.to(AUTHOR)


async def _to(stack: Stack, addr: str) -> list[EmailMessage]:
    return stack.relay.to(addr)


async def _has_versions(stack: Stack, code: str, n: int) -> bool:
    return len((await stack.document(code))["versions"]) >= n
