"""Vietnamese text survives the trip SMTP → storage → API → receipt, always in NFC."""

from __future__ import annotations

import unicodedata
from email import base64mime, policy, quoprimime
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

import aiosmtplib
import pytest

from docflow.notify.models import OutboxMessage
from tests.conftest import Stack, wait_for
from tests.filebuilders import make_docx_python_docx

AUTHOR = "thu.lt@bandantoc.gov.vn"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
SAMPLE = (Path(__file__).parent.parent / "data" / "vi-admin-reform-report-2018.txt").read_text(
    encoding="utf-8"
)
TITLE = (
    "Báo cáo kết quả thực hiện công tác cải cách hành chính năm 2018 của Ban Dân tộc — "
    "bản trình Lãnh đạo Ban xem xét, cho ý kiến trước khi ban hành"
)
BODY = (
    "Kính gửi Lãnh đạo Ban,\n\n"
    "Phòng Tổng hợp xin gửi dự thảo báo cáo để Lãnh đạo Ban xem xét, cho ý kiến.\n"
    "Trân trọng cảm ơn./.\n"
)
TXT_NAME = "Báo cáo cải cách hành chính năm 2018 của Ban Dân tộc (toàn văn).txt"
DOCX_NAME = "Dự thảo báo cáo CCHC năm 2018 – bản trình ký.docx"
SHORT_TITLE = "Kế hoạch cải cách hành chính năm 2027"


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def encoded_words(text: str, chars: int = 14) -> str:
    """`text` as many RFC 2047 encoded words, B and Q in turn, one per folded line."""
    pieces = [text[i : i + chars].encode() for i in range(0, len(text), chars)]
    words = [
        base64mime.header_encode(p, "utf-8") if i % 2 else quoprimime.header_encode(p, "utf-8")
        for i, p in enumerate(pieces)
    ]
    return "\r\n ".join(words)


def vietnamese_mail(form: str, utf8_headers: bool = False, title: str = TITLE) -> bytes:
    """A draft whose subject, body, file names and file contents are all in `form`."""
    sample = unicodedata.normalize(form, SAMPLE)
    m = EmailMessage()
    m["From"] = f"{unicodedata.normalize(form, 'Lê Thị Thu')} <{AUTHOR}>"
    m["To"] = "vanban@docflow.localhost"
    m["Message-ID"] = make_msgid(domain="bandantoc.gov.vn")
    m.set_content(unicodedata.normalize(form, BODY), cte="quoted-printable")
    paragraphs = sample.strip().split("\n")
    m.add_attachment(
        make_docx_python_docx(paragraphs),
        maintype="application",
        subtype=DOCX.split("/")[1],
        filename=unicodedata.normalize(form, DOCX_NAME),
    )
    m.add_attachment(
        sample.encode(),
        maintype="text",
        subtype="plain",
        filename=unicodedata.normalize(form, TXT_NAME),
    )
    title = unicodedata.normalize(form, title)
    if utf8_headers:
        m["Subject"] = title
        return m.as_bytes(policy=policy.SMTPUTF8.clone(max_line_length=None))
    raw = m.as_bytes(policy=policy.SMTP)
    assert b"filename*0*=utf-8''" in raw  # RFC 2231, continued over several lines
    return b"Subject: " + encoded_words(title).encode("ascii") + b"\r\n" + raw


async def send_raw(stack: Stack, raw: bytes, options: list[str] | None = None) -> None:
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=stack.settings.smtp.port, timeout=30)
    async with client:
        await client.sendmail(AUTHOR, [stack.intake], raw, mail_options=options or [])


async def receipt_for(stack: Stack) -> EmailMessage:
    return (await wait_for(lambda: _to(stack, AUTHOR), what="receipt"))[0]


@pytest.mark.parametrize("form", ["NFC", "NFD"])
async def test_vietnamese_subject_body_names_and_text_arrive_exactly_in_nfc(
    stack: Stack, form: str
) -> None:
    await stack.add_user(AUTHOR, "Lê Thị Thu")
    raw = vietnamese_mail(form)
    assert raw.count(b"=?utf-8?") >= 8  # the subject is split over many encoded words
    await send_raw(stack, raw)
    docs = await wait_for(stack.documents, what="document")
    assert [d["title"] for d in docs] == [TITLE]
    code = docs[0]["code"]
    status, version = await stack.api(f"/api/v1/documents/{code}/versions/1")
    assert status == 200
    assert [f["name"] for f in version["files"]] == [DOCX_NAME, TXT_NAME]
    docx_text, txt_text = (f["text"] for f in version["files"])
    assert txt_text == nfc(SAMPLE).strip()
    assert docx_text == nfc(SAMPLE).strip()
    assert version["body_text"].replace("\r\n", "\n").strip() == BODY.strip()
    names = [f["name"] for f in version["files"]]
    for value in (version["subject"], version["body_text"], txt_text, docx_text, *names):
        assert unicodedata.is_normalized("NFC", value)


