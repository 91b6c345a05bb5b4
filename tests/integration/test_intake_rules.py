"""What the intake accepts, refuses and quarantines, and what it stores for each mail."""

from __future__ import annotations

import asyncio
import hashlib
import struct
import zlib
from collections.abc import AsyncIterator
from email import policy
from email.message import EmailMessage
from email.utils import make_msgid, parseaddr
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiosmtplib
import pytest

from docflow.intake.models import InboundMessage
from docflow.intake.quarantine import list_entries
from tests import mails
from tests.conftest import ADMIN_TOKEN, Relay, Stack, make_settings, wait_for
from tests.filebuilders import make_docx_foreign, make_docx_python_docx, make_odt, make_pdf

AUTHOR = "thu.lt@bandantoc.gov.vn"
STRANGER = "ai.do@example.org"
TITLE = "Kế hoạch cải cách hành chính năm 2027"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
ODT = "application/vnd.oasis.opendocument.text"
# CPython's folder (3.11) drops the space between an encoded word and the next one when it
# folds a subject that starts in ASCII ("[KH] Kế … chính năm" arrives as "chínhnăm"):
# a bug of the sending library, so these tests send headers unfolded.
EXECUTABLE = Path("/bin/ls").read_bytes()
UNFOLDED = policy.SMTP.clone(max_line_length=None)


def draft(
    subject: str = TITLE,
    sender: str = AUTHOR,
    files: list[tuple[str, bytes, str]] | None = None,
) -> EmailMessage:
    """A staff draft: a short body and the given (name, bytes, mime) attachments."""
    if files is None:
        files = [("Kế hoạch.docx", make_docx_python_docx(["Đổi mới phương thức làm việc."]), DOCX)]
    return mails.draft(subject, annexes=files, sender=sender)


def png_1x1() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + crc

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00"))
        + chunk(b"IEND", b"")
    )


async def send(stack: Stack, msg: EmailMessage, rcpts: list[str] | None = None) -> None:
    await aiosmtplib.send(
        msg.as_bytes(policy=UNFOLDED),
        sender=parseaddr(str(msg["From"]))[1],
        recipients=rcpts or [stack.intake],
        hostname="127.0.0.1",
        port=stack.settings.smtp.port,
        timeout=30,
    )


async def smtp_client(stack: Stack) -> aiosmtplib.SMTP:
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=stack.settings.smtp.port, timeout=30)
    await client.connect()
    return client


async def only_document(stack: Stack) -> dict[str, Any]:
    docs = await wait_for(stack.documents, what="a document")
    assert len(docs) == 1, docs
    return await stack.document(docs[0]["code"])


async def quarantined(stack: Stack) -> list[dict[str, Any]]:
    await stack.settled()
    return await list_entries()


