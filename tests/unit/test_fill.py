"""Filling the number and date of a Decree 30 draft, and finding the signature gap in its PDF.

Documents are built as Word lays them out (header table, runs split by spell-check and
rsids, NFD text); the filled files are rendered once by LibreOffice and read back with
poppler, which is also the independent judge of where the signature box landed.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import docx
import pytest
from docx.oxml import parse_xml
from pypdf import PdfReader
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen import canvas

from docflow.archive.fill import FillError, date_words, fill_docx
from docflow.archive.layout import Box, signature_box
from docflow.documents.converters import FONTS
from tests.decree30 import REFERENCE, make_decree30_docx
from tests.filebuilders import make_docx_python_docx

DAY = date(2027, 2, 5)
NUMBER = "01/KH-BDT"
FILLED_NUMBER = "Số: 01/KH-BDT"
FILLED_DATE = "Hà Nội, ngày 05 tháng 02 năm 2027"
SIGNER = "Nguyễn Văn Đức"
W_NS = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
DEJAVU = Path("/usr/share/fonts/truetype/dejavu")


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def header_lines(data: bytes) -> list[str]:
    """NFC text of the first table's paragraphs, then of the body paragraphs."""
    document = docx.Document(io.BytesIO(data))
    tables = document.tables[:1]
    cells = [p for t in tables for cell in t.rows[0].cells for p in cell.paragraphs]
    return [nfc(p.text) for p in [*cells, *document.paragraphs]]


def paragraph_docx(*inner_xml: str) -> bytes:
    """A DOCX whose paragraphs are written by hand, run by run, as Word saves them."""
    document = docx.Document()
    body = document.element.body
    for xml in inner_xml:
        body.insert(len(body) - 1, parse_xml(f'<w:p xmlns:w="{W_NS}">{xml}</w:p>'))
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def run(text: str, props: str = "", rsid: str = "00A1B2C3") -> str:
    pieces = re.split(r"(\t)", text)
    inner = "".join(
        "<w:tab/>" if piece == "\t" else f'<w:t xml:space="preserve">{piece}</w:t>'
        for piece in pieces
        if piece
    )
    return f'<w:r w:rsidRPr="{rsid}"><w:rPr>{props}</w:rPr>{inner}</w:r>'


# ---- Task A: filling -------------------------------------------------------------------


def test_header_table_with_blanks_over_many_runs() -> None:
    data = make_decree30_docx()
    source = docx.Document(io.BytesIO(data))
    left, right = source.tables[0].rows[0].cells
    assert len(left.paragraphs[-1].runs) >= 5 and len(right.paragraphs[-1].runs) >= 8
    assert left.paragraphs[-1]._p.findall(f"{{{W_NS}}}proofErr")  # Word's spell-check marks

    filled = fill_docx(data, NUMBER, DAY)

    assert (filled.number_filled, filled.date_filled) == (True, True)
    document = docx.Document(io.BytesIO(filled.docx))
    left, right = document.tables[0].rows[0].cells
    assert [p.text for p in left.paragraphs] == ["UBND TỈNH LÂM ĐỒNG", "BAN DÂN TỘC", FILLED_NUMBER]
    assert [p.text for p in right.paragraphs] == [
        "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
        "Độc lập - Tự do - Hạnh phúc",
        FILLED_DATE,
    ]
    date_runs = [r for r in right.paragraphs[-1].runs if r.text]
    assert date_runs and all(r.italic for r in date_runs)  # the date stays in italics
    assert nfc(document.paragraphs[2].text) == REFERENCE


@pytest.mark.parametrize("header_table", [True, False], ids=["table", "paragraphs"])
@pytest.mark.parametrize(
    ("line", "number", "expected"),
    [
        ("Số:    /KH-BDT", "01/KH-BDT", "Số: 01/KH-BDT"),
        ("Số: …/QĐ-BDT", "01/QĐ-BDT", "Số: 01/QĐ-BDT"),
        ("Số: .../QĐ-BDT", "01/QĐ-BDT", "Số: 01/QĐ-BDT"),
        ("Số:     /BDT-VP", "01/BDT-VP", "Số: 01/BDT-VP"),
        ("Số:  /2027/NĐ-CP", "01/2027/NĐ-CP", "Số: 01/2027/NĐ-CP"),
        ("Số:\u00a0\u00a0/KH-BDT", "07/QĐ-BDT", "Số: 07/QĐ-BDT"),  # docflow's notation wins
        ("Số:", "01/KH-BDT", "Số: 01/KH-BDT"),
        ("SỐ: ____/KH-BDT", "01/KH-BDT", "SỐ: 01/KH-BDT"),
    ],
)
def test_number_lines(header_table: bool, line: str, number: str, expected: str) -> None:
    filled = fill_docx(make_decree30_docx(number_line=line, header_table=header_table), number, DAY)
    assert filled.number_filled
    assert expected in header_lines(filled.docx)


