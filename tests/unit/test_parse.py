"""parse_message, clean_title and tracking_codes against real-world mail shapes."""

from __future__ import annotations

import email
import email.charset
import random
import unicodedata
from datetime import UTC, datetime, timedelta, timezone
from email.header import Header
from email.message import EmailMessage
from pathlib import Path

import pytest

from docflow.intake.parse import clean_title, parse_message, tracking_codes
from tests.filebuilders import encode_cp1258

CPYTHON_EMAIL_DATA = Path(email.__file__).parent.parent / "test" / "test_email" / "data"
TITLE = "Kế hoạch đổi mới phương thức làm việc của cơ quan hành chính nhà nước năm 2027"


def mail(*headers: str, body: bytes = b"hello\r\n") -> bytes:
    """Raw message bytes from header fields (folded fields may contain "\\n ")."""
    text = "".join(f"{header}\n" for header in headers).replace("\n", "\r\n")
    return (text + "\r\n").encode("utf-8") + body


def test_rfc2047_base64_subject_split_across_encoded_words_decodes() -> None:
    encoded = Header(TITLE, "utf-8").encode()
    assert encoded.count("=?utf-8?b?") >= 2  # really split over several encoded words

    parsed = parse_message(mail(f"Subject: {encoded}"))

    assert parsed.subject == TITLE


def test_rfc2047_quoted_printable_subject_decodes() -> None:
    charset = email.charset.Charset("utf-8")
    charset.header_encoding = email.charset.QP
    encoded = Header(TITLE, charset).encode()
    assert "=?utf-8?q?" in encoded

    assert parse_message(mail(f"Subject: {encoded}")).subject == TITLE


def test_raw_utf8_subject_is_read_as_utf8() -> None:
    raw = b"Subject: " + TITLE.encode("utf-8") + b"\r\n\r\nbody"

    assert parse_message(raw).subject == TITLE


def test_raw_cp1258_subject_is_read_as_vietnamese_windows() -> None:
    raw = b"Subject: " + encode_cp1258("Tờ trình số 12") + b"\r\n\r\nbody"

    assert parse_message(raw).subject == "Tờ trình số 12"


def test_subject_whitespace_runs_collapse_and_ends_are_stripped() -> None:
    raw = mail("Subject:   Kế  hoạch\n\t  năm   2027  ")

    assert parse_message(raw).subject == "Kế hoạch năm 2027"


def test_nfd_subject_body_name_and_filename_come_out_nfc() -> None:
    nfd = unicodedata.normalize("NFD", "Tờ trình Nguyễn")
    message = EmailMessage()
    message["Subject"] = nfd
    message["From"] = f"{nfd} <a@b.vn>"
    message.set_content(nfd)
    message.add_attachment(b"x", "application", "octet-stream", filename=nfd + ".pdf")

    parsed = parse_message(message.as_bytes())

    nfc = unicodedata.normalize("NFC", nfd)
    assert nfd != nfc
    assert parsed.subject == nfc
    assert parsed.from_name == nfc
    assert parsed.body_text.strip() == nfc
    assert parsed.attachments[0].filename == nfc + ".pdf"


def test_rfc2231_vietnamese_filename_round_trips() -> None:
    raw = mail(
        "Content-Type: application/octet-stream",
        "Content-Disposition: attachment; filename*=utf-8''T%E1%BB%9D%20tr%C3%ACnh.docx",
        "Content-Transfer-Encoding: base64",
        body=b"AAEC\r\n",
    )

    (attachment,) = parse_message(raw).attachments

    assert attachment.filename == "Tờ trình.docx"
    assert attachment.data == b"\x00\x01\x02"
    assert attachment.content_type == "application/octet-stream"


def test_rfc2231_filename_continuations_join() -> None:
    raw = mail(
        "Content-Type: application/pdf",
        "Content-Disposition: attachment;\n filename*0*=utf-8''T%E1%BB%9D;\n"
        " filename*1*=%20tr%C3%ACnh.pdf",
    )

    assert parse_message(raw).attachments[0].filename == "Tờ trình.pdf"


