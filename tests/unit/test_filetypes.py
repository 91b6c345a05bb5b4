"""detect() decides by content: libmagic, corrected by looking inside office containers."""

from __future__ import annotations

import io
import random
import zipfile
from pathlib import Path

import magic
import pytest

from docflow.intake.filetypes import KIND_MIME, Detected, detect, page_like
from tests.filebuilders import (
    DEJAVU,
    encode_cp1258,
    make_docx_foreign,
    make_docx_python_docx,
    make_odt,
    make_ole,
    make_pdf,
    make_rtf,
)
from tests.scans import logo_png, page_image, photo_jpeg, sample_lines

SAMPLE = Path(__file__).parent.parent / "data" / "vi-admin-reform-report-2018.txt"
PARAGRAPHS = ["Kế hoạch đổi mới năm 2027", "Tờ trình số 12/TTr-SNV"]


def libmagic(data: bytes) -> str:
    return str(magic.from_buffer(data, mime=True))


def zip_of(*members: tuple[str, str]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in members:
            archive.writestr(name, text)
    return out.getvalue()


def content_types(main: str) -> str:
    return (
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        f'<Override PartName="/x/main.xml" ContentType="{main}"/></Types>'
    )


def test_kind_mime_covers_the_office_formats() -> None:
    assert set(KIND_MIME) == {
        "docx", "doc", "odt", "pdf", "rtf", "txt", "html", "xlsx", "ods", "pptx", "odp",
        "jpeg", "png", "tiff",
    }  # fmt: skip
    assert KIND_MIME["docx"] == (
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    )


def test_docx_written_by_python_docx_is_docx() -> None:
    assert detect(make_docx_python_docx(PARAGRAPHS)) == Detected(KIND_MIME["docx"], "docx")


def test_foreign_docx_is_docx_although_libmagic_says_octet_stream() -> None:
    data = make_docx_foreign(PARAGRAPHS)

    assert libmagic(data) == "application/octet-stream"  # the container inspection decides
    assert detect(data) == Detected(KIND_MIME["docx"], "docx")


def test_padded_foreign_docx_is_docx_although_libmagic_says_zip() -> None:
    data = make_docx_foreign(PARAGRAPHS, padding_bytes=200_000)

    assert len(data) > 200_000
    # libmagic 5.44 says octet-stream for the whole file, zip for its first 64 KB
    assert libmagic(data) in ("application/zip", "application/octet-stream")
    assert libmagic(data[: 64 * 1024]) in ("application/zip", "application/octet-stream")
    assert detect(data) == Detected(KIND_MIME["docx"], "docx")


def test_zip_with_only_word_document_xml_is_docx() -> None:
    data = zip_of(("aaa.txt", "padding"), ("word/document.xml", "<w:document/>"))

    assert detect(data).kind == "docx"


@pytest.mark.parametrize(
    ("main", "kind"),
    [
        ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml", "xlsx"),
        (
            "application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml",
            "pptx",
        ),
    ],
)
def test_ooxml_main_part_content_type_decides_kind(main: str, kind: str) -> None:
    data = zip_of(("docProps/app.xml", "<x/>"), ("[Content_Types].xml", content_types(main)))

    assert detect(data) == Detected(KIND_MIME[kind], kind)


def test_odt_built_with_zipfile_is_odt() -> None:
    assert detect(make_odt(PARAGRAPHS)) == Detected(KIND_MIME["odt"], "odt")


@pytest.mark.parametrize("kind", ["ods", "odp"])
def test_odf_mimetype_member_decides_even_when_not_first(kind: str) -> None:
    data = zip_of(("content.xml", "<x/>"), ("mimetype", KIND_MIME[kind]))

    assert detect(data) == Detected(KIND_MIME[kind], kind)


def test_plain_zip_stays_zip_without_kind() -> None:
    data = zip_of(("a.txt", "hello"), ("b/c.txt", "world"))

    assert detect(data) == Detected("application/zip", None)


@pytest.mark.parametrize("data", [b"PK\x03\x04" + bytes(100), b"PK\x05\x06" + b"\xff" * 18])
def test_broken_zip_never_raises_and_has_no_kind(data: bytes) -> None:
    assert detect(data).kind is None


@pytest.mark.skipif(not DEJAVU.exists(), reason="no DejaVu Sans for Vietnamese glyphs")
def test_pdf_with_vietnamese_text_is_pdf() -> None:
    assert detect(make_pdf(SAMPLE.read_text("utf-8"))) == Detected("application/pdf", "pdf")


def test_elf_executable_named_pdf_is_not_pdf() -> None:
    detected = detect(Path("/bin/ls").read_bytes())

    assert detected.kind is None
    assert detected.mime != "application/pdf"


def test_windows_executable_is_not_pdf() -> None:
    data = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + bytes(100) + b"PE\x00\x00"

    assert detect(data) == Detected("application/x-dosexec", None)


def test_rtf_is_rtf() -> None:
    assert detect(make_rtf("Tờ trình\nsố 12")) == Detected("text/rtf", "rtf")


def test_utf8_vietnamese_text_is_txt() -> None:
    assert detect(SAMPLE.read_bytes()) == Detected("text/plain", "txt")


def test_cp1258_vietnamese_text_is_txt() -> None:
    data = encode_cp1258(SAMPLE.read_text("utf-8"))

    assert detect(data) == Detected("text/plain", "txt")


def test_html_is_html() -> None:
    data = "<!DOCTYPE html><html><body><p>Xin chào</p></body></html>".encode()

    assert detect(data) == Detected("text/html", "html")


def test_word_ole_file_is_doc() -> None:
    assert detect(make_ole("WordDocument")) == Detected("application/msword", "doc")


def test_generic_ole_file_with_word_stream_name_is_doc() -> None:
    data = make_ole("Contents", extra="WordDocument".encode("utf-16-le"))

    assert libmagic(data) == "application/x-ole-storage"
    assert detect(data) == Detected("application/msword", "doc")


def test_ole_file_without_word_stream_has_no_kind() -> None:
    assert detect(make_ole("Contents")) == Detected("application/x-ole-storage", None)


def test_excel_ole_file_is_not_doc() -> None:
    assert detect(make_ole("Workbook")).kind is None


@pytest.mark.parametrize("seed", range(10))
def test_random_bytes_never_raise(seed: int) -> None:
    rng = random.Random(seed)

    assert isinstance(detect(rng.randbytes(rng.randrange(0, 3000))), Detected)


def test_empty_file_has_no_kind() -> None:
    assert detect(b"").kind is None


def test_large_text_is_still_txt() -> None:
    assert detect(SAMPLE.read_bytes() * 200).kind == "txt"


def test_a_scan_or_photo_of_a_page_is_a_page_and_a_signature_logo_is_not() -> None:
    page = page_image(sample_lines(0, 2), dpi=100)  # A4 at 100 dpi: 827 × 1169
    tiff, png = io.BytesIO(), io.BytesIO()
    page.save(tiff, "TIFF", compression="tiff_deflate")
    page.save(png, "PNG")
    assert detect(photo_jpeg(sample_lines(0, 2))) == Detected("image/jpeg", "jpeg")
    assert detect(tiff.getvalue()) == Detected("image/tiff", "tiff")
    assert detect(png.getvalue()) == Detected("image/png", "png")
    assert page_like(png.getvalue()) and page_like(photo_jpeg(sample_lines(0, 2)))
    assert not page_like(logo_png())
    assert page_like(photo_jpeg(sample_lines(0, 2))[:3000]), "damaged: kept, OCR says why"
