"""What the index holds for one entry: its tokens per field, exact and folded."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from docflow.archive.fold import fold, tokens

# Indexed fields, most important first (the engines weigh them in this order).
FIELDS = ("title", "summary", "meta", "body")


@dataclass(frozen=True)
class IndexEntry:
    """One issued document as the archive hands it to the search index."""

    record_id: int
    number: str  # `47/KH-BDT`
    type: str  # document type code, `KH`
    register: str  # numbering register, `KH`
    signer: str  # the signer's name
    issued_on: date
    title: str
    summary: str = ""
    body: str = ""  # the extracted text of every file, joined

    @property
    def year(self) -> int:
        return self.issued_on.year

    @property
    def sort_key(self) -> int:
        return sort_key(self.issued_on, self.record_id)


def sort_key(issued_on: date, record_id: int) -> int:
    """Issue date, then record id, as one integer: newest first is the largest first."""
    return (issued_on.toordinal() << 32) | (record_id & 0xFFFFFFFF)


def day_range(first: date | None, last: date | None) -> tuple[int, int]:
    """The sort keys of every entry issued from `first` until `last` (both included)."""
    lo = sort_key(first, 0) if first else 0
    hi = sort_key(last, 0xFFFFFFFF) if last else (1 << 62)
    return lo, hi


def field_tokens(entry: IndexEntry) -> dict[str, list[str]]:
    """The exact tokens of each indexed field (`meta` is the number and the signer)."""
    return {
        "title": tokens(entry.title),
        "summary": tokens(entry.summary),
        "meta": tokens(f"{entry.number} {entry.signer}"),
        "body": tokens(entry.body),
    }


def folded_tokens(exact: list[str]) -> list[str]:
    """The folded form of each token (folding never merges or splits tokens)."""
    joined = fold(" ".join(exact)).split(" ")
    return joined if len(joined) == len(exact) else [fold(t) for t in exact]
