"""Highlighted, HTML-safe snippets: the text escaped, the matched words in `<mark>`.

Computed in Python from the stored text, so both engines give the same snippets.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from functools import lru_cache
from html import escape

from docflow.archive.fold import TOKEN, fold

BEFORE = 10  # words of context before the first match
AFTER = 22  # words after it
SCAN_CHARS = 50_000  # look for a match this far into a long text, no further

# Folding word by word, cached: a page of 20 snippets folds ~10,000 words, mostly the
# same few hundred, and folding whole texts was a third of a search's time.
fold_word = lru_cache(maxsize=100_000)(fold)
_SEP = r"[\W_]+"  # what may stand between two words of a phrase


def _variants() -> dict[str, str]:
    """For each folded letter, a regex class of every Latin letter that folds to it."""
    groups: dict[str, set[str]] = {}
    for cp in (*range(0x30, 0x250), *range(0x1E00, 0x1F00)):
        ch = chr(cp)
        folded = fold(ch)
        if len(folded) == 1 and folded.isalnum():
            groups.setdefault(folded, set()).add(ch)
    return {k: "[" + "".join(re.escape(c) for c in sorted(v)) + "]" for k, v in groups.items()}


_CLASSES = _variants()


@lru_cache(maxsize=1024)
def _pattern(terms: tuple[tuple[str, ...], ...]) -> re.Pattern[str]:
    """Any of `terms` (folded words or phrases) in unfolded NFC text, as whole words."""
    alternatives = (
        _SEP.join("".join(_CLASSES.get(c, re.escape(c)) for c in word) for word in term)
        for term in terms
    )
    return re.compile(r"(?<![^\W_])(?:" + "|".join(alternatives) + r")(?![^\W_])")


def _near(text: str, at: int) -> tuple[list[tuple[int, int]], int]:
    """The spans of the words around offset `at` (enough for a snippet) and the index of
    the one starting there: tokenising the whole of a long text is what costs."""
    chars = 8  # per word, a guess; widened when the words around are longer
    while True:
        start, end = max(0, at - chars * (BEFORE + 1)), at + chars * (AFTER + 2)
        spans = [m.span() for m in TOKEN.finditer(text, start, end)]
        if start > 0 and spans and spans[0][0] == start and start != at:
            spans = spans[1:]  # perhaps the end of a word cut by `start`
        index = next((i for i, (a, _) in enumerate(spans) if a == at), 0)
        enough_before = index >= BEFORE or start == 0
        enough_after = len(spans) - index > AFTER + 1 or end >= len(text)
        if enough_before and enough_after:
            return spans, index
        chars *= 4


def highlight(text: str, words: frozenset[str]) -> str:
    """All of `text`, escaped, with every word whose folded form is in `words` marked."""
    return _render(text, 0, len(text), words)


def snippet(
    texts: Iterable[str], words: frozenset[str], phrases: Iterable[tuple[str, ...]] = ()
) -> str:
    """A few dozen words around the first match in `texts` (tried in order), highlighted;
    the start of the first non-empty text when none matches. A place where a whole
    term (`phrases`, folded) matches is preferred to a lone word of it."""
    wanted = [p for p in phrases if p]
    first_text = ""
    for text in texts:
        if not text.strip():
            continue
        first_text = first_text or text
        if unicodedata.is_normalized("NFC", text):  # the fast way: find, then tokenise
            for terms in (tuple(wanted), tuple((w,) for w in sorted(words))):
                found = _pattern(terms).search(text, 0, SCAN_CHARS) if terms else None
                if found is not None:
                    return _window(text, *_near(text, found.start()), words)
            continue
        spans = _spans(text[:SCAN_CHARS])
        folded = [fold_word(text[a:b]) for a, b in spans]
        hit = _first_hit(folded, words, wanted)
        if hit is not None:
            return _window(text, spans, hit, words)
    if not first_text:
        return ""
    spans = _spans(first_text[:2000])
    return _window(first_text, spans, 0, words) if spans else escape(first_text[:200])


def _first_hit(
    folded: list[str], words: frozenset[str], phrases: list[tuple[str, ...]]
) -> int | None:
    """Where the first whole phrase starts, else the first matching word, else None."""
    starts = frozenset(p[0] for p in phrases)
    candidates = [i for i, f in enumerate(folded) if f in words]
    for i in candidates:
        if folded[i] in starts and any(tuple(folded[i : i + len(p)]) == p for p in phrases):
            return i
    return candidates[0] if candidates else None


def _spans(text: str) -> list[tuple[int, int]]:
    return [m.span() for m in TOKEN.finditer(text)]


def _window(text: str, spans: list[tuple[int, int]], hit: int, words: frozenset[str]) -> str:
    first = max(0, hit - BEFORE)
    last = min(len(spans) - 1, hit + AFTER)
    start, end = spans[first][0], spans[last][1]
    body = _render(text, start, end, words).strip()
    more_before = TOKEN.search(text, max(0, start - 1000), start) is not None
    more_after = TOKEN.search(text, end, end + 1000) is not None
    return ("… " if more_before else "") + body + (" …" if more_after else "")


def _render(text: str, start: int, end: int, words: frozenset[str]) -> str:
    out: list[str] = []
    pos = start
    for m in TOKEN.finditer(text, start, end):
        a, b = m.span()
        if fold_word(m.group()) in words:
            out.append(escape(text[pos:a]))
            out.append(f"<mark>{escape(text[a:b])}</mark>")
            pos = b
    out.append(escape(text[pos:end]))
    return " ".join("".join(out).split())
