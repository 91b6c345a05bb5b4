"""Where the signer's signature image goes on a rendered document: the signature block's gap.

A Decree 30/2020/NĐ-CP signature block (bottom right of the text) reads capacity lines
("KT. TRƯỞNG BAN", "PHÓ TRƯỞNG BAN"), a blank space of several lines where the hand
signature and the seal used to go, then the signer's full name. The box returned is that
blank space: below the nearest line above the last occurrence of the name, above the
name, centred on it. Any line above bounds the gap, so the capacity lines need not be known.

Positions come from pypdf: `visitor_text` gives each text chunk and where it starts;
`visitor_operand_before` sees each text-showing operator, whose advance is computed here
from the font's /Widths or /W (pypdf's own width tables key on glyph codes, not on text).
"""

from __future__ import annotations

import io
import math
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from pypdf import PageObject, PdfReader
from pypdf.errors import PdfReadError
from pypdf.generic import ArrayObject, DictionaryObject, TextStringObject

MIN_WIDTH = 120.0  # points; a signature image narrower than this is unreadable
Matrix = list[float]


@dataclass(frozen=True)
class Box:
    """A rectangle on a page: PDF points, origin bottom-left, `page` counted from 0."""

    page: int
    x1: float
    y1: float
    x2: float
    y2: float


@dataclass
class _Chunk:
    """A piece of text on one baseline with its extent in user space."""

    text: str
    x0: float
    x1: float
    y: float
    size: float


@dataclass
class _Line:
    """Chunks joined along one baseline, separate per column; extent and size kept up to date."""

    chunks: list[_Chunk]
    x0: float = math.inf
    x1: float = -math.inf
    y: float = 0.0
    size: float = 0.0

    def add(self, chunk: _Chunk) -> None:
        """Take one more chunk of the same baseline."""
        self.y = chunk.y if not self.chunks else self.y
        self.chunks.append(chunk)
        self.x0, self.x1 = min(self.x0, chunk.x0), max(self.x1, chunk.x1)
        self.size = max(self.size, chunk.size)


def signature_box(pdf: bytes, signer_name: str, titles: Sequence[str] = ()) -> Box | None:
    """The gap above the signer's last-named line, None if absent; `titles` is not needed."""
    needle = _squash(signer_name)
    if not needle:
        return None
    try:
        pages = list(PdfReader(io.BytesIO(pdf)).pages)
    except (PdfReadError, ValueError, OSError):
        return None
    for index in range(len(pages) - 1, -1, -1):
        lines = _lines(pages[index])
        found = [(line, span) for line in lines if (span := _find(line, needle)) is not None]
        if found:
            line, (nx0, nx1) = min(found, key=lambda item: (item[0].y, -item[1][0]))
            return _gap(index, pages[index], lines, line, nx0, nx1)
    return None


def _gap(
    index: int, page: PageObject, lines: list[_Line], name: _Line, nx0: float, nx1: float
) -> Box:
    """From below the nearest line above the name (same column) to just above the name."""
    box = page.mediabox
    bottom = name.y + name.size  # above accents on capitals
    above = [ln for ln in lines if ln.y > name.y + name.size / 2 and ln.x1 > nx0 and ln.x0 < nx1]
    top_line = min(above, key=lambda line: line.y) if above else None
    if top_line is not None:
        top = top_line.y - 0.4 * top_line.size  # below its descenders
    else:  # the name heads the page: a few lines' worth
        top = min(float(box.top), bottom + 6 * name.size)
    top = max(top, bottom + name.size)  # no gap at all: still a box pyHanko can draw
    # the column: between the nearest text left and right of the name within the block
    band = [line for line in lines if line.y < top + name.size and line.y > name.y - name.size]
    left = max((ln.x1 for ln in band if ln.x1 <= nx0), default=float(box.left))
    right = min((ln.x0 for ln in band if ln.x0 >= nx1), default=float(box.right))
    widest = max(MIN_WIDTH, nx1 - nx0, top_line.x1 - top_line.x0 if top_line else 0.0)
    width = min(widest, right - left)
    x1 = min(max((nx0 + nx1 - width) / 2, left), right - width)
    return Box(index, round(x1, 2), round(bottom, 2), round(x1 + width, 2), round(top, 2))


def _squash(text: str) -> str:
    """NFC, lower case, without whitespace: how names are compared."""
    return "".join(unicodedata.normalize("NFC", text).lower().split())


