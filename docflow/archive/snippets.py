"""Highlighted, HTML-safe snippets: the text escaped, the matched words in `<mark>`.

Computed in Python from the stored text, so both engines give the same snippets.
"""

from __future__ import annotations

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
