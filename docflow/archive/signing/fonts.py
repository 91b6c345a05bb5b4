"""DejaVu Sans for signature appearances: pyHanko's default Courier garbles "Nguyễn".

pyHanko embeds a subset holding exactly the glyphs an appearance uses (a CID font with
a ToUnicode map, so the text can be searched and copied). Two fixes on top of it: its
factory opens the font file and never closes it (this one reads the bytes once), and it
writes glyph widths in font units where PDF wants thousandths of an em, which spreads
the letters of a 2048-unit font such as DejaVu to twice their width.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, BinaryIO

from fontTools import subset, ttLib
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.font.opentype import GlyphAccumulator, GlyphAccumulatorFactory
from pyhanko.pdf_utils.writer import BasePdfFileWriter

FONT_CANDIDATES = (
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),  # Debian: fonts-dejavu-core
    Path("/usr/share/fonts/dejavu/DejaVuSans.ttf"),
    Path("/usr/share/fonts/TTF/DejaVuSans.ttf"),
)


@cache
def font_path() -> Path:
    """The first DejaVu Sans found; signing without Vietnamese glyphs is refused."""
    for path in FONT_CANDIDATES:
        if path.exists():
            return path
    from docflow.archive.signing.keys import SigningError

    raise SigningError("no font with Vietnamese glyphs (install fonts-dejavu-core)")


@cache
def _font_bytes(path: str) -> bytes:
    """Read once per process: every appearance parses its own copy."""
    return Path(path).read_bytes()


class _Accumulator(GlyphAccumulator):
    """GlyphAccumulator that speaks in thousandths of an em, whatever the font's units."""

    def __init__(
        self, writer: BasePdfFileWriter, font_handle: BinaryIO, font_size: int, **kw: Any
    ) -> None:
        """pyHanko's set-up, then everything rescaled to 1000 units per em."""
        super().__init__(writer, font_handle, font_size, **kw)
        self._to_pdf = 1000 / self.units_per_em
        self.hb_font.scale = (1000, 1000)  # HarfBuzz advances in the same units
        self.units_per_em = 1000
        descriptor = self.cidfont_obj._font_descriptor  # metrics copied in font units
        for key in ("/Ascent", "/Descent", "/CapHeight"):
            descriptor[key] = self._units(descriptor[key])
        descriptor["/FontBBox"] = generic.ArrayObject(
            self._units(v) for v in descriptor["/FontBBox"]
        )

    def _units(self, value: float) -> generic.NumberObject:
        """A font-unit metric in the thousandths of an em PDF expects."""
        return generic.NumberObject(round(value * self._to_pdf))  # type: ignore[no-untyped-call]

    def _get_cid_and_width(self, glyph_id: int) -> tuple[int, int]:
        """The width that goes into /W and TJ, in thousandths of an em."""
        if glyph_id in self._glyphs:
            return self._glyphs[glyph_id]
        cid, width = super()._get_cid_and_width(glyph_id)
        self._glyphs[glyph_id] = result = (cid, round(width * self._to_pdf))
        return result

    def _extract_subset(self, options: subset.Options | None = None) -> None:
        """pyHanko's subset options, plus FFTM dropped quietly."""
        options = options or subset.Options(layout_closure=False)
        options.drop_tables += ["GPOS", "GDEF", "GSUB", "FFTM"]  # FFTM: a log line each time
        super()._extract_subset(options)


@dataclass(frozen=True)
class _MemoryFontFactory(GlyphAccumulatorFactory):
    """GlyphAccumulatorFactory without the leaked file handle (ResourceWarning)."""

    def create_font_engine(
        self, writer: BasePdfFileWriter, obj_stream: object = None
    ) -> GlyphAccumulator:
        """As pyHanko's, but from bytes in memory and with the unit fix."""
        if obj_stream is None and writer.stream_xrefs and self.create_objstream_if_needed:
            obj_stream = writer.prepare_object_stream()  # type: ignore[no-untyped-call]
        return _Accumulator(
            writer=writer,
            font_handle=io.BytesIO(_font_bytes(self.font_file)),
            font_size=self.font_size,
            ot_script_tag=self.ot_script_tag,
            ot_language_tag=self.ot_language_tag,
            writing_direction=self.writing_direction,
            bcp47_lang_code=self.bcp47_lang_code,
            obj_stream=obj_stream,
        )


def font_factory(size: int) -> GlyphAccumulatorFactory:
    """A font engine factory for appearance text of `size` points, tagged Vietnamese."""
    return _MemoryFontFactory(str(font_path()), font_size=size, bcp47_lang_code="vi")


@cache
def _advances() -> tuple[dict[int, int], float]:
    """Advance widths by code point, to size text boxes before pyHanko lays them out."""
    font = ttLib.TTFont(io.BytesIO(_font_bytes(str(font_path()))))
    cmap = font.getBestCmap()
    hmtx = font["hmtx"]
    widths = {code: hmtx[name][0] for code, name in cmap.items()}
    return widths, float(font["head"].unitsPerEm)


def text_width(text: str, size: float) -> float:
    """Width of a line in points (no kerning: good enough to size a box)."""
    widths, units = _advances()
    fallback = widths.get(ord("n"), units / 2)
    return sum(widths.get(ord(c), fallback) for c in text) * size / units
