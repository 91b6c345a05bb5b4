"""Scanned pages and phone photos of Vietnamese text, made here (no fixtures on disk): what an
office mails when it has only paper. Used by tests/integration/test_ocr.py and
scripts/bench_ocr.py."""

from __future__ import annotations

import io
import textwrap
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

SAMPLE = Path(__file__).parent / "data" / "vi-admin-reform-report-2018.txt"
SERIF = Path("/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf")  # Vietnamese glyphs
DPI = 200
A4_INCHES = (8.27, 11.69)


def sample_lines(first: int = 0, count: int = 12, width: int = 68) -> list[str]:
    """`count` lines of the sample report, wrapped as a typed page wraps them."""
    words = " ".join(SAMPLE.read_text(encoding="utf-8").split())
    return textwrap.wrap(words, width)[first : first + count]


def page_image(lines: list[str], dpi: int = DPI) -> Image.Image:
    """An A4 page (greyscale) at `dpi` with `lines` typed on it in 12-point serif."""
    size = (round(A4_INCHES[0] * dpi), round(A4_INCHES[1] * dpi))
    page = Image.new("L", size, 255)
    draw = ImageDraw.Draw(page)
    font = ImageFont.truetype(str(SERIF), round(12 * dpi / 72))
    margin, step = round(0.9 * dpi), round(0.27 * dpi)
    for i, line in enumerate(lines):
        draw.text((margin, margin + i * step), line, font=font, fill=0)
    return page


def scan_pdf(pages: list[list[str]], dpi: int = DPI) -> bytes:
    """A PDF of page images only, as a scanner makes it: no text layer."""
    images = [page_image(lines, dpi) for lines in pages]
    out = io.BytesIO()
    images[0].save(out, "PDF", resolution=dpi, save_all=True, append_images=images[1:])
    return out.getvalue()


def photo_jpeg(lines: list[str]) -> bytes:
    """A phone's photo of a typed page: colour, slightly askew, on a grey desk, and no
    resolution in the file (phones write none, or 72 dpi)."""
    page = page_image(lines).convert("RGB")
    askew = page.rotate(1.2, expand=True, fillcolor=(205, 200, 190), resample=Image.BICUBIC)
    out = io.BytesIO()
    askew.save(out, "JPEG", quality=85)
    return out.getvalue()


def logo_png() -> bytes:
    """A signature's logo: a small picture that is no page."""
    image = Image.new("RGBA", (180, 60), (0, 80, 160, 255))
    ImageDraw.Draw(image).text((10, 20), "Ban Dân tộc", fill=(255, 255, 255, 255))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()
