"""Parsing what a user types into search terms: the same parse feeds both engines.

dân tộc            two words, both required, anywhere (title, summary, number, signer, text)
"cải cách hành chính"   a phrase: these words, adjacent, in this order
47/KH-BDT          a word that splits into several tokens is a phrase too
-thuế              excluded: no document containing it
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from docflow.archive.fold import fold, tokens
from docflow.errors import InvalidRequestError

_PART = re.compile(r'(-?)"([^"]*)"?|(-?)([^\s"]+)')
MAX_TERMS = 32


@dataclass(frozen=True)
class Term:
    """A word or a phrase (tokens in order, exact form); `negated` excludes it."""

    tokens: tuple[str, ...]
    negated: bool = False

    @property
    def folded(self) -> tuple[str, ...]:
        return tuple(fold(t) for t in self.tokens)


@dataclass(frozen=True)
class ParsedQuery:
    terms: tuple[Term, ...]

    @property
    def positive(self) -> tuple[Term, ...]:
        return tuple(t for t in self.terms if not t.negated)

    @property
    def negative(self) -> tuple[Term, ...]:
        return tuple(t for t in self.terms if t.negated)

    @property
    def empty(self) -> bool:
        return not self.terms

    def highlight_words(self) -> frozenset[str]:
        """Folded tokens worth marking in a snippet."""
        return frozenset(f for t in self.positive for f in t.folded)


def parse_query(text: str) -> ParsedQuery:
    """Words, "quoted phrases" and -excluded words; InvalidRequestError when only exclusions."""
    terms: list[Term] = []
    for m in _PART.finditer(text):
        quoted_neg, quoted, bare_neg, bare = m.groups()
        words = tokens(quoted if quoted is not None else bare)
        if not words:
            continue
        term = Term(tuple(words), negated=bool(quoted_neg or bare_neg))
        if term not in terms:
            terms.append(term)
    if len(terms) > MAX_TERMS:
        raise InvalidRequestError(f"a search takes at most {MAX_TERMS} words or phrases")
    if terms and not any(not t.negated for t in terms):
        raise InvalidRequestError("a search needs at least one word that is not excluded (-word)")
    return ParsedQuery(tuple(terms))
