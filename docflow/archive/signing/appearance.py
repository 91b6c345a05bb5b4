"""How signatures look: the hand signature image, the red seal with its text, text blocks.

Images keep their alpha channel (pyHanko writes it as an /SMask), so the seal shows the
signature under it. Text is NFC-normalised and set in DejaVu Sans (see fonts).
"""

from __future__ import annotations

import unicodedata
from pathlib import Path

from PIL import Image
from pyhanko.pdf_utils.content import PdfContent
from pyhanko.pdf_utils.images import PdfImage
from pyhanko.pdf_utils.layout import AxisAlignment, InnerScaling, Margins, SimpleBoxLayoutRule
from pyhanko.pdf_utils.text import TextBoxStyle
from pyhanko.stamp import BaseStampStyle, StaticStampStyle, TextStampStyle

from docflow.archive.signing.fonts import font_factory
from docflow.archive.signing.keys import SigningError


def _image(path: Path) -> PdfImage:
    """The PNG with its alpha channel (pyHanko turns alpha into an /SMask)."""
    try:
        with Image.open(path) as img:
            rgba = img.convert("RGBA")
    except OSError as e:
        raise SigningError(f"appearance image {path} cannot be read ({e})") from None
    return PdfImage(rgba)


def _fill(margins: Margins) -> SimpleBoxLayoutRule:
    """Images scale up or down to the box, keeping their proportions, top-aligned."""
    return SimpleBoxLayoutRule(
        x_align=AxisAlignment.ALIGN_MID,
        y_align=AxisAlignment.ALIGN_MAX,
        margins=margins,
        inner_content_scaling=InnerScaling.STRETCH_TO_FIT,
    )


def text_stamp(
    lines_size: int,
    x_align: AxisAlignment,
    y_align: AxisAlignment,
    margin: int = 2,
    border: int = 0,
    background: PdfContent | None = None,
    background_margins: Margins | None = None,
) -> TextStampStyle:
    """Text in an embedded DejaVu subset, lines left-aligned within their block."""
    # the block is best placed MIN or MAX: MID logs a warning when shrinking leaves it
    # a float epsilon wider than the box
    tight = SimpleBoxLayoutRule(AxisAlignment.ALIGN_MIN, AxisAlignment.ALIGN_MIN)
    return TextStampStyle(
        border_width=border,
        background=background,
        background_opacity=1.0,
        background_layout=_fill(background_margins or Margins()),
        text_box_style=TextBoxStyle(
            font=font_factory(lines_size),
            font_size=lines_size,
            leading=lines_size + 2,
            box_layout_rule=tight,
        ),
        inner_content_layout=SimpleBoxLayoutRule(
            x_align, y_align, margins=Margins(margin, margin, margin, margin)
        ),
        stamp_text="%(lines)s",
    )


def signature_style(image: Path | None, caption: bool = False) -> BaseStampStyle:
    """The hand signature image filling the box, or the name when there is no image.

    `caption`: the field's text lines (a delegate's capacity, "KT. …") go at its top, over
    the image, for a signature block the drafter wrote for someone else."""
    if image is not None and caption:
        return text_stamp(
            9,
            AxisAlignment.ALIGN_MIN,
            AxisAlignment.ALIGN_MAX,
            background=_image(image),
            background_margins=Margins(1, 1, 14, 1),
        )
    if image is not None:
        background: PdfContent = _image(image)
        return StaticStampStyle(
            background=background, border_width=0, background_layout=_fill(Margins())
        )
    return text_stamp(10, AxisAlignment.ALIGN_MAX, AxisAlignment.ALIGN_MID)  # clear of the seal


def seal_style(image: Path | None, height: float) -> BaseStampStyle:
    """The red seal in the upper part of a box this high, the organisation and time under it."""
    band = round(height * 0.22)
    seal = _image(image) if image is not None else None
    return text_stamp(
        10,
        AxisAlignment.ALIGN_MIN,
        AxisAlignment.ALIGN_MIN,
        background=seal,
        background_margins=Margins(1, 1, 1, band),
    )


def nfc(text: str) -> str:
    """One code point per Vietnamese letter, so every letter has its own glyph."""
    return unicodedata.normalize("NFC", text)
