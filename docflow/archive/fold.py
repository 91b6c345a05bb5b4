"""Vietnamese-aware text normalisation: the tokens both search engines index and query.

Tokenising happens here, in Python, for both engines: SQLite's FTS5 and PostgreSQL's
tsvector then only ever see ready-made tokens, so they cannot disagree about what a
word is (`47/KH-BDT`, `2018-2020`, e-mail addresses, hyphens).
"""

from __future__ import annotations

import re
import unicodedata

# A token: a run of letters and digits (combining marks stay inside the word they
# belong to, for text that arrives decomposed).
TOKEN = re.compile(r"[^\W_]+(?:[\u0300-\u036f]+[^\W_]*)*")
# PostgreSQL refuses lexemes over 2 KB; nothing that long is a word anyway.
MAX_TOKEN_CHARS = 100

_D = str.maketrans({"đ": "d", "Đ": "D"})
# The combining-mark blocks (Vietnamese needs only the first): stripped after NFD.
_MARKS = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]+")


def fold(text: str) -> str:
    """Lowercase, without diacritics, `đ` as `d`: `Đổi mới` → `doi moi`."""
    stripped = _MARKS.sub("", unicodedata.normalize("NFD", text.translate(_D)))
    return unicodedata.normalize("NFC", stripped).lower()


def normal(text: str) -> str:
    """Lowercase NFC: the exact form of a token (diacritics kept)."""
    return unicodedata.normalize("NFC", text).lower()


def tokens(text: str) -> list[str]:
    """The exact (diacritics kept, lowercased) tokens of `text`, in order."""
    return [
        t for t in (normal(m.group()) for m in TOKEN.finditer(text)) if len(t) <= MAX_TOKEN_CHARS
    ]


def token_spans(text: str) -> list[tuple[int, int]]:
    """Where each token of `text` starts and ends (for highlighting the original text)."""
    return [m.span() for m in TOKEN.finditer(text) if len(normal(m.group())) <= MAX_TOKEN_CHARS]