def test_rfc2047_encoded_filename_as_outlook_sends_it_decodes() -> None:
    raw = mail(
        'Content-Type: application/pdf; name="=?utf-8?B?VOG7nSB0csOsbmgucGRm?="',
        'Content-Disposition: attachment; filename="=?utf-8?B?VOG7nSB0csOsbmgucGRm?="',
    )

    assert parse_message(raw).attachments[0].filename == "Tờ trình.pdf"


def test_sender_address_is_lowercased_and_display_name_decoded() -> None:
    raw = mail("From: =?utf-8?q?Nguy=E1=BB=85n_V=C4=83n_A?= <NVA@SoNoiVu.GOV.vn>")

    parsed = parse_message(raw)

    assert (parsed.from_addr, parsed.from_name) == ("nva@sonoivu.gov.vn", "Nguyễn Văn A")


@pytest.mark.parametrize("value", ["garbage <<>>", "undisclosed-recipients:;", "@", "a@"])
def test_unparseable_sender_gives_empty_address(value: str) -> None:
    assert parse_message(mail(f"From: {value}")).from_addr == ""


def test_message_ids_lose_angle_brackets_and_keep_header_order() -> None:
    raw = mail(
        "Message-ID:  <m3@df.example>",
        "In-Reply-To: <m2@df.example>",
        "References: <m1@df.example>\n  <m0@df.example>\t<m2@df.example>",
    )

    parsed = parse_message(raw)

    assert parsed.message_id == "m3@df.example"
    assert parsed.in_reply_to == ("m2@df.example",)
    assert parsed.references == ("m1@df.example", "m0@df.example", "m2@df.example")


def test_missing_headers_give_empty_values() -> None:
    parsed = parse_message(b"\r\njust a body\r\n")

    assert (parsed.message_id, parsed.from_addr, parsed.subject) == ("", "", "")
    assert (parsed.in_reply_to, parsed.references, parsed.date) == ((), (), None)
    assert parsed.body_text.strip() == "just a body"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Tue, 03 Mar 2026 09:15:00 +0700", datetime(2026, 3, 3, 2, 15, tzinfo=UTC)),
        ("Tue, 03 Mar 2026 09:15:00 -0000", datetime(2026, 3, 3, 9, 15, tzinfo=UTC)),
        ("3 Mar 2026 09:15 GMT", datetime(2026, 3, 3, 9, 15, tzinfo=UTC)),
    ],
)
def test_date_is_timezone_aware(value: str, expected: datetime) -> None:
    parsed = parse_message(mail(f"Date: {value}"))

    assert parsed.date == expected
    assert parsed.date is not None and parsed.date.tzinfo is not None


def test_date_keeps_sender_offset() -> None:
    parsed = parse_message(mail("Date: Tue, 03 Mar 2026 09:15:00 +0700"))

    assert parsed.date is not None
    assert parsed.date.utcoffset() == timedelta(hours=7)
    assert parsed.date.tzinfo == timezone(timedelta(hours=7))


@pytest.mark.parametrize("value", ["yesterday", "Thu, 01 Jan 10000 00:00:00 +0000", "", "99/99/99"])
def test_bad_date_gives_none(value: str) -> None:
    assert parse_message(mail(f"Date: {value}")).date is None


def test_plain_text_is_preferred_over_html_alternative() -> None:
    message = EmailMessage()
    message.set_content("Nội dung thuần")
    message.add_alternative("<p>Nội dung <b>HTML</b></p>", subtype="html")

    parsed = parse_message(message.as_bytes())

    assert parsed.body_text.strip() == "Nội dung thuần"
    assert parsed.attachments == ()


def test_html_only_body_becomes_text() -> None:
    message = EmailMessage()
    message.set_content(
        "<html><head><style>p{}</style><script>x()</script></head><body>"
        "<p>Kính gửi&nbsp;anh</p><div>Tờ trình &amp; dự thảo<br>đính kèm</div></body></html>",
        subtype="html",
    )

    parsed = parse_message(message.as_bytes())

    assert parsed.body_text == "Kính gửi\xa0anh\nTờ trình & dự thảo\nđính kèm"


