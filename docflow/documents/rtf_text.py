"""A small RTF reader: body text only; 8-bit text in the document's code page, or, in a
TCVN3 or VNI font (the `\\fonttbl` names each `\\fN`), converted from the font's bytes
(legacy.py)."""

from __future__ import annotations

import codecs
import re

from docflow.documents.legacy import (
    TCVN3_CAPITALS,
    TCVN3_FONT,
    Piece,
    byte_chars,
    font_encoding,
    join_pieces,
)
from docflow.errors import ExtractionError

_TOKEN = re.compile(
    rb"\\([a-z]{1,32})(-?[0-9]{1,10})? ?|\\'([0-9a-f]{2})|\\(.)|([{}])|[\r\n]+|([^\\{}\r\n]+)",
    re.IGNORECASE | re.DOTALL,
)
_SKIP = frozenset(
    b"fonttbl colortbl stylesheet info pict header footer headerl headerr headerf footerl "
    b"footerr footerf listtable listoverridetable rsidtbl generator xmlnstbl themedata "
    b"colorschememapping datastore latentstyles filetbl revtbl pgdsctbl fldinst".split()
)
# fmt: off
_WORDS = {
    b"par": "\n", b"line": "\n", b"sect": "\n", b"page": "\n", b"row": "\n", b"cell": "\t",
    b"tab": "\t", b"emdash": "\u2014", b"endash": "\u2013", b"lquote": "\u2018",
    b"rquote": "\u2019", b"ldblquote": "\u201c", b"rdblquote": "\u201d", b"bullet": "\u2022",
}
_SYMBOLS = {
    b"~": "\xa0", b"_": "\u2011", b"\n": "\n", b"\r": "\n", b"\\": "\\", b"{": "{", b"}": "}",
}
# fmt: on
_TCVN3 = (TCVN3_FONT, TCVN3_CAPITALS)


def rtf_text(data: bytes) -> tuple[str, frozenset[str]]:
    """The text, and the legacy encodings converted (legacy.reported names)."""
    if not data[:64].lstrip().startswith(b"{\\rtf"):
        raise ExtractionError("not an RTF file")
    encodings: dict[int | None, str | None] = {
        n: font_encoding(name) for n, name in _font_table(data).items()
    }
    out: list[Piece] = []
    pending = bytearray()  # 8-bit text waiting to be decoded in one go (multi-byte code pages)
    codepage, skip, uc, drop, pos = "cp1258", False, 1, 0, 0
    deff: int | None = None
    font: int | None = None
    legacy: str | None = None  # the encoding of `font`
    stack: list[tuple[bool, int, int | None]] = []
    while (m := _TOKEN.match(data, pos)) is not None:
        pos, kind = m.end(), m.lastindex
        if kind is None:  # line breaks in RTF source are not text
            continue
        if drop and kind in (1, 2, 3, 4):  # the fallback after \uN: one unit per escape
            drop -= 1
            continue
        if kind != 3 and kind != 6 and pending:  # a font changes only after this
            out.append(_decoded(pending, legacy, codepage))
            pending.clear()
        if kind in (1, 2):
            word, arg = m.group(1).lower(), m.group(2)
            if word == b"bin" and arg:  # raw binary data follows
                pos += max(0, int(arg))
            elif word in _SKIP:
                skip = True
            elif word == b"ansicpg" and arg and _codec(f"cp{int(arg)}"):
                codepage = f"cp{int(arg)}"
            elif word == b"deff" and arg:
                deff = int(arg)
                font = deff if font is None else font
                legacy = encodings.get(font)
            elif word == b"f" and arg and not skip:
                font = int(arg)
                legacy = encodings.get(font)
            elif word == b"plain" and not skip:
                font = deff
                legacy = encodings.get(font)
            elif word == b"uc" and arg:
                uc = max(0, int(arg))
            elif word == b"u" and arg and not skip:
                out.append((chr(int(arg) % 65536), legacy))
                drop = uc
            elif word in _WORDS and not skip:
                out.append((_WORDS[word], None))
        elif kind == 3 and not skip:
            pending.append(int(m.group(3), 16))
        elif kind == 4 and not skip:
            if m.group(4) == b"*":
                skip = True
            elif m.group(4) == b"-" and legacy in _TCVN3:  # TCVN3's ư is the soft hyphen
                out.append(("\xad", legacy))
            out.append((_SYMBOLS.get(m.group(4), ""), None))
        elif kind == 5:
            drop = 0
            if m.group(5) == b"{":
                stack.append((skip, uc, font))
            elif stack:
                skip, uc, font = stack.pop()
                legacy = encodings.get(font)
        elif kind == 6 and not skip:
            text = m.group(6)[drop:]
            drop = max(0, drop - len(m.group(6)))
            pending.extend(text)
    out.append(_decoded(pending, legacy, codepage))
    text, found = join_pieces(out)
    # \uN escapes give UTF-16 halves for characters outside the BMP; pair them up.
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", errors="replace"), found


def _decoded(data: bytearray, legacy: str | None, codepage: str) -> Piece:
    """8-bit text: a legacy font's bytes as an office file keeps them, else the code page's."""
    return (byte_chars(bytes(data)) if legacy else data.decode(codepage, errors="replace")), legacy


def _font_table(data: bytes) -> dict[int, str]:
    """`\\fN` → font name, from the `{\\fonttbl …}` group (entries braced or not)."""
    start = data.find(b"{\\fonttbl")
    if start < 0:
        return {}
    fonts: dict[int, str] = {}
    number: int | None = None
    name = bytearray()
    depth, hidden, pos = 0, 0, start  # hidden: the depth of a {\* …} inside an entry
    while (m := _TOKEN.match(data, pos)) is not None:
        pos, kind = m.end(), m.lastindex
        if kind == 5:
            depth += 1 if m.group(5) == b"{" else -1
            if hidden > depth:
                hidden = 0
            if depth == 0:
                break
        elif hidden:
            continue
        elif kind == 4 and m.group(4) == b"*":
            hidden = depth
        elif kind in (1, 2) and m.group(1).lower() == b"f" and m.group(2):
            number, name = int(m.group(2)), bytearray()
        elif kind == 3:
            name.append(int(m.group(3), 16))
        elif kind == 6 and number is not None:
            head, semicolon, _ = m.group(6).partition(b";")
            name.extend(head)
            if semicolon:
                fonts[number] = byte_chars(bytes(name)).strip()
                number = None
    return fonts


def _codec(name: str) -> bool:
    try:
        codecs.lookup(name)
    except LookupError:
        return False
    return True