@pytest.mark.parametrize("header_table", [True, False], ids=["table", "paragraphs"])
@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("Hà Nội, ngày … tháng … năm …", FILLED_DATE),
        ("Hà Nội, ngày   tháng   năm 20…", FILLED_DATE),
        ("Lạng Sơn, ngày ..... tháng ..... năm 2027", "Lạng Sơn, ngày 05 tháng 02 năm 2027"),
        ("ngày    tháng    năm 20...", "ngày 05 tháng 02 năm 2027"),
        ("Hà Nội, ngày\t\ttháng\t\tnăm 20__", FILLED_DATE),
        ("Hà Nội, ngày…tháng…năm 202…", FILLED_DATE),
    ],
)
def test_date_lines(header_table: bool, line: str, expected: str) -> None:
    filled = fill_docx(make_decree30_docx(date_line=line, header_table=header_table), NUMBER, DAY)
    assert filled.date_filled
    assert expected in header_lines(filled.docx)


def test_plain_paragraph_header() -> None:
    filled = fill_docx(make_decree30_docx(header_table=False), NUMBER, DAY)

    assert (filled.number_filled, filled.date_filled) == (True, True)
    texts = [p.text for p in docx.Document(io.BytesIO(filled.docx)).paragraphs]
    assert texts[:7] == [
        "UBND TỈNH LÂM ĐỒNG",
        "BAN DÂN TỘC",
        FILLED_NUMBER,
        "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
        "Độc lập - Tự do - Hạnh phúc",
        FILLED_DATE,
        "KẾ HOẠCH",
    ]


def test_number_and_date_on_one_tabbed_line() -> None:
    data = paragraph_docx(run("Số:    /KH-BDT\t\tHà Nội, ngày    tháng    năm 20…"))

    filled = fill_docx(data, NUMBER, DAY)

    assert (filled.number_filled, filled.date_filled) == (True, True)
    paragraph = docx.Document(io.BytesIO(filled.docx)).paragraphs[0]
    assert paragraph.text == f"{FILLED_NUMBER}\t\t{FILLED_DATE}"


def test_hand_split_runs_keep_formatting_and_neighbours() -> None:
    bold, italic, highlight = "<w:b/>", "<w:i/>", '<w:highlight w:val="yellow"/>'
    number = (
        run("S", bold)
        + '<w:proofErr w:type="spellStart"/>'
        + run("ố:", bold)
        + '<w:proofErr w:type="spellEnd"/>'
        + run("  ", "", "00B00001")
        + '<w:bookmarkStart w:id="3" w:name="_GoBack"/>'
        + run(" \u2026", highlight, "00B00002")
        + '<w:bookmarkEnd w:id="3"/>'
        + f'<w:smartTag w:uri="urn:x" w:element="place">{run("/KH", "")}</w:smartTag>'
        + run("-BDT", "")
    )
    place = (
        run("Hà Nội", bold + italic)
        + run(", ng", italic)
        + run("ày", italic)
        + run("  ", italic + highlight)  # the day's blank starts here: " 05 " takes its rPr
        + run("… th", italic)
        + run("áng … n", italic)
        + run("ăm 20", italic)
        + run("…", italic)
    )

    filled = fill_docx(paragraph_docx(number, place), NUMBER, DAY)

    first, second = docx.Document(io.BytesIO(filled.docx)).paragraphs[:2]
    assert first.text == FILLED_NUMBER
    runs = [(r.text, bool(r.bold), r.font.highlight_color is not None) for r in first.runs]
    assert runs[:3] == [("S", True, False), ("ố:", True, False), (" 01/KH-BDT", False, False)]
    assert all(text == "" for text, _, _ in runs[3:])  # the rest of the blank and notation
    assert second.text == FILLED_DATE
    assert second.runs[0].text == "Hà Nội" and second.runs[0].bold  # untouched neighbour
    assert all(r.italic for r in second.runs)
    assert "".join(r.text for r in second.runs if r.font.highlight_color) == " 05 "