def test_attachments_keep_message_order_and_inline_pdf_without_name_counts() -> None:
    message = EmailMessage()
    message["Subject"] = "Hồ sơ"
    message.set_content("Xem tệp đính kèm.")
    message.add_attachment(b"%PDF-1.7 one", "application", "pdf", filename="a.pdf")
    message.add_attachment(b"%PDF-1.7 two", "application", "pdf", disposition="inline")
    message.add_attachment("ghi chú", filename="ghi chú.txt")

    parsed = parse_message(message.as_bytes())

    assert [(a.filename, a.content_type, a.data) for a in parsed.attachments] == [
        ("a.pdf", "application/pdf", b"%PDF-1.7 one"),
        ("", "application/pdf", b"%PDF-1.7 two"),
        ("ghi chú.txt", "text/plain", "ghi chú\n".encode()),
    ]
    assert parsed.body_text.strip() == "Xem tệp đính kèm."


def test_embedded_message_is_one_attachment_holding_its_bytes() -> None:
    inner = EmailMessage()
    inner["Subject"] = "Công văn gốc"
    inner.set_content("Nội dung gốc")
    inner.add_attachment(b"\x00pdf", "application", "pdf", filename="goc.pdf")
    outer = EmailMessage()
    outer.set_content("Chuyển tiếp")
    outer.add_attachment(inner, filename="goc.eml")

    parsed = parse_message(outer.as_bytes())

    (attachment,) = parsed.attachments
    assert (attachment.filename, attachment.content_type) == ("goc.eml", "message/rfc822")
    again = parse_message(attachment.data)
    assert again.subject == "Công văn gốc"
    assert [a.filename for a in again.attachments] == ["goc.pdf"]


@pytest.mark.parametrize(
    "header",
    [
        "Auto-Submitted: auto-replied",
        "Auto-Submitted: auto-generated; owner-email=x@y.z",
        "Auto-Submitted: auto-replied (no)",
        "Precedence: bulk",
        "Precedence: junk",
        "Precedence: list",
        "X-Autoreply: yes",
        "X-Autorespond: Out of office",
        "List-Id: <cong-van.sonoivu.gov.vn>",
        "Content-Type: multipart/report; report-type=delivery-status; boundary=X",
        "Precedence: auto_reply",
        "X-Autoreply-From: thu.lt@bandantoc.gov.vn",
        "X-Mail-Autoreply: yes",
        "X-Autogenerated: Reply",
        "X-MS-Exchange-Inbox-Rules-Loop: thu.lt@bandantoc.gov.vn",
        "List-Unsubscribe: <mailto:leave@lists.example.org>",
        "List-Post: <mailto:all@lists.example.org>",
        "Return-Path: <>",
        "From: Mail Delivery System <MAILER-DAEMON@mx.bandantoc.gov.vn>",
        "From: postmaster@bandantoc.gov.vn",
        "Subject: Out of Office: Kế hoạch",
        "Subject: Automatic reply: Kế hoạch",
        "Subject: Trả lời tự động: Kế hoạch",
        "Subject: [Auto-Reply] Kế hoạch",
        "Subject: Undelivered Mail Returned to Sender",
        "Subject: Không gửi được",
        "Subject: Thư bị trả về: Kế hoạch",
    ],
)
def test_automatic_mail_is_flagged(header: str) -> None:
    parsed = parse_message(mail(header))
    assert parsed.auto_submitted
    assert parsed.automatic.split(":")[0].lower() == header.split(":")[0].lower()


