"""A Vietnamese administrative document laid out as Decree 30/2020/NĐ-CP asks, built in memory.

Header (agency left, national motto right, number and place-date under them), title,
body, signature block (recipients left, capacity, blank space and name right). The
number and date lines are left blank for docflow to fill and, like Word does, split
over several runs with rsid attributes, spell-check marks and a bookmark between them.
"""

from __future__ import annotations

import io
import re
import unicodedata
from collections.abc import Callable, Sequence

import docx
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.oxml.xmlchemy import BaseOxmlElement
from docx.shared import Length, Mm, Pt
from docx.table import Table, _Cell
from docx.text.paragraph import Paragraph

AGENCY = ("UBND TỈNH LÂM ĐỒNG", "BAN DÂN TỘC")
MOTTO = ("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", "Độc lập - Tự do - Hạnh phúc")
REFERENCE = (
    "Căn cứ Công văn số 12/BDT-VP ngày 03 tháng 01 năm 2027 của Ban Dân tộc tỉnh "
    "về việc triển khai các chương trình mục tiêu quốc gia năm 2027;"
)
BODY = (
    "Ban Dân tộc tỉnh xây dựng kế hoạch tổ chức thực hiện chính sách đối với đồng bào "
    "dân tộc thiểu số trên địa bàn tỉnh, bảo đảm đúng đối tượng, công khai, minh bạch; "
    "phối hợp chặt chẽ với các sở, ngành và Ủy ban nhân dân các huyện, thành phố trong "
    "việc rà soát, tổng hợp nhu cầu, phân bổ nguồn vốn và kiểm tra, giám sát việc thực "
    "hiện; định kỳ báo cáo kết quả về Ủy ban nhân dân tỉnh trước ngày 15 hằng tháng."
)
_Norm = Callable[[str], str]
RECIPIENTS = ("- Như trên;", "- UBND tỉnh (b/c);", "- Lưu: VT, VP.")
SIGNER_GAP = 4  # empty paragraphs between the capacity lines and the name


def make_decree30_docx(
    number_line: str = "Số:    /KH-BDT",
    date_line: str = "Hà Nội, ngày    tháng    năm 20…",
    titles: Sequence[str] = ("KT. TRƯỞNG BAN", "PHÓ TRƯỞNG BAN"),
    signer: str = "Nguyễn Văn Đức",
    body_paragraphs: int = 3,
    header_table: bool = True,
    *,
    split_runs: bool = True,
    nfd: bool = False,
    extra: Sequence[str] = (),
) -> bytes:
    """A DOCX as a drafter sends it, to fill, render, sign and issue in tests.

    `number_line`, `date_line`: the header lines as typed (blank or filled); `titles`,
    `signer`: the signature block; `body_paragraphs`: numbered body paragraphs after a
    "Căn cứ Công văn số 12/BDT-VP ..." reference, about 5.5 to an A4 page in LibreOffice
    (8: 2 pages, 55: 10 pages, 275: 50 pages); `header_table`: the borderless two-column
    header table, or plain paragraphs; `split_runs`: the number and date lines in many
    runs; `nfd`: all text decomposed (combining marks); `extra`: paragraphs put before
    the reference.
    """
    norm: _Norm = (lambda s: unicodedata.normalize("NFD", s)) if nfd else str
    document = docx.Document()
    section = document.sections[0]
    section.page_width, section.page_height = Mm(210), Mm(297)
    section.top_margin, section.bottom_margin = Mm(20), Mm(20)
    section.left_margin, section.right_margin = Mm(30), Mm(15)
    normal = document.styles["Normal"]
    normal.font.name = "Times New Roman"
    normal.font.size = Pt(13)
    normal.paragraph_format.space_after = Pt(0)

    if header_table:
        table = document.add_table(rows=1, cols=2)
        table.alignment = WD_TABLE_ALIGNMENT.CENTER
        left, right = _columns(table, Mm(57.8), Mm(107.2))
        agency_cell, motto_cell = _Target(left), _Target(right)
    else:
        agency_cell = motto_cell = _Target(None, document)
    for i, line in enumerate(AGENCY):
        p = agency_cell.paragraph(WD_ALIGN_PARAGRAPH.CENTER if header_table else None)
        p.add_run(norm(line)).bold = i == 1
        _size(p, 12)
    number = agency_cell.paragraph(WD_ALIGN_PARAGRAPH.CENTER if header_table else None)
    number.paragraph_format.space_before = Pt(6)
    _runs(number, norm(number_line), split_runs, italic=False, size=13)
    for i, line in enumerate(MOTTO):
        p = motto_cell.paragraph(WD_ALIGN_PARAGRAPH.CENTER)
        p.add_run(norm(line)).bold = True
        _size(p, 12 if i == 0 else 13)
    place = motto_cell.paragraph(
        WD_ALIGN_PARAGRAPH.CENTER if header_table else WD_ALIGN_PARAGRAPH.RIGHT
    )
    place.paragraph_format.space_before = Pt(6)
    _runs(place, norm(date_line), split_runs, italic=True, size=13)

    for text, bold in (("KẾ HOẠCH", True), ("Triển khai chính sách dân tộc năm 2027", True)):
        p = document.add_paragraph()
        p.alignment = WD_ALIGN_PARAGRAPH.CENTER
        p.paragraph_format.space_before = Pt(12 if text == "KẾ HOẠCH" else 0)
        p.add_run(norm(text)).bold = bold
    for text in extra:
        document.add_paragraph(norm(text))
    for i in range(body_paragraphs + 1):
        p = document.add_paragraph(norm(REFERENCE if i == 0 else f"{i}. {BODY}"))
        p.alignment = WD_ALIGN_PARAGRAPH.JUSTIFY
        p.paragraph_format.first_line_indent = Mm(10)
        p.paragraph_format.space_before = Pt(6)

    _signature_block(document, [norm(t) for t in titles], norm(signer), norm)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


