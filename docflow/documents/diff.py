"""Word-level differences between two texts, aligned on paragraphs (stdlib difflib).

Interface (plain values, JSON-able through `TextDiff.as_dict()`):

- `diff_texts(old, new) -> TextDiff`: both texts are NFC-normalised, cut into paragraphs
  (non-blank lines; extracted DOCX/ODT text has one paragraph a line), and the paragraph
  lists are compared first. Unchanged paragraphs are `same`; a run of replaced paragraphs
  is paired in order with the most similar partner nearby (`changed`, compared word by
  word), and what finds no partner is `removed` or `added` whole.
- Words are compared whole: a token is a run of letters/digits (with any combining mark)
  or one punctuation sign, so Vietnamese syllables "đã" and "da" are different words and
  a changed diacritic changes the whole word, never half of it. Case matters.
- `TextDiff.as_dict()` gives::

      {"words_added": int, "words_removed": int, "paragraphs_changed": int,
       "paragraphs_added": int, "paragraphs_removed": int,
       "paragraphs": [{"op": "same"|"changed"|"added"|"removed",
                       "pieces": [{"op": "same"|"added"|"removed", "text": str}]}]}

  A piece's `text` keeps the spacing of its source, so joining the `same` and `removed`
  pieces of a paragraph gives the old paragraph back, `same` and `added` the new one.
  Word counts count words only (punctuation signs are marked but not counted), over
  changed, added and removed paragraphs alike.

`DocumentDiffs` (documents/diffs.py) applies this to two versions of a document.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from typing import Any, Literal

PieceOp = Literal["same", "added", "removed"]
ParagraphOp = Literal["same", "changed", "added", "removed"]

# a word (letters, digits, combining marks) or one sign, each with the space before it
_TOKEN = re.compile(r"\s*(?:[\w\u0300-\u036f]+|[^\w\s])")
_WORD = re.compile(r"[^\W_]")
PAIR_RATIO = 0.4  # paragraphs this similar (by words) are one paragraph changed
LOOK_AHEAD = 6  # how far a replaced paragraph looks for its partner


@dataclass(frozen=True)
class Piece:
    op: PieceOp
    text: str


@dataclass
class Paragraph:
    op: ParagraphOp
    pieces: list[Piece]


@dataclass
class TextDiff:
    paragraphs: list[Paragraph] = field(default_factory=list)
    words_added: int = 0
    words_removed: int = 0
    paragraphs_changed: int = 0
    paragraphs_added: int = 0
    paragraphs_removed: int = 0

    @property
    def identical(self) -> bool:
        return all(p.op == "same" for p in self.paragraphs)

    def as_dict(self) -> dict[str, Any]:
        return {
            "words_added": self.words_added,
            "words_removed": self.words_removed,
            "paragraphs_changed": self.paragraphs_changed,
            "paragraphs_added": self.paragraphs_added,
            "paragraphs_removed": self.paragraphs_removed,
            "paragraphs": [
                {"op": p.op, "pieces": [{"op": x.op, "text": x.text} for x in p.pieces]}
                for p in self.paragraphs
            ],
        }


def paragraphs_of(text: str) -> list[str]:
    """NFC, one paragraph per non-blank line, inner whitespace kept."""
    text = unicodedata.normalize("NFC", text or "")
    return [line.strip() for line in text.splitlines() if line.strip()]


def tokens_of(paragraph: str) -> list[str]:
    return _TOKEN.findall(paragraph)


def _key(token: str) -> str:
    return token.lstrip()


def _words(tokens: list[str]) -> int:
    return sum(1 for t in tokens if _WORD.match(_key(t)))


def diff_texts(old: str, new: str) -> TextDiff:
    """The differences from `old` to `new` (see the module docstring)."""
    a, b = paragraphs_of(old), paragraphs_of(new)
    out = TextDiff()
    matcher = SequenceMatcher(
        None, [" ".join(p.split()) for p in a], [" ".join(p.split()) for p in b], autojunk=False
    )
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            out.paragraphs.extend(Paragraph("same", [Piece("same", p)]) for p in a[i1:i2])
            continue
        for old_p, new_p in _pair(a[i1:i2], b[j1:j2]):
            _add_paragraph(out, old_p, new_p)
    return out


def _pair(olds: list[str], news: list[str]) -> Iterator[tuple[str | None, str | None]]:
    """Replaced paragraphs in order: each old one with the first similar new one close by.

    Full comparisons are budgeted (a text rewritten from end to end would otherwise cost
    LOOK_AHEAD word diffs a paragraph): past the budget, only the next new paragraph is tried.
    """
    matchers: dict[int, SequenceMatcher[str]] = {}

    def matcher(k: int) -> SequenceMatcher[str]:
        if k not in matchers:  # seq2 is the one difflib indexes: once per new paragraph
            matchers[k] = SequenceMatcher(None, autojunk=False)
            matchers[k].set_seq2([_key(t) for t in tokens_of(news[k])])
        return matchers[k]

    budget = len(olds) + 8
    j = 0
    for old_p in olds:
        old_keys = [_key(t) for t in tokens_of(old_p)]
        partner = None
        reach = LOOK_AHEAD if budget > 0 else 1
        for k in range(j, min(j + reach, len(news))):
            m = matcher(k)
            m.set_seq1(old_keys)
            if m.real_quick_ratio() < PAIR_RATIO or m.quick_ratio() < PAIR_RATIO:
                continue
            budget -= 1
            if m.ratio() >= PAIR_RATIO:
                partner = k
                break
        if partner is None:
            yield old_p, None
            continue
        for k in range(j, partner):
            yield None, news[k]
        yield old_p, news[partner]
        j = partner + 1
    for k in range(j, len(news)):
        yield None, news[k]


def _add_paragraph(out: TextDiff, old_p: str | None, new_p: str | None) -> None:
    if new_p is None and old_p is not None:
        out.paragraphs.append(Paragraph("removed", [Piece("removed", old_p)]))
        out.paragraphs_removed += 1
        out.words_removed += _words(tokens_of(old_p))
    elif old_p is None and new_p is not None:
        out.paragraphs.append(Paragraph("added", [Piece("added", new_p)]))
        out.paragraphs_added += 1
        out.words_added += _words(tokens_of(new_p))
    elif old_p is not None and new_p is not None:
        pieces, added, removed = diff_words(old_p, new_p)
        if not added and not removed and all(p.op == "same" for p in pieces):
            out.paragraphs.append(Paragraph("same", [Piece("same", new_p)]))
            return  # only spacing changed
        out.paragraphs.append(Paragraph("changed", pieces))
        out.paragraphs_changed += 1
        out.words_added += added
        out.words_removed += removed


def diff_words(old_p: str, new_p: str) -> tuple[list[Piece], int, int]:
    """Pieces of one paragraph changed, and the words added and removed."""
    a, b = tokens_of(old_p), tokens_of(new_p)
    # autojunk would ignore common words ("và", "của") in a long paragraph: off
    matcher = SequenceMatcher(None, [_key(t) for t in a], [_key(t) for t in b], autojunk=False)
    pieces: list[Piece] = []
    added = removed = 0
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            _append(pieces, "same", "".join(b[j1:j2]))
            continue
        if i2 > i1:
            _append(pieces, "removed", "".join(a[i1:i2]))
            removed += _words(a[i1:i2])
        if j2 > j1:
            _append(pieces, "added", "".join(b[j1:j2]))
            added += _words(b[j1:j2])
    return pieces, added, removed


def _append(pieces: list[Piece], op: PieceOp, text: str) -> None:
    if pieces and pieces[-1].op == op:
        pieces[-1] = Piece(op, pieces[-1].text + text)
    else:
        pieces.append(Piece(op, text))