async def download(stack: Stack, code: str, number: int, position: int) -> tuple[bytes, str]:
    assert stack.http is not None
    url = f"{stack.base}/api/v1/documents/{code}/versions/{number}/files/{position}"
    async with stack.http.get(url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as r:
        assert r.status == 200, await r.text()
        return await r.read(), r.headers["Content-Disposition"]


# --- size limit --------------------------------------------------------------------------


@pytest.fixture
async def small_stack(database_url: str, relay: Relay, tmp_path: Path) -> AsyncIterator[Stack]:
    settings = make_settings(
        tmp_path / "data", database_url, relay.port, DOCFLOW_MAX_MESSAGE_SIZE="200000"
    )
    s = Stack(settings, relay)
    await s.start()
    yield s
    await s.stop()


async def test_message_over_size_limit_gets_552_and_nothing_is_stored(small_stack: Stack) -> None:
    stack = small_stack
    await stack.add_user(AUTHOR, "Lê Thị Thu")
    big = draft(files=[("Lớn.docx", make_docx_foreign(["Phụ lục"], padding_bytes=300_000), DOCX)])
    small = draft(subject="Bản nhỏ")
    client = await smtp_client(stack)
    try:
        ehlo = await client.ehlo()
        assert "SIZE 200000" in ehlo.message
        # declared too big in MAIL FROM: refused before any data is sent
        with pytest.raises(aiosmtplib.SMTPSenderRefused) as declared:
            await client.mail(AUTHOR, options=["SIZE=400000"])
        assert declared.value.code == 552
        # not declared: the server counts the DATA and refuses at the end
        await client.mail(AUTHOR)
        await client.rcpt(stack.intake)
        with pytest.raises(aiosmtplib.SMTPDataError) as sent:
            await client.data(big.as_bytes(policy=UNFOLDED))
        assert sent.value.code == 552
        assert await InboundMessage.all().count() == 0
        spool = stack.settings.spool_dir
        assert [p for p in spool.rglob("*") if p.is_file()] == []
        # the same connection still takes a message under the limit
        _, reply = await client.sendmail(AUTHOR, [stack.intake], small.as_bytes(policy=UNFOLDED))
        assert reply.startswith("2.0.0")
    finally:
        await client.quit()
    doc = await only_document(stack)
    assert doc["title"] == "Bản nhỏ"
    await stack.settled()
    assert await InboundMessage.all().count() == 1


# --- recipients and workflows --------------------------------------------------------------


async def test_unknown_recipient_is_refused_at_rcpt_and_intake_address_accepted(
    stack: Stack,
) -> None:
    client = await smtp_client(stack)
    try:
        await client.ehlo()
        await client.mail(AUTHOR)
        for stranger in ("nobody@docflow.localhost", "vanban@example.org", "vanban"):
            with pytest.raises(aiosmtplib.SMTPRecipientRefused) as refused:
                await client.rcpt(stranger)
            assert refused.value.code == 550
        for intake in ("vanban@docflow.localhost", "VanBan+Ke-Hoach@DocFlow.localhost"):
            ok = await client.rcpt(intake)
            assert ok.code == 250
        await client.rset()
    finally:
        await client.quit()


async def test_plus_address_picks_its_workflow(stack: Stack) -> None:
    await stack.add_user(AUTHOR, "Lê Thị Thu")
    await send(stack, draft(), rcpts=["vanban+ke-hoach@docflow.localhost"])
    doc = await only_document(stack)
    assert doc["workflow"] == "ke-hoach"
    assert doc["title"] == TITLE


async def test_type_tag_in_subject_picks_workflow_and_is_not_in_title(stack: Stack) -> None:
    await stack.add_user(AUTHOR, "Lê Thị Thu")
    await send(stack, draft(subject=f"[KH] {TITLE}"))
    doc = await only_document(stack)
    assert doc["workflow"] == "ke-hoach"
    assert doc["title"] == TITLE


async def test_untagged_draft_goes_to_default_workflow(stack: Stack) -> None:
    await stack.add_user(AUTHOR, "Lê Thị Thu")
    await send(stack, draft())
    doc = await only_document(stack)
    assert doc["workflow"] == "cong-van"


# --- quarantine -------------------------------------------------------------------------------


async def test_unknown_sender_is_quarantined_silently_and_released_once_they_are_a_user(
    stack: Stack,
) -> None:
    await send(stack, draft(sender=STRANGER))
    entries = await quarantined(stack)
    assert [(e["reason"], e["from"]) for e in entries] == [("unknown_sender", STRANGER)]
    assert stack.relay.messages == []  # no backscatter
    assert await stack.documents() == []

    await stack.add_user(STRANGER, "Ai Đó")
    outcome = await stack.services.intake.release(entries[0]["id"])
    assert outcome is not None and outcome.state == "accepted"
    doc = await only_document(stack)
    assert (doc["title"], doc["author"]) == (TITLE, STRANGER)
    assert await list_entries() == []
    await wait_for(lambda: _to(stack, STRANGER), what="receipt after release")


async def test_executable_named_pdf_is_refused_with_a_threaded_vietnamese_reply(
    stack: Stack,
) -> None:
    await stack.add_user(AUTHOR, "Lê Thị Thu")
    sent = draft(files=[("báo cáo.pdf", EXECUTABLE, "application/pdf")])
    await send(stack, sent)
    entries = await quarantined(stack)
    assert [e["reason"] for e in entries] == ["type_not_allowed"]
    assert "báo cáo.pdf" in entries[0]["detail"]
    reply = (await wait_for(lambda: _to(stack, AUTHOR), what="refusal"))[0]
    assert reply["In-Reply-To"] == sent["Message-ID"]
    assert sent["Message-ID"] in reply["References"]
    body = reply.get_content()
    assert "không được chấp nhận" in body and "báo cáo.pdf" in body
    assert f"Q-{entries[0]['id']}" in body
    assert await stack.documents() == []


async def test_mail_without_attachment_is_refused_with_a_reply(stack: Stack) -> None:
    await stack.add_user(AUTHOR, "Lê Thị Thu")
    sent = draft(files=[])
    await send(stack, sent)
    entries = await quarantined(stack)
    assert [e["reason"] for e in entries] == ["no_attachment"]
    reply = (await wait_for(lambda: _to(stack, AUTHOR), what="refusal"))[0]
    assert reply["In-Reply-To"] == sent["Message-ID"]
    assert "không có tệp đính kèm" in reply.get_content()
    assert await stack.documents() == []


# --- what a version holds ----------------------------------------------------------------------


async def test_inline_logo_is_ignored_next_to_the_draft(stack: Stack) -> None:
    await stack.add_user(AUTHOR, "Lê Thị Thu")
    m = EmailMessage()
    m["From"] = AUTHOR
    m["To"] = stack.intake
    m["Subject"] = TITLE
    m["Message-ID"] = make_msgid(domain="bandantoc.gov.vn")
    m.set_content("Kính gửi Lãnh đạo Ban.")
    m.add_alternative('<p>Kính gửi Lãnh đạo Ban.</p><img src="cid:logo@bdt">', subtype="html")
    html = m.get_payload()[1]
    html.add_related(
        png_1x1(), "image", "png", cid="<logo@bdt>", filename="logo.png", disposition="inline"
    )
    docx = make_docx_python_docx(["Nội dung dự thảo."])
    m.add_attachment(docx, maintype="application", subtype=DOCX.split("/")[1], filename="KH.docx")
    await send(stack, m)
    doc = await only_document(stack)
    files = doc["versions"][0]["files"]
    assert [(f["name"], f["mime"], f["role"]) for f in files] == [("KH.docx", DOCX, "main")]
    assert files[0]["sha256"] == hashlib.sha256(docx).hexdigest()


async def test_same_message_sent_twice_makes_one_version_and_one_receipt(stack: Stack) -> None:
    await stack.add_user(AUTHOR, "Lê Thị Thu")
    m = draft()
    await send(stack, m)
    await stack.settled()
    await send(stack, m)
    await stack.settled()
    doc = await only_document(stack)
    assert len(doc["versions"]) == 1
    assert len(stack.relay.to(AUTHOR)) == 1
    rows = await InboundMessage.all().order_by("id")
    assert [(r.state, r.document_code) for r in rows] == [
        ("accepted", doc["code"]),
        ("duplicate", doc["code"]),
    ]


async def test_docx_not_written_by_python_docx_is_accepted_with_its_text(stack: Stack) -> None:
    await stack.add_user(AUTHOR, "Lê Thị Thu")
    paragraphs = ["Tờ trình về việc kiện toàn tổ chức", "Căn cứ\tLuật Tổ chức Chính phủ"]
    data = make_docx_foreign(paragraphs, padding_bytes=4096)
    await send(stack, draft(files=[("Tờ trình.docx", data, "application/octet-stream")]))
    doc = await only_document(stack)
    assert doc["versions"][0]["files"][0]["mime"] == DOCX
    status, version = await stack.api(f"/api/v1/documents/{doc['code']}/versions/1")
    assert status == 200
    text = version["files"][0]["text"]
    assert "Tờ trình về việc kiện toàn tổ chức" in text
    assert "Luật Tổ chức Chính phủ" in text


async def test_main_draft_first_then_annexes_with_exact_bytes(stack: Stack) -> None:
    await stack.add_user(AUTHOR, "Lê Thị Thu")
    sent = [
        ("Dự thảo kế hoạch.docx", make_docx_python_docx(["Dự thảo chính."]), DOCX),
        ("Phụ lục 1 – số liệu.pdf", make_pdf("Phụ lục số liệu năm 2026"), "application/pdf"),
        ("Phụ lục 2.odt", make_odt(["Phụ lục hai", "Danh sách đơn vị"]), ODT),
    ]
    await send(stack, draft(files=sent))
    doc = await only_document(stack)
    files = doc["versions"][0]["files"]
    assert [(f["name"], f["role"]) for f in files] == [
        (sent[0][0], "main"),
        (sent[1][0], "annex"),
        (sent[2][0], "annex"),
    ]
    assert [f["mime"] for f in files] == [DOCX, "application/pdf", ODT]
    for position, ((name, data, _), f) in enumerate(zip(sent, files, strict=True)):
        assert (f["size"], f["sha256"]) == (len(data), hashlib.sha256(data).hexdigest())
        body, disposition = await download(stack, doc["code"], 1, position)
        assert body == data
        assert f"filename*=UTF-8''{quote(name)}" in disposition


async def test_path_traversal_in_file_name_is_shown_but_never_served_as_a_path(
    stack: Stack,
) -> None:
    await stack.add_user(AUTHOR, "Lê Thị Thu")
    name = "../../etc/passwd.txt"
    await send(stack, draft(files=[(name, "Nội dung văn bản.\n".encode(), "text/plain")]))
    doc = await only_document(stack)
    assert doc["versions"][0]["files"][0]["name"] == name
    body, disposition = await download(stack, doc["code"], 1, 0)
    assert body == "Nội dung văn bản.\n".encode()
    assert "/" not in disposition and "%2F" not in disposition.upper()
    assert "passwd.txt" in disposition


async def _to(stack: Stack, addr: str) -> list[EmailMessage]:
    return stack.relay.to(addr)


async def test_same_message_sent_twice_at_once_makes_one_version_and_one_receipt(
    stack: Stack,
) -> None:
    await stack.add_user(AUTHOR, "Lê Thị Thu")
    m = draft()
    await asyncio.gather(send(stack, m), send(stack, m))
    await stack.settled()
    doc = await only_document(stack)
    assert len(doc["versions"]) == 1
    assert len(stack.relay.to(AUTHOR)) == 1
    rows = await InboundMessage.all().order_by("id")
    assert sorted(r.state for r in rows) == ["accepted", "duplicate"]
