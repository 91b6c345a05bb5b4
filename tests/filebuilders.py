"""Builders of real office files for tests and benchmarks (no fixtures on disk)."""

from __future__ import annotations

import io
import random
import re
import struct
import unicodedata
import zipfile
from pathlib import Path
from xml.sax.saxutils import escape

import docx
from reportlab.lib.pagesizes import A4
from reportlab.lib.utils import simpleSplit
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen import canvas

from docflow.documents.legacy_tables import TCVN3, VNI_PAIRS, VNI_SINGLE

DEJAVU = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")

_W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
_CT_WORD = "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"


def make_docx_python_docx(paragraphs: list[str]) -> bytes:
    """A DOCX as python-docx writes it (`word/` members early in the zip)."""
    document = docx.Document()
    for text in paragraphs:
        document.add_paragraph(text)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def make_docx_foreign(paragraphs: list[str], padding_bytes: int = 0) -> bytes:
    """A DOCX laid out like Word/LibreOffice/DMS output: package parts first, body last.

    Runs are split and wrapped in smart tags as old Word versions do. `padding_bytes`
    adds a stored, incompressible `customXml/item1.bin` as the very first member.
    """
    body = "".join(_word_paragraph(text) for text in paragraphs)
    members = [
        (
            "[Content_Types].xml",
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/'
            'vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            '<Default Extension="bin" ContentType="application/octet-stream"/>'
            f'<Override PartName="/word/document.xml" ContentType="{_CT_WORD}"/>'
            '<Override PartName="/docProps/core.xml" ContentType="application/'
            'vnd.openxmlformats-package.core-properties+xml"/>'
            '<Override PartName="/docProps/app.xml" ContentType="application/'
            'vnd.openxmlformats-officedocument.extended-properties+xml"/>'
            "</Types>",
        ),
        (
            "_rels/.rels",
            f'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="{_PKG_REL}">'
            f'<Relationship Id="rId1" Type="{_REL}/officeDocument" Target="word/document.xml"/>'
            '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/package/2006/'
            'relationships/metadata/core-properties" Target="docProps/core.xml"/>'
            f'<Relationship Id="rId3" Type="{_REL}/extended-properties" '
            'Target="docProps/app.xml"/></Relationships>',
        ),
        (
            "docProps/core.xml",
            '<?xml version="1.0" encoding="UTF-8"?><cp:coreProperties xmlns:cp="http://'
            'schemas.openxmlformats.org/package/2006/metadata/core-properties" '
            'xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>Tờ trình</dc:title>'
            "</cp:coreProperties>",
        ),
        (
            "docProps/app.xml",
            '<?xml version="1.0" encoding="UTF-8"?><Properties xmlns="http://schemas.'
            'openxmlformats.org/officeDocument/2006/extended-properties">'
            "<Application>Microsoft Office Word</Application></Properties>",
        ),
        (
            "customXml/item1.xml",
            '<?xml version="1.0" encoding="UTF-8"?><b:Sources xmlns:b="http://schemas.'
            'openxmlformats.org/officeDocument/2006/bibliography"/>',
        ),
        (
            "word/_rels/document.xml.rels",
            f'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="{_PKG_REL}"/>',
        ),
        (
            "word/document.xml",
            f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:document xmlns:w="{_W}">'
            f"<w:body>{body}<w:sectPr/></w:body></w:document>",
        ),
    ]
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        if padding_bytes:
            noise = random.Random(padding_bytes).randbytes(padding_bytes)
            archive.writestr("customXml/item1.bin", noise, compress_type=zipfile.ZIP_STORED)
        for name, xml in members:
            archive.writestr(name, xml)
    return out.getvalue()


def _word_paragraph(text: str) -> str:
    half = len(text) // 2
    runs = [
        _word_run(text[:half]),
        f"<w:smartTag w:element='x'>{_word_run(text[half:])}</w:smartTag>",
    ]
    props = '<w:pPr><w:jc w:val="both"/></w:pPr><w:proofErr w:type="spellStart"/>'
    return f"<w:p>{props}{''.join(runs)}</w:p>"


def _word_run(text: str) -> str:
    parts = re.split(r"(\t)", text)
    inner = "".join(
        "<w:tab/>" if part == "\t" else f'<w:t xml:space="preserve">{escape(part)}</w:t>'
        for part in parts
        if part
    )
    return f'<w:r><w:rPr><w:lang w:val="vi-VN"/></w:rPr>{inner}</w:r>'


