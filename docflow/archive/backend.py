"""What each engine (SQLite FTS5, PostgreSQL tsvector) provides to the search service.

Ranking every match is what makes a search on a common word slow, so a query ranks a
bounded set of *candidates*, found by cheap walks of the index in sort-key order
(issue date, then record; both engines read that order from an index):

- the HEAD_WINDOW newest matches in the *head* of a document (title, summary, number,
  signer), where every term is found: these carry the score (title ×10, summary ×4,
  number and signer ×2); the head index is a tenth of the full one, so its walk is cheap;
- the RANK_WINDOW newest matches anywhere, so that recent text-only matches are listed
  with the ranked ones (they score 0: ranked by exactness, then newest first).

Candidates are ordered exact-diacritic matches first, then by score, then newest; every
other match follows, newest first. Both engines find the same candidates (the same
tokens, the same walks); only their score formulas differ (bm25, ts_rank_cd).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from tortoise.backends.base.client import BaseDBAsyncClient

from docflow.archive.document import IndexEntry
from docflow.archive.query import ParsedQuery

RANK_WINDOW = 200
HEAD_WINDOW = 1000
ROW_COLUMNS = (
    "id, record_id, sort_key, number, type, register, signer, issued_on, title, summary, body"
)


def tag(kind: str, value: str) -> str:
    """An index token standing for an exact filter value (`xt4b48` for type `KH`): letters
    and digits only, so that both engines take it as one token."""
    return f"x{kind}{value.encode().hex()}"


@dataclass(frozen=True)
class Filters:
    """Exact-value filters, and the issue-date range as a range of sort keys."""

    lo: int
    hi: int
    number: str | None = None
    type: str | None = None
    register: str | None = None
    signer_key: str | None = None

    def conditions(self, mark: Any) -> tuple[list[str], list[Any]]:
        """SQL conditions on search_entries and their values; `mark(n)` writes placeholder n
        (1-based, counted from the values already bound by the caller)."""
        sql: list[str] = []
        values: list[Any] = []
        for column in ("number", "type", "register", "signer_key"):
            value = getattr(self, column)
            if value is not None:
                values.append(value)
                sql.append(f"{column} = {mark(len(values))}")
        return sql, values

    def tags(self) -> list[str]:
        """The filter tokens a match must also have (see `entry_tags`)."""
        pairs = (("n", self.number), ("t", self.type), ("r", self.register))
        out = [tag(kind, value) for kind, value in pairs if value is not None]
        if self.signer_key is not None:
            out.append(tag("s", self.signer_key))
        return out


@dataclass(frozen=True)
class Candidate:
    key: int  # sort key
    score: float  # higher is better; 0 without a head match
    exact: bool  # every term found with its diacritics as typed


@dataclass(frozen=True)
class Candidates:
    """The ranked part of a query; `bound` is the sort key of the oldest of the
    RANK_WINDOW newest matches when there may be older ones, else None."""

    items: list[Candidate]
    bound: int | None

    def ordered(self) -> list[Candidate]:
        return sorted(self.items, key=lambda c: (not c.exact, -c.score, -c.key))

    def older(self) -> list[int]:
        """Candidates older than `bound`: the listing after the ranked part skips them."""
        b = self.bound
        return [] if b is None else sorted(c.key for c in self.items if c.key < b)


class Backend(Protocol):
    async def add(self, conn: BaseDBAsyncClient, entry: IndexEntry, fresh: bool = False) -> None:
        """Insert or replace the entry of `entry.record_id`; `fresh`: the index is known
        to hold nothing for it (a rebuild), so there is nothing to take out first."""

    async def remove(self, conn: BaseDBAsyncClient, record_id: int) -> bool: ...

    async def candidates(
        self, conn: BaseDBAsyncClient, query: ParsedQuery, filters: Filters
    ) -> Candidates: ...

    async def newest(
        self,
        conn: BaseDBAsyncClient,
        query: ParsedQuery,
        filters: Filters,
        offset: int,
        limit: int,
        skip: list[int] | None = None,
    ) -> list[int]:
        """Matches newest first; `skip`: sort keys left out (candidates already listed)."""

    async def rows(self, conn: BaseDBAsyncClient, keys: list[int]) -> dict[int, dict[str, Any]]: ...

    async def clear(self, conn: BaseDBAsyncClient, rows_too: bool) -> None:
        """Empty the engine index (and the search table when `rows_too`)."""

    async def tidy(self, conn: BaseDBAsyncClient) -> None:
        """After a rebuild: fresh statistics for the planner, the index compacted."""