def _find(line: _Line, needle: str) -> tuple[float, float] | None:
    """The x extent of the last occurrence of `needle` in the line, if any."""
    chars: list[tuple[str, float, float]] = []
    for chunk in line.chunks:
        text = unicodedata.normalize("NFC", chunk.text)
        step = (chunk.x1 - chunk.x0) / max(len(text), 1)
        for i, char in enumerate(text):
            if not char.isspace():
                for low in char.lower():
                    chars.append((low, chunk.x0 + i * step, chunk.x0 + (i + 1) * step))
    at = "".join(c for c, _, _ in chars).rfind(needle)
    if at < 0:
        return None
    return chars[at][1], chars[at + len(needle) - 1][2]


def _lines(page: PageObject) -> list[_Line]:
    """The page's text as lines: chunks on one baseline, split where a column gap opens."""
    chunks = sorted(_Tracker(page).chunks(), key=lambda c: -c.y)
    bands: list[list[_Chunk]] = []
    for chunk in chunks:
        if bands and bands[-1][0].y - chunk.y <= 0.3 * max(chunk.size, bands[-1][0].size):
            bands[-1].append(chunk)
        else:
            bands.append([chunk])
    lines: list[_Line] = []
    for band in bands:
        line = _Line([])
        for chunk in sorted(band, key=lambda c: c.x0):
            if line.chunks and chunk.x0 - line.x1 > 2.0 * max(chunk.size, line.size):
                lines.append(line)
                line = _Line([])
            line.add(chunk)
        lines.append(line)
    return lines


def _mult(m: Matrix, n: Matrix) -> Matrix:
    """m × n for PDF's row-vector affine matrices [a b c d e f]."""
    a, b, c, d, e, f = m
    return [a * n[0] + b * n[2], a * n[1] + b * n[3], c * n[0] + d * n[2], c * n[1] + d * n[3],
            e * n[0] + f * n[2] + n[4], e * n[1] + f * n[3] + n[5]]  # fmt: skip