def test_decomposed_text_is_recognised() -> None:
    data = make_decree30_docx(nfd=True)
    left = docx.Document(io.BytesIO(data)).tables[0].rows[0].cells[0]
    texts = [r.text for r in left.paragraphs[-1].runs]
    assert any(unicodedata.combining(t[0]) for t in texts if t)  # marks split off into runs

    filled = fill_docx(data, NUMBER, DAY)

    assert (filled.number_filled, filled.date_filled) == (True, True)
    lines = header_lines(filled.docx)
    assert FILLED_NUMBER in lines and FILLED_DATE in lines


def test_filled_numbers_and_body_references_are_left_alone() -> None:
    blank_in_body = "Số:    /KH-BDT (mẫu trong phụ lục)"
    data = make_decree30_docx(
        number_line="Số: 12/BDT-VP",
        date_line="Hà Nội, ngày 03 tháng 01 năm 2027",
        extra=[blank_in_body],
    )

    filled = fill_docx(data, NUMBER, DAY)

    assert (filled.number_filled, filled.date_filled) == (False, False)
    assert filled.docx == data
    lines = header_lines(filled.docx)
    assert "Số: 12/BDT-VP" in lines and blank_in_body in lines and REFERENCE in lines


@pytest.mark.parametrize(
    "line", ["Số: 12/BDT-VP", "Số:\t12/BDT-VP", "Số: 01/KH-BDT", "Số: 7…/KH-BDT", "Số: KH-BDT"]
)
def test_number_lines_not_blank(line: str) -> None:
    filled = fill_docx(make_decree30_docx(number_line=line), NUMBER, DAY)
    assert (filled.number_filled, filled.date_filled) == (False, True)
    assert line in header_lines(filled.docx)


def test_only_the_header_is_filled() -> None:
    data = make_decree30_docx(extra=["Căn cứ Công văn số 12/BDT-VP ngày    tháng    năm 2026"])

    filled = fill_docx(data, NUMBER, DAY)

    lines = header_lines(filled.docx)
    assert FILLED_DATE in lines and REFERENCE in lines
    assert "Căn cứ Công văn số 12/BDT-VP ngày    tháng    năm 2026" in lines


def test_no_lines_to_fill() -> None:
    data = make_docx_python_docx(["Thông báo", "Số liệu: 12 người", "Họ, ngày tháng năm sinh"])

    filled = fill_docx(data, NUMBER, DAY)

    assert (filled.number_filled, filled.date_filled) == (False, False)
    assert filled.docx == data
    assert len(docx.Document(io.BytesIO(filled.docx)).paragraphs) == 3


def test_not_a_docx() -> None:
    with pytest.raises(FillError):
        fill_docx(b"%PDF-1.7 not a docx", NUMBER, DAY)


@pytest.mark.parametrize(
    ("day", "words", "line"),
    [
        (date(2027, 2, 5), ("05", "02", "2027"), "ngày 05 tháng 02 năm 2027"),
        (date(2027, 3, 9), ("09", "3", "2027"), "ngày 09 tháng 3 năm 2027"),
        (date(2026, 12, 15), ("15", "12", "2026"), "ngày 15 tháng 12 năm 2026"),
        (date(2027, 1, 3), ("03", "01", "2027"), "ngày 03 tháng 01 năm 2027"),
        (date(2027, 10, 1), ("01", "10", "2027"), "ngày 01 tháng 10 năm 2027"),
    ],
)
def test_leading_zeros(day: date, words: tuple[str, str, str], line: str) -> None:
    assert date_words(day) == words
    filled = fill_docx(make_decree30_docx(), NUMBER, day)
    assert f"Hà Nội, {line}" in header_lines(filled.docx)


# ---- rendered by LibreOffice -----------------------------------------------------------


