"""extract_text returns the exact Vietnamese text (NFC) of every supported format."""

from __future__ import annotations

import io
import unicodedata
from pathlib import Path

import docx
import pypdf
import pytest

from docflow.documents.extract import ExtractionError, extract_text, html_to_text
from docflow.intake.filetypes import KIND_MIME
from tests.filebuilders import (
    DEJAVU,
    encode_cp1258,
    make_docx_foreign,
    make_docx_python_docx,
    make_odt,
    make_pdf,
    make_rtf,
)

SAMPLE = (Path(__file__).parent.parent / "data" / "vi-admin-reform-report-2018.txt").read_text(
    "utf-8"
)
PARAGRAPHS = [p for p in SAMPLE.split("\n") if p.strip()]
SHORT = ["Kế hoạch đổi mới năm 2027", "Tờ trình\tsố 12", "Cộng hòa  xã hội chủ nghĩa Việt Nam"]
DOCX, ODT, PDF = KIND_MIME["docx"], KIND_MIME["odt"], KIND_MIME["pdf"]


def words(text: str) -> str:
    return " ".join(text.split())


def test_sample_text_is_nfc_vietnamese() -> None:
    assert unicodedata.is_normalized("NFC", SAMPLE) and "cải cách hành chính" in SAMPLE


@pytest.mark.parametrize("paragraphs", [PARAGRAPHS, SHORT], ids=["sample", "short"])
def test_python_docx_document_round_trips(paragraphs: list[str]) -> None:
    assert extract_text(make_docx_python_docx(paragraphs), DOCX) == "\n".join(paragraphs)


@pytest.mark.parametrize("padding", [0, 200_000])
def test_foreign_docx_with_smart_tags_round_trips(padding: int) -> None:
    data = make_docx_foreign(SHORT + PARAGRAPHS, padding_bytes=padding)

    assert extract_text(data, DOCX) == "\n".join(SHORT + PARAGRAPHS)


def test_docx_table_text_comes_in_document_order_once_per_merged_cell() -> None:
    document = docx.Document()
    document.add_paragraph("Trước bảng")
    table = document.add_table(rows=2, cols=3)
    table.cell(0, 0).merge(table.cell(0, 2)).text = "Tiêu đề gộp"
    for column, text in enumerate(["Số", "Ngày ký", "Trích yếu"]):
        table.cell(1, column).text = text
    document.add_paragraph("Sau bảng")
    out = io.BytesIO()
    document.save(out)

    text = extract_text(out.getvalue(), DOCX)

    assert text == "Trước bảng\nTiêu đề gộp\nSố\nNgày ký\nTrích yếu\nSau bảng"


def test_nfd_docx_text_comes_out_nfc() -> None:
    nfd = unicodedata.normalize("NFD", "Tờ trình Nguyễn Văn Ất")

    assert extract_text(make_docx_python_docx([nfd]), DOCX) == "Tờ trình Nguyễn Văn Ất"


@pytest.mark.parametrize("paragraphs", [PARAGRAPHS, SHORT], ids=["sample", "short"])
def test_odt_round_trips_with_spaces_tabs_and_spans(paragraphs: list[str]) -> None:
    assert extract_text(make_odt(paragraphs), ODT) == "\n".join(paragraphs)


def test_odt_line_break_inside_paragraph_is_kept() -> None:
    assert extract_text(make_odt(["Dòng một\nDòng hai"]), ODT) == "Dòng một\nDòng hai"


@pytest.mark.skipif(not DEJAVU.exists(), reason="no DejaVu Sans for Vietnamese glyphs")
def test_pdf_with_vietnamese_text_round_trips() -> None:
    text = extract_text(make_pdf(SAMPLE), PDF)

    assert unicodedata.is_normalized("NFC", text)
    assert words(text) == words(SAMPLE)  # the PDF wraps lines; words and order survive


def test_pdf_pages_are_all_read() -> None:
    lines = [f"Line {n}" for n in range(120)]  # about three pages

    text = extract_text(make_pdf("\n".join(lines)), PDF)

    assert len(pypdf.PdfReader(io.BytesIO(make_pdf("\n".join(lines)))).pages) > 2
    assert [line for line in text.split("\n") if line] == lines  # pages end with a blank line


@pytest.mark.parametrize("data", [b"%PDF-1.7\ngarbage", b"", b"not a pdf", make_pdf("Hello")[:400]])
def test_broken_pdf_raises_extraction_error(data: bytes) -> None:
    with pytest.raises(ExtractionError, match="PDF"):
        extract_text(data, PDF)


