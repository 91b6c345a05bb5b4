"""The issued copy of a PDF: each page of the original, the first one stamped.

The stamp (number and date, as the clerical office writes them by hand or with a
rubber stamp) is drawn by reportlab with a font that has Vietnamese glyphs and merged
onto the first page with pypdf. The original bytes are not touched; the stamped copy
is a new file beside it.
"""

from __future__ import annotations

import io
from functools import cache
from pathlib import Path

from pypdf import PdfReader, PdfWriter

FONT_CANDIDATES = (
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),  # Debian: fonts-dejavu-core
    Path("/usr/share/fonts/dejavu/DejaVuSans.ttf"),
    Path("/usr/share/fonts/TTF/DejaVuSans.ttf"),
)
FONT_NAME = "DocflowStamp"


class StampError(Exception):
    """The PDF cannot be stamped (encrypted, broken); the issued copy is the original."""


@cache
def _font() -> str:
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    for path in FONT_CANDIDATES:
        if path.exists():
            pdfmetrics.registerFont(TTFont(FONT_NAME, str(path)))
            return FONT_NAME
    raise StampError("no font with Vietnamese glyphs (install fonts-dejavu-core)")


def _overlay(width: float, height: float, lines: list[str]) -> bytes:
    from reportlab.pdfgen import canvas

    font = _font()
    out = io.BytesIO()
    c = canvas.Canvas(out, pagesize=(width, height))
    size = 10.5
    box_w = max(c.stringWidth(line, font, size) for line in lines) + 16
    box_h = len(lines) * (size + 4) + 10
    x, y = width - box_w - 28, height - box_h - 24
    c.setStrokeColorRGB(0.7, 0.05, 0.05)
    c.setFillColorRGB(0.7, 0.05, 0.05)
    c.setLineWidth(1.2)
    c.roundRect(x, y, box_w, box_h, 4, stroke=1, fill=0)
    c.setFont(font, size)
    for i, line in enumerate(lines):
        c.drawString(x + 8, y + box_h - 8 - (i + 1) * (size + 4) + 4, line)
    c.save()
    return out.getvalue()


def stamp_pdf(original: bytes, lines: list[str]) -> bytes:
    """A copy of `original` with `lines` stamped at the top right of its first page."""
    try:
        reader = PdfReader(io.BytesIO(original))
        if reader.is_encrypted:
            raise StampError("the PDF is encrypted")
        writer = PdfWriter(clone_from=reader)
        first = writer.pages[0]
        box = first.mediabox
        overlay = PdfReader(io.BytesIO(_overlay(float(box.width), float(box.height), lines)))
        first.merge_page(overlay.pages[0])
        out = io.BytesIO()
        writer.write(out)
        return out.getvalue()
    except StampError:
        raise
    except Exception as e:  # pypdf raises many kinds on damaged files
        raise StampError(f"cannot stamp: {e}") from e