@dataclass(frozen=True)
class Rendition:
    pdf: bytes
    path: Path

    def text(self) -> str:
        out = subprocess.run(["pdftotext", str(self.path), "-"], capture_output=True, check=True)
        return " ".join(out.stdout.decode().split())

    def words(self, page: int) -> list[tuple[str, float, float, float, float]]:
        """(word, x1, y1, x2, y2) from poppler, turned to PDF space (origin bottom-left)."""
        args = ["pdftotext", "-bbox", "-f", str(page + 1), "-l", str(page + 1)]
        xml = subprocess.run([*args, str(self.path), "-"], capture_output=True, check=True)
        text = xml.stdout.decode()
        page_box = re.search(r'<page width="[\d.]+" height="([\d.]+)"', text)
        assert page_box is not None
        height = float(page_box[1])
        pattern = r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">([^<]*)<'
        return [
            (w, float(x1), height - float(y2), float(x2), height - float(y1))
            for x1, y1, x2, y2, w in re.findall(pattern, text)
        ]


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Rendition]]:
    """One LibreOffice run for every document the rendering tests need."""
    if not (shutil.which("soffice") and shutil.which("pdftotext")):
        pytest.skip("LibreOffice and poppler-utils are needed")
    directory = tmp_path_factory.mktemp("render")
    sources = {
        "table": make_decree30_docx(),
        "paragraphs": make_decree30_docx(header_table=False),
        "three_pages": make_decree30_docx(body_paragraphs=12),
    }
    for name, data in sources.items():
        (directory / f"{name}.docx").write_bytes(fill_docx(data, NUMBER, DAY).docx)
    command = [
        "soffice",
        f"-env:UserInstallation=file://{directory}/profile",
        "--headless",
        "--convert-to",
        "pdf",
        "--outdir",
        str(directory),
        *(str(directory / f"{name}.docx") for name in sources),
    ]
    env = {**os.environ, "FONTCONFIG_FILE": str(FONTS)}  # the fonts docflow's converters use
    subprocess.run(command, capture_output=True, check=True, timeout=180, env=env)
    yield {
        name: Rendition((directory / f"{name}.pdf").read_bytes(), directory / f"{name}.pdf")
        for name in sources
    }


@pytest.mark.parametrize("name", ["table", "paragraphs"])
def test_rendered_number_and_date(rendered: dict[str, Rendition], name: str) -> None:
    text = rendered[name].text()
    assert FILLED_NUMBER in text and FILLED_DATE in text
    assert "/KH-BDT /KH-BDT" not in text and "…" not in text


@pytest.mark.parametrize("name", ["table", "three_pages"])
def test_signature_box_in_rendered_block(rendered: dict[str, Rendition], name: str) -> None:
    rendition = rendered[name]
    pages = len(PdfReader(io.BytesIO(rendition.pdf)).pages)

    box = signature_box(rendition.pdf, SIGNER, ("KT. TRƯỞNG BAN", "PHÓ TRƯỞNG BAN"))

    assert box is not None and box.page == pages - 1
    words = rendition.words(box.page)
    signer = [w for w in words if w[0] in SIGNER.split()][-3:]
    deputy = next(w for w in words if w[0] == "PHÓ")
    name_top, name_x1, name_x2 = max(w[4] for w in signer), signer[0][1], signer[-1][3]
    assert name_top <= box.y1 < name_top + 4  # just above the name
    assert deputy[2] - 4 < box.y2 <= deputy[2]  # just below "PHÓ TRƯỞNG BAN"
    assert box.y2 - box.y1 > 50  # the four empty lines
    assert abs((box.x1 + box.x2) / 2 - (name_x1 + name_x2) / 2) < 1.0  # centred on the name
    assert box.x2 - box.x1 >= 120 and box.x1 > 595.3 / 2 and box.x2 < 595.3


def test_signature_box_by_any_spelling_and_not_for_strangers(
    rendered: dict[str, Rendition],
) -> None:
    pdf = rendered["table"].pdf
    box = signature_box(pdf, SIGNER)
    assert box == signature_box(pdf, "  NGUYỄN  VĂN\tĐỨC ")
    assert box == signature_box(pdf, unicodedata.normalize("NFD", SIGNER))
    assert signature_box(pdf, "Trần Thị Bình") is None
    assert signature_box(b"not a pdf", SIGNER) is None