@pytest.mark.parametrize(
    "header",
    [
        "Auto-Submitted: no",
        "Auto-Submitted: no (sent by a person)",
        "Auto-Submitted: (Thunderbird) No",
        "Precedence: first-class",
        "X-Foo: 1",
        # asks receivers not to auto-reply; Exchange puts it on ordinary mail as well
        "X-Auto-Response-Suppress: All",
        "Subject: Kế hoạch trả lời tự động các kiến nghị",
        "Subject: Re: Báo cáo công tác văn phòng",
        "Subject: Không gửi được báo cáo quý do mất điện",
        "Return-Path: <thu.lt@bandantoc.gov.vn>",
    ],
)
def test_personal_mail_is_not_flagged(header: str) -> None:
    assert not parse_message(mail(header)).auto_submitted


def test_authentication_results_and_received_are_kept_in_order() -> None:
    parsed = parse_message(
        mail(
            "Authentication-Results: mx.bandantoc.gov.vn;\n dkim=pass header.d=bandantoc.gov.vn",
            "Received: from a by b",
            "Subject: x",
            "Authentication-Results: other.example; spf=pass",
        )
    )
    assert parsed.trace == (
        ("authentication-results", "mx.bandantoc.gov.vn; dkim=pass header.d=bandantoc.gov.vn"),
        ("received", "from a by b"),
        ("authentication-results", "other.example; spf=pass"),
    )


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        (["From: a@bandantoc.gov.vn"], ""),
        (["From a@bandantoc.gov.vn Mon Jan  1 00:00:00 2027", "From: a@bandantoc.gov.vn"], ""),
        (["From: a@bandantoc.gov.vn", "Subject: x", "FROM: b@bandantoc.gov.vn"], "2 From headers"),
        # Python's parser drops `From :` (an mbox line to it); an MTA reads a From there
        (["From: a@bandantoc.gov.vn", "From : b@bandantoc.gov.vn"], "2 From headers"),
        (["From: a@bandantoc.gov.vn", "X-A: 1\rfrom\t: b@bandantoc.gov.vn"], "2 From headers"),
        (["From: a@bandantoc.gov.vn, B <b@evil.example>"], "2 mailboxes in From"),
        (["From: g: a@bandantoc.gov.vn, b@evil.example;"], "2 mailboxes in From"),
    ],
)
def test_a_from_that_names_more_than_one_author_is_reported(
    headers: list[str], expected: str
) -> None:
    body = b"Forwarded:\r\nFrom: c@evil.example\r\n"  # in the body, a From line is text
    assert parse_message(mail(*headers, body=body)).ambiguous_from == expected


def test_unknown_charset_body_falls_back_to_utf8_then_cp1258() -> None:
    headers = "Content-Type: text/plain; charset=x-unknown"
    utf8 = parse_message(mail(headers, body="Xin chào".encode()))
    cp1258 = parse_message(mail(headers, body=encode_cp1258("Xin chào Việt Nam")))

    assert utf8.body_text == "Xin chào"
    assert cp1258.body_text == "Xin chào Việt Nam"


def test_latin1_body_mislabelled_utf8_has_no_replacement_characters() -> None:
    raw = mail("Content-Type: text/plain; charset=utf-8", body="café déjà".encode("latin-1"))

    assert parse_message(raw).body_text == "café déjà"


def test_broken_base64_attachment_is_decoded_best_effort_with_defect() -> None:
    raw = mail(
        "Content-Type: application/pdf; name=a.pdf",
        "Content-Transfer-Encoding: base64",
        body=b"JVBER!!i0x\r\n===\r\n",
    )

    parsed = parse_message(raw)

    assert parsed.attachments[0].data.startswith(b"%PDF")
    assert any("Base64" in name for name in parsed.defects)


def test_missing_multipart_boundary_is_reported_as_defect() -> None:
    raw = mail("Content-Type: multipart/mixed", body=b"no boundary here\r\n")

    parsed = parse_message(raw)

    assert "NoBoundaryInMultipartDefect" in parsed.defects
    assert parsed.body_text.strip() == "no boundary here"


def test_message_with_no_headers_at_all_is_all_body() -> None:
    parsed = parse_message("Chỉ có nội dung, không có tiêu đề".encode())

    assert parsed.subject == ""
    assert "nội dung" in parsed.body_text