class _Target:
    """Where header paragraphs go: a table cell (reusing its empty first paragraph) or the body."""

    def __init__(self, cell: _Cell | None, document: docx.document.Document | None = None):
        self.cell, self.document, self.fresh = cell, document, cell is not None

    def paragraph(self, align: WD_ALIGN_PARAGRAPH | None) -> Paragraph:
        p: Paragraph
        if self.cell is not None and self.fresh:
            self.fresh = False
            p = self.cell.paragraphs[0]
        elif self.cell is not None:
            p = self.cell.add_paragraph()
        else:
            assert self.document is not None
            p = self.document.add_paragraph()
        if align is not None:
            p.alignment = align
        return p


def _signature_block(
    document: docx.document.Document, titles: list[str], signer: str, norm: _Norm
) -> None:
    document.add_paragraph()
    table = document.add_table(rows=1, cols=2)
    left, right = _columns(table, Mm(70), Mm(95))
    row_props = table.rows[0]._tr.get_or_add_trPr()
    row_props.append(_mark("w:cantSplit", {}))  # the block moves to the next page whole
    heading = left.paragraphs[0]
    run = heading.add_run(norm("Nơi nhận:"))
    run.bold = run.italic = True
    _size(heading, 12)
    for line in RECIPIENTS:
        _size(left.add_paragraph(norm(line)), 11)
    for i, line in enumerate([*titles, *([""] * SIGNER_GAP), signer]):
        p = right.paragraphs[0] if i == 0 else right.add_paragraph()
        p.alignment = WD_ALIGN_PARAGRAPH.CENTER
        if line:
            p.add_run(line).bold = True


def _runs(p: Paragraph, text: str, split: bool, *, italic: bool, size: int) -> None:
    """Word's way: pieces in runs of their own, proofErr and a bookmark in between."""
    pieces = _pieces(text) if split else [text]
    for i, piece in enumerate(pieces):
        if split and i == 1:
            p._p.append(_mark("w:proofErr", {"w:type": "spellStart"}))
        if split and i == len(pieces) // 2:
            p._p.append(_mark("w:bookmarkStart", {"w:id": "0", "w:name": "_GoBack"}))
            p._p.append(_mark("w:bookmarkEnd", {"w:id": "0"}))
        run = p.add_run(piece)
        run.italic = italic or None
        run.font.size = Pt(size)
        run._r.set(qn("w:rsidRPr"), f"00{i:02d}A1B2")
        if split and i == 1:
            p._p.append(_mark("w:proofErr", {"w:type": "spellEnd"}))


def _pieces(text: str) -> list[str]:
    """Words split in two, blanks split in two: every blank spans at least two runs."""
    pieces: list[str] = []
    for token in re.findall(r"[\s.…_]+|[^\s.…_]+", text):
        cut = max(1, len(token) // 2)
        pieces.extend(part for part in (token[:cut], token[cut:]) if part)
    return pieces


def _mark(tag: str, attrs: dict[str, str]) -> BaseOxmlElement:
    element = OxmlElement(tag)
    for key, value in attrs.items():
        element.set(qn(key), value)
    return element


def _columns(table: Table, left: Length, right: Length) -> tuple[_Cell, _Cell]:
    """Fixed column widths in the grid too: LibreOffice lays tables out by w:gridCol."""
    table.autofit = False
    cells = table.rows[0].cells
    for column, cell, width in zip(table.columns, cells, (left, right), strict=True):
        column.width = width
        cell.width = width
    return cells[0], cells[1]


def _size(p: Paragraph, points: int) -> None:
    for run in p.runs:
        run.font.size = Pt(points)