async def test_eight_bit_utf8_headers_round_trip_too(stack: Stack) -> None:
    await stack.add_user(AUTHOR, "Lê Thị Thu")
    raw = vietnamese_mail("NFD", utf8_headers=True)
    assert unicodedata.normalize("NFD", TITLE).encode() in raw
    await send_raw(stack, raw, options=["SMTPUTF8", "BODY=8BITMIME"])
    docs = await wait_for(stack.documents, what="document")
    assert [d["title"] for d in docs] == [TITLE]
    doc = await stack.document(docs[0]["code"])
    assert [f["name"] for f in doc["versions"][0]["files"]] == [DOCX_NAME, TXT_NAME]


async def test_receipt_is_utf8_and_names_code_title_and_files(stack: Stack) -> None:
    await stack.add_user(AUTHOR, "Lê Thị Thu")
    await send_raw(stack, vietnamese_mail("NFD"))
    receipt = await receipt_for(stack)
    code = (await stack.documents())[0]["code"]
    assert str(receipt["Subject"]).startswith(f"[{code}] Đã tiếp nhận: Báo cáo")
    texts = [p for p in receipt.walk() if p.get_content_maintype() == "text"]
    assert [p.get_content_charset() for p in texts] == ["utf-8", "utf-8"]  # plain, HTML
    body = receipt.get_content()
    assert unicodedata.is_normalized("NFC", body)
    for expected in ("Kính gửi Lê Thị Thu", "Mã theo dõi", code, TITLE, DOCX_NAME, TXT_NAME):
        assert expected in body
    # what went to the relay: 7-bit headers (the relay did not offer SMTPUTF8)
    sent = await OutboxMessage.get(kind="receipt")
    head = bytes(sent.content).replace(b"\r\n", b"\n").split(b"\n\n", 1)[0]
    assert head.isascii()


@pytest.mark.parametrize(
    ("language", "title", "word"),
    [
        ("vi", SHORT_TITLE, "Đã tiếp nhận"),
        ("en", SHORT_TITLE, "Received"),
        ("vi", TITLE, "Đã tiếp nhận"),  # long: folded over several encoded words
        ("en", TITLE, "Received"),
    ],
    ids=["vi-short", "en-short", "vi-long", "en-long"],
)
async def test_receipt_subject_is_the_code_and_the_exact_title(
    stack: Stack, language: str, title: str, word: str
) -> None:
    await stack.add_user(AUTHOR, "Lê Thị Thu", language=language)
    await send_raw(stack, vietnamese_mail("NFD", title=title))
    receipt = await receipt_for(stack)
    code = (await stack.documents())[0]["code"]
    assert str(receipt["Subject"]) == f"[{code}] {word}: {title}"


async def test_user_with_english_setting_gets_an_english_receipt(stack: Stack) -> None:
    await stack.add_user(AUTHOR, "Thu Le", language="en")
    await send_raw(stack, vietnamese_mail("NFC"))
    receipt = await receipt_for(stack)
    code = (await stack.documents())[0]["code"]
    assert str(receipt["Subject"]).startswith(f"[{code}] Received: ")
    body = receipt.get_content()
    assert "Dear Thu Le" in body and "Tracking code" in body and "Official letter" in body
    assert "Mã theo dõi" not in body and "Kính gửi" not in body
    assert TITLE in body


@pytest.mark.parametrize("language", ["vi", "en"])
async def test_receipt_declares_its_language(stack: Stack, language: str) -> None:
    await stack.add_user(AUTHOR, "Lê Thị Thu", language=language)
    await send_raw(stack, vietnamese_mail("NFC", title=SHORT_TITLE))
    receipt = await receipt_for(stack)
    assert receipt["Content-Language"] == language


async def _to(stack: Stack, addr: str) -> list[EmailMessage]:
    return stack.relay.to(addr)
