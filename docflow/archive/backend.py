"""What each engine (SQLite FTS5, PostgreSQL tsvector) provides to the search service.

Ranking every match is what makes a search on a common word slow, so an engine
ranks a bounded *window*: the RANK_WINDOW newest matches (by issue date, then record).
A query with fewer matches is ranked whole; a broader one lists its ranked window
first, then its older matches newest first. The window is the same set on both
engines, so both return the same documents in the same pages.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from tortoise.backends.base.client import BaseDBAsyncClient

from docflow.archive.document import IndexEntry
from docflow.archive.query import ParsedQuery

RANK_WINDOW = 1000
ROW_COLUMNS = (
    "id, record_id, sort_key, number, type, register, signer, issued_on, title, summary, body"
)


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


@dataclass(frozen=True)
class Window:
    """One page cut from the ranked window; `bound` is the sort key of the window's
    oldest entry when the window is full (older matches may exist beyond it), else None."""

    keys: list[int]
    bound: int | None
    exact: frozenset[int]  # the keys of the page in the first tier (exact diacritics)


class Backend(Protocol):
    async def add(self, conn: BaseDBAsyncClient, entry: IndexEntry, fresh: bool = False) -> None:
        """Insert or replace the entry of `entry.record_id`; `fresh`: the index is known
        to hold nothing for it (a rebuild), so there is nothing to take out first."""

    async def remove(self, conn: BaseDBAsyncClient, record_id: int) -> bool: ...

    async def window(
        self,
        conn: BaseDBAsyncClient,
        query: ParsedQuery,
        filters: Filters,
        offset: int,
        limit: int,
    ) -> Window: ...

    async def newest(
        self,
        conn: BaseDBAsyncClient,
        query: ParsedQuery,
        filters: Filters,
        offset: int,
        limit: int,
    ) -> list[int]: ...

    async def rows(self, conn: BaseDBAsyncClient, keys: list[int]) -> dict[int, dict[str, Any]]: ...

    async def clear(self, conn: BaseDBAsyncClient, rows_too: bool) -> None:
        """Empty the engine index (and the search table when `rows_too`)."""