def test_empty_input_gives_empty_mail() -> None:
    parsed = parse_message(b"")

    assert (parsed.body_text, parsed.attachments, parsed.auto_submitted) == ("", (), False)


@pytest.mark.parametrize("seed", range(20))
def test_garbage_bytes_never_raise(seed: int) -> None:
    rng = random.Random(seed)
    raw = rng.randbytes(rng.randrange(1, 5000))
    if seed % 2:  # make it look enough like mail for the MIME code to engage
        raw = b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n" + raw

    parse_message(raw)


@pytest.mark.parametrize(
    "path", sorted(CPYTHON_EMAIL_DATA.glob("msg_*.txt")), ids=lambda path: path.name
)
def test_cpython_email_test_data_parses_without_raising(path: Path) -> None:
    parse_message(path.read_bytes())


def test_cpython_email_test_data_is_present() -> None:
    assert len(list(CPYTHON_EMAIL_DATA.glob("msg_*.txt"))) > 40


@pytest.mark.parametrize(
    "subject",
    [
        "Re: {}",
        "RE: {}",
        "re : {}",
        "Fwd: {}",
        "FWD: {}",
        "Fw: {}",
        "FW: {}",
        "TL: {}",
        "Trả lời: {}",
        "TRẢ LỜI: {}",
        "Tra loi: {}",
        "Chuyển tiếp: {}",
        "Chuyen tiep: {}",
        "CT: {}",
        "AW: {}",
        "WG: {}",
        "SV: {}",
        "VS: {}",
        "VB: {}",
        "RV: {}",
        "Réf: {}",
        "TR: {}",
        "Odp: {}",
        "Antw: {}",
        "Doorst: {}",
        "回复: {}",
        "转发：{}",
        "Re：{}",
        "Re[2]: {}",
        "RE (3): {}",
        "Re: Fwd: RE: TL: {}",
        "  Re:Re:Fw:   {}",
        "Trả lời: Chuyển tiếp: Re[4]: {}",
        "Re: [DF-2026-000042] {}",
        "[DF-2026-000042] Re: {}",
        "Re: [DF-2026-000042] Fwd: {} [DF-2027-000001]",
    ],
)
def test_clean_title_strips_reply_and_forward_prefixes(subject: str) -> None:
    assert clean_title(subject.format(TITLE)) == TITLE


def test_clean_title_matches_prefixes_written_in_nfd() -> None:
    subject = unicodedata.normalize("NFD", f"Trả lời: Chuyển tiếp: {TITLE}")

    assert clean_title(subject) == TITLE


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("[External] Re: Họp giao ban", "[External] Re: Họp giao ban"),
        ("Kế hoạch [DF-2026-000042] năm 2027", "Kế hoạch năm 2027"),
        ("Report: quý 1", "Report: quý 1"),
        ("Recap: họp", "Recap: họp"),
        ("CTV: danh sách", "CTV: danh sách"),
        ("Re: ", ""),
        ("[DF-2026-000042]", ""),
        ("", ""),
    ],
)
def test_clean_title_keeps_everything_else(subject: str, expected: str) -> None:
    assert clean_title(subject) == expected


def test_tracking_codes_are_found_in_order_and_uppercased() -> None:
    text = "Re: [DF-2026-000042] xem df-2025-123456, không phải DF-26-000001 hay DF-2026-0000001"

    assert tracking_codes(text) == ["DF-2026-000042", "DF-2025-123456"]


def test_undecodable_header_bytes_never_leak_surrogates() -> None:
    raw = mail(
        "From: =?x-unknown?q?=E1=BA?= <a@b.vn>",
        "Subject: =?x-unknown?b?4bq/?= \xe1",
        'Content-Disposition: attachment; filename="\xe1\xba.pdf"',
    )
    raw = raw.replace("\xe1".encode(), b"\xe1")  # raw 8-bit bytes, not UTF-8

    parsed = parse_message(raw)

    for text in (parsed.from_name, parsed.subject, parsed.attachments[0].filename):
        text.encode("utf-8")  # would raise on a lone surrogate