_ODF_NS = (
    'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
    'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.3"'
)


def make_odt(paragraphs: list[str]) -> bytes:
    """An ODT as LibreOffice lays it out: stored `mimetype` first, spaces as text:s, spans."""
    heading = '<text:h text:outline-level="1">{}</text:h>'
    body = "".join(
        (heading if i == 0 else "<text:p>{}</text:p>").format(_odf_inline(text))
        for i, text in enumerate(paragraphs)
    )
    content = (
        f'<?xml version="1.0" encoding="UTF-8"?><office:document-content {_ODF_NS}>'
        f"<office:body><office:text>{body}</office:text></office:body>"
        "</office:document-content>"
    )
    manifest = (
        '<?xml version="1.0" encoding="UTF-8"?><manifest:manifest xmlns:manifest="urn:oasis:'
        'names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.3">'
        '<manifest:file-entry manifest:full-path="/" manifest:media-type="application/'
        'vnd.oasis.opendocument.text"/><manifest:file-entry manifest:full-path="content.xml"'
        ' manifest:media-type="text/xml"/></manifest:manifest>'
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(
            "mimetype", "application/vnd.oasis.opendocument.text", compress_type=zipfile.ZIP_STORED
        )
        archive.writestr("META-INF/manifest.xml", manifest)
        archive.writestr("content.xml", content)
    return out.getvalue()


def _odf_inline(text: str) -> str:
    """ODF whitespace rules: runs of spaces as text:s, tabs and newlines as elements."""
    out: list[str] = []
    for token in re.split(r"(  +|\t|\n)", text):
        if token == "\t":
            out.append("<text:tab/>")
        elif token == "\n":
            out.append("<text:line-break/>")
        elif token.startswith("  "):
            out.append(f' <text:s text:c="{len(token) - 1}"/>')
        elif token:
            half = len(token) // 2
            out.append(
                f'{escape(token[:half])}<text:span text:style-name="T1">'
                f"{escape(token[half:])}</text:span>"
            )
    return "".join(out)


def make_pdf(text: str) -> bytes:
    """A PDF with `text` wrapped to the page, in DejaVu Sans when present (Vietnamese glyphs)."""
    font = "Helvetica"
    if DEJAVU.exists():
        pdfmetrics.registerFont(TTFont("DejaVuSans", str(DEJAVU)))
        font = "DejaVuSans"
    out = io.BytesIO()
    pdf = canvas.Canvas(out, pagesize=A4, invariant=True)
    width, height = A4
    y = height - 72
    for line in text.split("\n"):
        for piece in simpleSplit(line, font, 11, width - 144) or [""]:
            if y < 72:
                pdf.showPage()
                y = height - 72
            pdf.setFont(font, 11)
            pdf.drawString(72, y, piece)
            y -= 15
    pdf.save()
    return out.getvalue()


def make_ole(stream_name: str, extra: bytes = b"") -> bytes:
    """A minimal OLE2 compound file holding one stream named `stream_name`."""
    header = bytearray(512)
    header[0:8] = bytes.fromhex("D0CF11E0A1B11AE1")
    struct.pack_into("<HHHHH", header, 24, 0x3E, 3, 0xFFFE, 9, 6)
    # one FAT sector (0), directory at sector 1, no mini FAT, no DIFAT chain
    struct.pack_into("<IIIIII", header, 44, 1, 1, 0, 4096, 0xFFFFFFFE, 0)
    struct.pack_into("<II", header, 68, 0xFFFFFFFE, 0)
    header[80:512] = b"\xff" * 432
    fat = bytearray(b"\xff" * 512)
    struct.pack_into("<III", fat, 0, 0xFFFFFFFD, 0xFFFFFFFE, 0xFFFFFFFE)
    directory = bytearray(512)
    for offset, name, kind, child, start, size in (
        (0, "Root Entry", 5, 1, 0xFFFFFFFE, 0),
        (128, stream_name, 2, 0xFFFFFFFF, 2, 4096),
    ):
        encoded = name.encode("utf-16-le") + b"\0\0"
        directory[offset : offset + len(encoded)] = encoded
        struct.pack_into("<HBB", directory, offset + 64, len(encoded), kind, 1)
        struct.pack_into("<III", directory, offset + 68, 0xFFFFFFFF, 0xFFFFFFFF, child)
        struct.pack_into("<II", directory, offset + 116, start, size)
    return bytes(header + fat + directory) + bytes(4096) + extra


def encode_cp1258(text: str) -> bytes:
    """Text as Vietnamese Windows writes it: precomposed base letters plus combining tones."""
    out = bytearray()
    for char in unicodedata.normalize("NFC", text):
        try:
            out += char.encode("cp1258")
            continue
        except UnicodeEncodeError:
            pass
        base, *marks = list(unicodedata.normalize("NFD", char))
        for mark in list(marks):  # fold a mark into the base if cp1258 has it (â ê ô ơ ư ă)
            joined = unicodedata.normalize("NFC", base + mark)
            if len(joined) == 1 and _cp1258_has(joined):
                base = joined
                marks.remove(mark)
        out += (base + "".join(marks)).encode("cp1258")
    return bytes(out)


def _cp1258_has(char: str) -> bool:
    try:
        char.encode("cp1258")
    except UnicodeEncodeError:
        return False
    return True


def make_rtf(text: str) -> bytes:
    """An RTF as WordPad writes it: cp1258 code page, non-ASCII as \\uN with '?' fallback."""
    body: list[str] = []
    for ch in text:
        if ch == "\n":
            body.append("\\par\n")
        elif ch == "\t":
            body.append("\\tab ")
        elif ch in "\\{}":
            body.append("\\" + ch)
        elif ord(ch) < 128:
            body.append(ch)
        else:
            units = ch.encode("utf-16-le")
            for i in range(0, len(units), 2):
                code = int.from_bytes(units[i : i + 2], "little")
                body.append(f"\\u{code - 65536 if code > 32767 else code}?")
    header = (
        "{\\rtf1\\ansi\\ansicpg1258\\deff0{\\fonttbl{\\f0\\fswiss\\fcharset163 Arial;}}"
        "{\\colortbl ;\\red0\\green0\\blue0;}{\\*\\generator Riched20 10.0.19041}"
        "\\viewkind4\\uc1\\pard\\sa200\\sl276\\slmult1\\f0\\fs22\\lang1066 "
    )
    return (header + "".join(body) + "\\par\n}\n").encode("ascii")


# --- the old Vietnamese font encodings (docflow/documents/legacy_tables.py) --------------


def _font_char(byte: int) -> str:
    """A font byte as an office file keeps it (Windows-1252)."""
    return bytes([byte]).decode("cp1252")


_TCVN3_OF = {letter: _font_char(b) for b, letter in TCVN3.items()}
_VNI_OF = {letter: _font_char(b) for b, letter in VNI_SINGLE.items()}
_VNI_OF.update(
    {
        letter: _font_char(base) + _font_char(mark)
        for base, marks in VNI_PAIRS.items()
        for mark, letter in marks.items()
    }
)


def encode_tcvn3(text: str, capitals: bool = False) -> str:
    """`text` as a TCVN3 (.VnTime) user types it, in the characters an office file keeps:
    `Ban Dân tộc` → `Ban D©n téc`. A capital with a tone has no byte of its own: in a
    capital font (`capitals`, .VnTimeH) the small letter's byte draws it; elsewhere it
    is an error."""
    out = []
    for char in unicodedata.normalize("NFC", text):
        if char in _TCVN3_OF:
            out.append(_TCVN3_OF[char])
        elif capitals and char.lower() in _TCVN3_OF:
            out.append(_TCVN3_OF[char.lower()])
        elif char.isascii() or not char.isalpha():  # the same byte in any font
            out.append(char)
        else:
            raise ValueError(f"TCVN3 has no {char!r} outside its capital fonts")
    return "".join(out)


def encode_vni(text: str) -> str:
    """`text` as a VNI (VNI-Times) user types it: `Việt Nam` → `Vieät Nam`."""
    return "".join(_VNI_OF.get(c, c) for c in unicodedata.normalize("NFC", text))


def make_docx_in_fonts(paragraphs: list[list[tuple[str, str | None]]]) -> bytes:
    """A DOCX as python-docx writes it, each paragraph a list of (text, font name) runs
    (None: the document's default font); give legacy-font text as typed (encode_tcvn3)."""
    document = docx.Document()
    for runs in paragraphs:
        paragraph = document.add_paragraph()
        for text, font in runs:
            run = paragraph.add_run(text)
            if font is not None:
                run.font.name = font
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


__all__ = [
    "DEJAVU",
    "encode_cp1258",
    "encode_tcvn3",
    "encode_vni",
    "make_docx_foreign",
    "make_docx_in_fonts",
    "make_docx_python_docx",
    "make_odt",
    "make_ole",
    "make_pdf",
    "make_rtf",
]