def encrypted_pdf(user_password: str) -> bytes:
    writer = pypdf.PdfWriter(clone_from=pypdf.PdfReader(io.BytesIO(make_pdf("Bảo mật"))))
    writer.encrypt(user_password=user_password, owner_password="owner", algorithm="RC4-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_pdf_encrypted_with_a_user_password_raises_extraction_error() -> None:
    with pytest.raises(ExtractionError, match="password"):
        extract_text(encrypted_pdf("secret"), PDF)


@pytest.mark.skipif(not DEJAVU.exists(), reason="no DejaVu Sans for Vietnamese glyphs")
def test_pdf_with_only_an_owner_password_is_read() -> None:
    assert extract_text(encrypted_pdf(""), PDF) == "Bảo mật"


@pytest.mark.parametrize(
    "encoding", ["utf-8", "utf-8-sig", "utf-16", "utf-16-be", "utf-32", "cp1258"]
)
def test_vietnamese_txt_round_trips_in_each_encoding(encoding: str) -> None:
    if encoding == "cp1258":
        data = encode_cp1258(SAMPLE)
    elif encoding == "utf-16-be":
        data = b"\xfe\xff" + SAMPLE.encode("utf-16-be")
    else:
        data = SAMPLE.encode(encoding)

    assert extract_text(data, "text/plain; charset=whatever") == SAMPLE


def test_txt_that_is_not_cp1258_falls_back_to_latin1() -> None:
    assert extract_text(b"\x81caf\xe9", "text/plain") == "\x81café"


def test_nfd_txt_comes_out_nfc_with_blank_line_runs_collapsed() -> None:
    text = unicodedata.normalize("NFD", "Tờ trình\r\n\r\n  \r\n\r\nQuyết định\n\n\n\nHết\n")

    assert extract_text(text.encode(), "text/plain") == "Tờ trình\n\nQuyết định\n\nHết"


def test_html_round_trips_paragraphs_and_drops_script_and_style() -> None:
    body = "".join(f"<p>{p.replace('&', '&amp;')}</p>\n" for p in PARAGRAPHS)
    html = (
        '<html><head><meta charset="utf-8"><title>Báo cáo</title><style>p{color:red}</style>'
        f"<script>alert('x')</script></head><body>\n{body}</body></html>"
    )

    assert extract_text(html.encode(), "text/html") == "\n".join(PARAGRAPHS)


def test_html_meta_charset_windows_1258_is_honoured() -> None:
    data = b'<meta http-equiv="Content-Type" content="text/html; charset=windows-1258">'
    data += b"<p>" + encode_cp1258("Quyết định số 5") + b"</p>"

    assert extract_text(data, "text/html") == "Quyết định số 5"


def test_html_entities_and_line_breaks() -> None:
    html = "<div>T&#7901; tr&igrave;nh&nbsp;&amp;<br>d&#x1EF1; th&#7843;o</div>"

    assert html_to_text(html) == "Tờ trình\xa0&\ndự thảo"


@pytest.mark.parametrize("paragraphs", [PARAGRAPHS, SHORT], ids=["sample", "short"])
def test_rtf_round_trips(paragraphs: list[str]) -> None:
    assert extract_text(make_rtf("\n".join(paragraphs)), "text/rtf") == "\n".join(paragraphs)


def test_rtf_hex_escapes_are_read_in_the_declared_code_page() -> None:
    hexed = "".join(f"\\'{b:02x}" if b > 127 else chr(b) for b in encode_cp1258("Việt Nam"))
    data = "{\\rtf1\\ansi\\ansicpg1258{\\fonttbl{\\f0 Times;}}{\\*\\generator x;}\\f0 " + hexed
    data += "\\par}"

    assert extract_text(data.encode("ascii"), "application/rtf") == "Việt Nam"


def test_rtf_unicode_escapes_skip_fallbacks_and_pair_surrogates() -> None:
    data = rb"{\rtf1\ansi\uc2 \u7901\'3f\'3f x{\uc1\u-10179?\u-8704?}{\*\ignored hidden}\line y}"

    assert extract_text(data, "text/rtf") == "\u1edd x\N{GRINNING FACE}\ny"


def test_not_rtf_raises_extraction_error() -> None:
    with pytest.raises(ExtractionError):
        extract_text(b"hello", "text/rtf")


def test_word_97_document_is_read_with_its_rendition_not_here() -> None:
    with pytest.raises(ExtractionError, match=r"^a Word 97 file's text is read with its PDF"):
        extract_text(b"\xd0\xcf\x11\xe0", "application/msword")


@pytest.mark.parametrize("mime", ["application/zip", "image/png", ""])
def test_unknown_mime_raises_extraction_error(mime: str) -> None:
    with pytest.raises(ExtractionError, match="no text extraction"):
        extract_text(b"data", mime)


@pytest.mark.parametrize(("mime", "data"), [(DOCX, b"PK\x03\x04broken"), (ODT, b"not a zip")])
def test_broken_office_file_raises_extraction_error(mime: str, data: bytes) -> None:
    with pytest.raises(ExtractionError):
        extract_text(data, mime)


def test_docx_passed_as_odt_raises_extraction_error() -> None:
    with pytest.raises(ExtractionError, match="ODT"):
        extract_text(make_docx_python_docx(SHORT), ODT)