class _Tracker:
    """Follows the text state beside pypdf's extraction to give each chunk its extent."""

    def __init__(self, page: PageObject) -> None:
        self.page = page
        resources = page.get("/Resources")
        fonts = resources.get_object().get("/Font") if resources else None
        self.fonts: DictionaryObject = fonts.get_object() if fonts else DictionaryObject()
        self.widths: dict[str, tuple[bool, dict[int, float], float]] = {}
        self.font, self.size, self.tc, self.tw, self.tz, self.tl = "", 12.0, 0.0, 0.0, 1.0, 0.0
        self.stack: list[tuple[str, float, float, float, float, float]] = []
        self.origin: Matrix | None = None
        self.advance = 0.0
        self.pending: list[_Chunk] = []
        self.out: list[_Chunk] = []

    def chunks(self) -> list[_Chunk]:
        """Run pypdf's extraction with both visitors and collect the positioned chunks."""
        try:
            self.page.extract_text(visitor_operand_before=self._operator, visitor_text=self._text)
        except (PdfReadError, ValueError, KeyError, TypeError):
            pass  # a broken content stream: the text read so far
        return self.out

    def _operator(self, op: bytes, args: list[Any], cm: Matrix, tm: Matrix) -> None:
        """Keep the text state pypdf does not report; a malformed operator is skipped."""
        try:
            self._state(op, args, cm, tm)
        except (ValueError, TypeError, IndexError, KeyError, AttributeError):
            pass

    def _state(self, op: bytes, args: list[Any], cm: Matrix, tm: Matrix) -> None:
        """Font, size, spacing, scaling, leading, their q/Q stack; text-showing operators."""
        if op == b"Tf" and len(args) >= 2:
            self.font, self.size = str(args[0]), float(args[1])
        elif op in (b"Tc", b"Tw", b"Tz", b"TL") and args:  # self.tc, .tw, .tz (a fraction), .tl
            setattr(self, op.decode().lower(), float(args[0]) / (100 if op == b"Tz" else 1))
        elif op == b"TD" and len(args) >= 2:
            self.tl = -float(args[1])
        elif op == b"q":
            self.stack.append((self.font, self.size, self.tc, self.tw, self.tz, self.tl))
        elif op == b"Q" and self.stack:
            self.font, self.size, self.tc, self.tw, self.tz, self.tl = self.stack.pop()
        elif op == b"BT":
            self.origin = None
        elif op in (b"Tj", b"TJ", b"'", b'"') and args:
            if op in (b"'", b'"'):  # T* first: pypdf's tm is still the previous line's
                tm = [*tm[:4], tm[4] - self.tl * tm[2], tm[5] - self.tl * tm[3]]
            self._show(args[-1] if op == b'"' else args[0], op == b"TJ", cm, list(tm))

    def _show(self, operand: Any, array: bool, cm: Matrix, tm: Matrix) -> None:
        """Advance over one text-showing operator and record the span it covers."""
        if self.origin != tm:
            self.origin, self.advance = tm, 0.0
        start = self.advance
        items = list(operand) if array and isinstance(operand, ArrayObject) else [operand]
        for item in items:
            if isinstance(item, (bytes, str)):
                self.advance += self._width(_raw(item))
            elif isinstance(item, (int, float)):
                self.advance -= float(item) / 1000 * self.size * self.tz
        m = _mult(tm, cm)
        if abs(m[1]) > 1e-6 or abs(m[2]) > 1e-6 or m[0] <= 0:
            return  # rotated or mirrored text: not a signature block line
        x0, x1 = m[4] + start * m[0], m[4] + self.advance * m[0]
        self.pending.append(_Chunk("", x0, x1, m[5], self.size * abs(m[3])))

    def _text(self, text: str, cm: Matrix, tm: Matrix, font: Any, size: float) -> None:
        """A chunk of text from pypdf: the spans shown since the last one are its extent."""
        pending, self.pending = self.pending, []
        text = text.replace("\n", " ")
        if not text.strip():
            return
        if pending:
            y = pending[0].y
            same = [c for c in pending if abs(c.y - y) < 0.3 * max(c.size, 1.0)]
            x0, x1 = min(c.x0 for c in same), max(c.x1 for c in same)
            self.out.append(_Chunk(text, x0, x1, y, pending[0].size))
            return
        m = _mult(list(tm), list(cm))  # not seen (e.g. in a form XObject): estimate
        if abs(m[1]) > 1e-6 or abs(m[2]) > 1e-6 or m[0] <= 0:
            return
        height = size * math.hypot(m[2], m[3])
        self.out.append(_Chunk(text, m[4], m[4] + 0.5 * height * len(text), m[5], height))

    def _width(self, codes: bytes) -> float:
        """Advance in unscaled text space of one string, in the current font."""
        two_bytes, table, default = self._font_widths()
        step = 2 if two_bytes else 1
        total = 0.0
        for i in range(0, len(codes) - step + 1, step):
            code = int.from_bytes(codes[i : i + step], "big")
            total += table.get(code, default) / 1000 * self.size + self.tc
            if code == 32 and not two_bytes:
                total += self.tw
        return total * self.tz

    def _font_widths(self) -> tuple[bool, dict[int, float], float]:
        """(two-byte codes?, code → width, default width) of the current font, cached."""
        if self.font not in self.widths:
            try:
                self.widths[self.font] = _widths(self.fonts.get(self.font))
            except (ValueError, TypeError, IndexError, KeyError, AttributeError):
                self.widths[self.font] = False, {}, 500.0
        return self.widths[self.font]


def _widths(ref: Any) -> tuple[bool, dict[int, float], float]:
    """Glyph widths from a font dictionary: /Widths of simple fonts, /W of CID fonts."""
    font = ref.get_object() if ref is not None else None
    if not isinstance(font, DictionaryObject):
        return False, {}, 500.0
    if font.get("/Subtype") == "/Type0":
        descendant = cast(ArrayObject, font["/DescendantFonts"].get_object())[0].get_object()
        table: dict[int, float] = {}
        w = [item.get_object() for item in descendant.get("/W", [])]
        i = 0
        while i < len(w) - 1:
            if isinstance(w[i + 1], ArrayObject):
                table.update({int(w[i]) + k: float(v) for k, v in enumerate(w[i + 1])})
                i += 2
            else:
                table.update(dict.fromkeys(range(int(w[i]), int(w[i + 1]) + 1), float(w[i + 2])))
                i += 3
        return True, table, float(descendant.get("/DW", 1000))
    first = int(font.get("/FirstChar", 0))
    table = {first + k: float(v) for k, v in enumerate(font.get("/Widths", []))}
    descriptor = font.get("/FontDescriptor")
    missing = descriptor.get_object().get("/MissingWidth") if descriptor else None
    return False, table, float(missing) if missing is not None else 500.0


def _raw(item: bytes | str) -> bytes:
    """The string's bytes as in the content stream (the glyph codes)."""
    if isinstance(item, TextStringObject):
        return item.get_original_bytes()
    return item if isinstance(item, bytes) else item.encode("latin-1", "replace")
