"""The SQLite engine: a contentless FTS5 table `search_fts`, rowid = sort_key.

Columns: title, summary, meta, body (exact tokens) and the same four folded (`_f`).
A query matches the folded columns; the exact columns only decide the first tier
(every term present with its diacritics). `bm25()` ranks, title ×10, summary ×4,
number and signer ×2, text ×1. FTS5 walks its doclists in rowid order, so "the
newest N matches" (the ranking window) costs N steps, not a sort of every match.
"""

from __future__ import annotations

from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

from docflow.archive.backend import RANK_WINDOW, Filters, Window
from docflow.archive.document import IndexEntry
from docflow.archive.query import ParsedQuery, Term
from docflow.archive.sql import (
    ENTRY_COLUMNS,
    entry_from_row,
    entry_values,
    listed,
    rows_by_key,
    text_columns,
    upsert_sql,
)

EXACT = "{title summary meta body}"
FOLDED = "{title_f summary_f meta_f body_f}"
FTS_COLUMNS = "title, summary, meta, body, title_f, summary_f, meta_f, body_f"
BM25 = "bm25(search_fts, 10.0, 4.0, 2.0, 1.0, 10.0, 4.0, 2.0, 1.0)"


def mark(_: int) -> str:
    return "?"


def _phrase(tokens: tuple[str, ...]) -> str:
    return '"' + " ".join(tokens) + '"'  # tokens are letters and digits only


def match_expression(query: ParsedQuery, exact: bool) -> str:
    """The FTS5 MATCH string: every positive term (folded or exact), minus the negated ones."""

    def form(t: Term) -> tuple[str, ...]:
        return t.tokens if exact else t.folded

    expr = " AND ".join(_phrase(form(t)) for t in query.positive)
    if not exact:
        for t in query.negative:
            expr = f"({expr}) NOT {_phrase(t.folded)}"
    return f"{EXACT if exact else FOLDED} : ({expr})"


class SqliteSearch:
    """FTS5 behind the search service."""

    def __init__(self, window: int = RANK_WINDOW) -> None:
        self.window_size = window

    async def _old(self, conn: BaseDBAsyncClient, record_id: int) -> dict[str, Any] | None:
        rows = await conn.execute_query_dict(
            f"SELECT {', '.join(ENTRY_COLUMNS)} FROM search_entries WHERE record_id = ?",
            [record_id],
        )
        return dict(rows[0]) if rows else None

    async def _unindex(self, conn: BaseDBAsyncClient, row: dict[str, Any]) -> None:
        # A contentless table forgets a row only when told its exact former tokens,
        # which are recomputed from the stored text (the tokenizer is deterministic;
        # `docflow reindex` rebuilds everything should it ever change).
        await conn.execute_query(
            f"INSERT INTO search_fts (search_fts, rowid, {FTS_COLUMNS}) "
            f"VALUES ('delete', ?, {', '.join('?' * 8)})",
            [row["sort_key"], *text_columns(entry_from_row(row))],
        )

    async def add(self, conn: BaseDBAsyncClient, entry: IndexEntry, fresh: bool = False) -> None:
        if not fresh:
            old = await self._old(conn, entry.record_id)
            if old is not None:
                await self._unindex(conn, old)
        await conn.execute_query(upsert_sql(mark), entry_values(entry, date_as_text=True))
        await conn.execute_query(
            f"INSERT INTO search_fts (rowid, {FTS_COLUMNS}) VALUES (?, {', '.join('?' * 8)})",
            [entry.sort_key, *text_columns(entry)],
        )

    async def remove(self, conn: BaseDBAsyncClient, record_id: int) -> bool:
        old = await self._old(conn, record_id)
        if old is None:
            return False
        await self._unindex(conn, old)
        await conn.execute_query("DELETE FROM search_entries WHERE record_id = ?", [record_id])
        return True

    def _where(self, filters: Filters, lo: int, hi: int) -> tuple[str, list[Any]]:
        conds, values = filters.conditions(mark)
        sql = "search_fts MATCH ? AND rowid BETWEEN ? AND ?"
        if conds:
            where = " AND ".join(conds)
            # `+rowid`: filtered after the full-text match, not handed to FTS5 as one
            # lookup per selected row (which would re-run the match thousands of times)
            sql += f" AND +rowid IN (SELECT sort_key FROM search_entries WHERE {where})"
        return sql, [lo, hi, *values]

    async def window(
        self,
        conn: BaseDBAsyncClient,
        query: ParsedQuery,
        filters: Filters,
        offset: int,
        limit: int,
    ) -> Window:
        folded = match_expression(query, exact=False)
        where, values = self._where(filters, filters.lo, filters.hi)
        rows = await conn.execute_query_dict(
            f"SELECT rowid AS k FROM search_fts WHERE {where} "
            f"ORDER BY rowid DESC LIMIT 1 OFFSET {self.window_size - 1}",
            [folded, *values],
        )
        bound = int(rows[0]["k"]) if rows else None
        lo = bound if bound is not None else filters.lo
        where, values = self._where(filters, lo, filters.hi)
        rows = await conn.execute_query_dict(
            f"SELECT rowid AS k, {BM25} AS score, rowid IN (SELECT rowid FROM search_fts "
            "WHERE search_fts MATCH ? AND rowid BETWEEN ? AND ?) AS exact "
            f"FROM search_fts WHERE {where} ORDER BY exact DESC, score, rowid DESC "
            f"LIMIT {int(limit)} OFFSET {int(offset)}",
            [match_expression(query, exact=True), lo, filters.hi, folded, *values],
        )
        keys = [int(r["k"]) for r in rows]
        return Window(keys, bound, frozenset(int(r["k"]) for r in rows if r["exact"]))

    async def newest(
        self,
        conn: BaseDBAsyncClient,
        query: ParsedQuery,
        filters: Filters,
        offset: int,
        limit: int,
    ) -> list[int]:
        if query.empty:
            return await listed(conn, mark, filters, filters.hi, offset, limit)
        where, values = self._where(filters, filters.lo, filters.hi)
        rows = await conn.execute_query_dict(
            f"SELECT rowid AS k FROM search_fts WHERE {where} "
            f"ORDER BY rowid DESC LIMIT {int(limit)} OFFSET {int(offset)}",
            [match_expression(query, exact=False), *values],
        )
        return [int(r["k"]) for r in rows]

    async def rows(self, conn: BaseDBAsyncClient, keys: list[int]) -> dict[int, dict[str, Any]]:
        return await rows_by_key(conn, mark, keys)

    async def clear(self, conn: BaseDBAsyncClient, rows_too: bool) -> None:
        await conn.execute_query("INSERT INTO search_fts (search_fts) VALUES ('delete-all')")
        if rows_too:
            await conn.execute_query("DELETE FROM search_entries")