def test_signature_box_name_in_two_fonts_next_to_recipients() -> None:
    """A generator that changes font inside the name without moving: widths from /Widths."""
    pdfmetrics.registerFont(TTFont("FillSerif", str(DEJAVU / "DejaVuSerif.ttf")))
    pdfmetrics.registerFont(TTFont("FillSerifBold", str(DEJAVU / "DejaVuSerif-Bold.ttf")))
    out = io.BytesIO()
    c = canvas.Canvas(out, pagesize=(595.3, 841.9))
    c.setFont("FillSerif", 12)
    for i, line in enumerate(["Nơi nhận:", "- Như trên;", "- Lưu: VT, VP."]):
        c.drawString(80, 300 - 15 * i, line)
    c.setFont("FillSerifBold", 13)
    c.drawCentredString(420, 300, "KT. TRƯỞNG BAN")
    c.drawCentredString(420, 284, "PHÓ TRƯỞNG BAN")
    text = c.beginText(370, 200)
    text.setFont("FillSerifBold", 13)
    text.textOut("Nguyễn Văn ")
    text.setFont("FillSerif", 13)
    text.textOut("Đức")
    c.drawText(text)
    c.showPage()
    c.save()
    end = 370 + pdfmetrics.stringWidth("Nguyễn Văn ", "FillSerifBold", 13)
    end += pdfmetrics.stringWidth("Đức", "FillSerif", 13)

    box = signature_box(out.getvalue(), SIGNER)

    assert isinstance(box, Box) and box.page == 0
    assert abs((box.x1 + box.x2) / 2 - (370 + end) / 2) < 0.5
    assert 200 + 13 <= box.y1 < 200 + 15 and 284 - 6 < box.y2 < 284


def pdf_from_objects(objects: list[str]) -> bytes:
    """A PDF written object by object (1 is the catalog), with a correct cross-reference table."""
    out = bytearray(b"%PDF-1.7\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n{body}\nendobj\n".encode()
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += "".join(f"{offset:010d} 00000 n \n" for offset in offsets).encode()
    out += (
        f"trailer << /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    )
    return bytes(out)


def stream(data: str) -> str:
    return f"<< /Length {len(data.encode())} >>\nstream\n{data}\nendstream"


def test_signature_box_with_cid_font_as_word_exports() -> None:
    """Word's PDFs use Type0 fonts (2-byte codes, /W widths) and TJ arrays with kerning."""
    chars = sorted(set("PHÓ TRƯỞNG BAN" + SIGNER))
    code = {c: i + 1 for i, c in enumerate(chars)}
    width = {c: 400 + 25 * (i % 7) for i, c in enumerate(chars)}

    def hexs(text: str) -> str:
        return "<" + "".join(f"{code[c]:04X}" for c in text) + ">"

    cmap = (
        "/CIDInit /ProcSet findresource begin 12 dict begin begincmap /CMapName /X def "
        "1 begincodespacerange <0000> <FFFF> endcodespacerange "
        f"{len(chars)} beginbfchar "
        + " ".join(f"<{code[c]:04X}> <{ord(c):04X}>" for c in chars)
        + " endbfchar endcmap CMapName currentdict /CMap defineresource pop end end"
    )
    content = (
        f"BT /F1 13 Tf 350 284 Td {hexs('PHÓ TRƯỞNG BAN')} Tj ET "
        f"BT /F1 13 Tf 370 200 Td [{hexs('Nguyễn')} -250 {hexs('Văn')}] TJ {hexs(' Đức')} Tj ET"
    )
    w = " ".join(f"{code[c]} [{width[c]}]" for c in chars)
    pdf = pdf_from_objects(
        [
            "<< /Type /Catalog /Pages 2 0 R >>",
            "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595.3 841.9] "
            "/Resources << /Font << /F1 5 0 R >> >> /Contents 4 0 R >>",
            stream(content),
            "<< /Type /Font /Subtype /Type0 /BaseFont /X /Encoding /Identity-H "
            "/DescendantFonts [6 0 R] /ToUnicode 7 0 R >>",
            "<< /Type /Font /Subtype /CIDFontType2 /BaseFont /X /DW 1000 "
            "/CIDSystemInfo << /Registry (Adobe) /Ordering (Identity) /Supplement 0 >> "
            f"/W [{w}] >>",
            stream(cmap),
        ]
    )
    end = 370 + (sum(width[c] for c in SIGNER.replace(" ", "")) + width[" "] + 250) * 13 / 1000

    box = signature_box(pdf, SIGNER)

    assert box is not None and box.page == 0
    assert abs((box.x1 + box.x2) / 2 - (370 + end) / 2) < 0.01
    assert box.x2 - box.x1 == pytest.approx(120)
    assert 213 <= box.y1 < 215 and 278 < box.y2 < 284
