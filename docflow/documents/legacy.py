"""Text typed in the old Vietnamese fonts (TCVN3 `.VnTime`, VNI `VNI-Times`) as Unicode.

An office file keeps what such a font user typed as the Windows-1252 characters of the
font's bytes (`Ban D©n téc`, `Vieät Nam`); only the run's font name says how to read
them. The readers (word_text, odf_text, rtf_text) hand over the text of a paragraph or
document as pieces, each with the encoding of its font (`font_encoding`), and
`join_pieces` converts each stretch of one encoding (VNI's base letter and mark may sit
in two runs of the same font) with the tables of legacy_tables.

    join_pieces([("Ban D©n téc", "tcvn3"), (" – ", None), ("Vieät Nam", "vni")])
    → ("Ban Dân tộc – Việt Nam", frozenset({"tcvn3", "vni"}))

A run in such a font whose text holds a Vietnamese letter those bytes cannot make (ộ,
ư, đ, a combining tone) was typed in Unicode already, and is left as it is.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from docflow.documents.legacy_tables import TCVN3, VNI_PAIRS, VNI_SINGLE

TCVN3_FONT = "tcvn3"
TCVN3_CAPITALS = "tcvn3h"  # a `.Vn…H` font: every letter drawn as a capital
VNI_FONT = "vni"
Piece = tuple[str, str | None]  # text, and the encoding of its font (None: Unicode)


def font_encoding(name: str | None) -> str | None:
    """`.VnTime` → "tcvn3", `.VnTimeH` → "tcvn3h", `VNI-Times` → "vni", others None."""
    if not name:
        return None
    name = name.strip().strip("'\"").strip()
    lower = name.lower()
    if lower.startswith(".vn"):
        return TCVN3_CAPITALS if name.endswith("H") else TCVN3_FONT
    if _VNI_NAME.match(lower):
        return VNI_FONT
    return None


def reported(encoding: str) -> str:
    """The name a version's JSON gives an encoding (the capital fonts are TCVN3 too)."""
    return TCVN3_FONT if encoding == TCVN3_CAPITALS else encoding


def convert(text: str, encoding: str) -> str:
    """`text` of a run in a font of `encoding` as Unicode (not yet NFC-checked)."""
    if encoding == VNI_FONT:
        return _VNI_LETTER.sub(_vni_letter, text.translate(_SYMBOL_AREA))
    converted = text.translate(_TCVN3_CHARS)
    return converted.upper() if encoding == TCVN3_CAPITALS else converted


def join_pieces(pieces: Iterable[Piece]) -> tuple[str, frozenset[str]]:
    """The pieces' text joined, legacy stretches converted; and the encodings (as
    `reported`) whose conversion changed something."""
    out: list[str] = []
    found: set[str] = set()
    stretch: list[str] = []
    current: str | None = None
    for text, encoding in pieces:
        if encoding is not None and _UNICODE_ONLY.search(text):
            encoding = None
        if encoding != current:
            _flush(stretch, current, out, found)
            current = encoding
        stretch.append(text)
    _flush(stretch, current, out, found)
    return "".join(out), frozenset(found)


def _flush(stretch: list[str], encoding: str | None, out: list[str], found: set[str]) -> None:
    text = "".join(stretch)
    stretch.clear()
    if encoding is not None and text:
        converted = convert(text, encoding)
        if converted != text:
            found.add(reported(encoding))
        text = converted
    out.append(text)


def byte_chars(data: bytes) -> str:
    """Font bytes as the characters an office file keeps them as (Windows-1252; the five
    bytes it leaves undefined as the control characters of the same number)."""
    return data.decode("latin-1").translate(_LATIN1_TO_CP1252)


def _char(byte: int) -> str:
    try:
        return bytes([byte]).decode("cp1252")
    except UnicodeDecodeError:  # 81 8D 8F 90 9D
        return chr(byte)


_VNI_NAME = re.compile(r"vni[-_ ]")
_LATIN1_TO_CP1252 = {b: _char(b) for b in range(0x80, 0xA0) if _char(b) != chr(b)}
# Word keeps the text of a font with a symbol character set in U+F020–U+F0FF
_SYMBOL_AREA = {0xF000 + b: _char(b) for b in range(0x20, 0x100)}
_TCVN3_CHARS: dict[int, str] = {**_SYMBOL_AREA}
for _byte, _letter in TCVN3.items():
    _TCVN3_CHARS[ord(_char(_byte))] = _letter
    _TCVN3_CHARS[0xF000 + _byte] = _letter

# VNI: every base + mark pair (a mark of the other case reads by the base's case), and
# the one-byte letters, in one pass (a pair's result may be a one-byte letter's character)
_VNI: dict[str, str] = {_char(b): letter for b, letter in VNI_SINGLE.items()}
for _base, _marks in VNI_PAIRS.items():
    _upper = _char(_base).isupper()
    for _mark, _letter in _marks.items():
        _VNI[_char(_base) + _char(_mark + 0x20 if _upper else _mark - 0x20)] = _letter
        _VNI[_char(_base) + _char(_mark)] = _letter
_VNI_BASES = "".join(sorted({_char(b) for b in VNI_PAIRS}))
_VNI_MARK_CHARS = "".join(sorted({k[1] for k in _VNI if len(k) == 2}))
_VNI_ONE = "".join(sorted(k for k, v in _VNI.items() if len(k) == 1 and k != v))
_VNI_LETTER = re.compile(
    f"[{re.escape(_VNI_BASES)}][{re.escape(_VNI_MARK_CHARS)}]|[{re.escape(_VNI_ONE)}]"
)


def _vni_letter(match: re.Match[str]) -> str:
    found = match.group()
    # a base with a mark that does not go on it (u + circumflex): each character alone
    return _VNI.get(found) or "".join(_VNI.get(c, c) for c in found)


# letters and marks no TCVN3 or VNI byte decodes to: text holding one is Unicode already
_UNICODE_ONLY = re.compile(
    "[\u0102\u0103\u0110\u0111\u0128\u0129\u0168\u0169\u01a0\u01a1\u01af\u01b0"
    "\u0300-\u0323\u1ea0-\u1ef9]"
)
