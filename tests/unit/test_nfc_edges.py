"""Every text docflow stores or compares is composed (NFC), made so where it comes in: mail
headers and file names (intake/parse.py), extracted text (documents/extract.py), search
queries (archive/search.py `SearchQuery`). Names and uploads are checked with a database
in tests/integration/test_legacy_text.py."""

from __future__ import annotations

import unicodedata
from email.message import EmailMessage
from email.policy import SMTP
from urllib.parse import quote

import pytest

from docflow.archive.search import SearchQuery
from docflow.documents.extract import extract_text
from docflow.intake.filetypes import KIND_MIME
from docflow.intake.parse import clean_title, parse_message
from docflow.web.search_params import search_query
from tests.filebuilders import encode_cp1258, make_docx_python_docx, make_odt, make_rtf

TITLE = "Tờ trình về việc tổ chức Hội nghị tổng kết công tác dân tộc"
NAME = "Dự thảo tờ trình (bản 2).docx"


def nfd(text: str) -> str:
    return unicodedata.normalize("NFD", text)


def windows_1258_words(text: str) -> str:
    """`text` as an RFC 2047 encoded word in Windows-1258: base letters, combining tones."""
    raw = encode_cp1258(text)
    return (
        "=?windows-1258?Q?"
        + "".join(f"={b:02X}" if b > 126 or b in b" =?_" else chr(b) for b in raw)
        + "?="
    )


def test_windows_1258_subject_is_the_same_nfc_title_as_the_utf8_one() -> None:
    assert unicodedata.normalize("NFC", encode_cp1258(TITLE).decode("cp1258")) == TITLE
    assert encode_cp1258(TITLE).decode("cp1258") != TITLE  # the tones come combining
    raw = f"From: a@bandantoc.gov.vn\r\nSubject: Re: {windows_1258_words(TITLE)}\r\n\r\nx"
    utf8 = EmailMessage()
    utf8["Subject"] = TITLE

    title = clean_title(parse_message(raw.encode("ascii")).subject)

    assert title == clean_title(parse_message(utf8.as_bytes(policy=SMTP)).subject) == TITLE


def test_windows_1258_file_name_and_from_name_come_out_nfc() -> None:
    raw = (
        f"From: {windows_1258_words('Lê Thị Thu')} <thu.lt@bandantoc.gov.vn>\r\n"
        "Subject: x\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
        "Content-Type: application/octet-stream\r\nContent-Disposition: attachment;\r\n"
        f" filename*=windows-1258''{quote(encode_cp1258(NAME))}\r\n\r\nx\r\n--b--\r\n"
    )

    parsed = parse_message(raw.encode("ascii"))

    assert parsed.from_name == "Lê Thị Thu"
    assert [a.filename for a in parsed.attachments] == [NAME]


@pytest.mark.parametrize(
    ("make", "mime"),
    [
        (lambda t: make_docx_python_docx([t]), KIND_MIME["docx"]),
        (lambda t: make_odt([t]), KIND_MIME["odt"]),
        (make_rtf, "text/rtf"),
        (lambda t: t.encode(), "text/plain"),
    ],
    ids=["docx", "odt", "rtf", "txt"],
)
def test_decomposed_text_in_any_format_is_extracted_composed(make: object, mime: str) -> None:
    assert extract_text(make(nfd(TITLE)), mime) == TITLE  # type: ignore[operator]


def test_search_queries_are_composed_whoever_makes_them() -> None:
    """The CLI makes a SearchQuery itself; the API and pages through search_params."""
    typed = {"q": nfd('"dân tộc" thiểu số'), "signer": nfd("Trần Đức Minh"), "type": nfd("QĐ")}
    for query in (
        SearchQuery(text=typed["q"], signer=typed["signer"], type=typed["type"]),
        search_query(typed),
    ):
        assert (query.text, query.signer, query.type) == (
            '"dân tộc" thiểu số',
            "Trần Đức Minh",
            "QĐ",
        )
