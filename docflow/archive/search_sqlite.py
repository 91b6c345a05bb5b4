"""The SQLite engine: two contentless FTS5 tables, rowid = sort_key.

`search_fts`: title, summary, meta, body (exact tokens), the same four folded (`_f`),
and `tags` (the filter tokens). A query matches the folded columns and the tags; the
exact columns only decide the first tier (every term present with its diacritics).
`search_head`: title, summary, meta (exact and folded) and the tags, a tenth of the
size: the head candidates are walked there, ranked by its `bm25()` (title ×10, summary
×4, number and signer ×2) and put in the first tier by its exact columns. FTS5 walks
its doclists in rowid order, so "the newest N matches" costs N steps, not a sort of
every match. (bm25 over search_fts is not used: it counts each
phrase over the whole table first, 20-300 ms for a common phrase at 100,000 documents.)
"""

from __future__ import annotations

from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

from docflow.archive.backend import HEAD_WINDOW, RANK_WINDOW, Candidate, Candidates, Filters
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
HEAD = "{title_f summary_f meta_f}"
HEAD_EXACT = "{title summary meta}"
FTS_COLUMNS = "title, summary, meta, body, title_f, summary_f, meta_f, body_f, tags"
HEAD_COLUMNS = "title, summary, meta, title_f, summary_f, meta_f, tags"
BM25 = "bm25(search_head, 0.0, 0.0, 0.0, 10.0, 4.0, 2.0, 0.0)"
LOOKUPS = 200  # up to this many keys are looked up one by one, more by walking their range


def mark(_: int) -> str:
    return "?"


def _phrase(tokens: tuple[str, ...]) -> str:
    return '"' + " ".join(tokens) + '"'  # tokens are letters and digits only


def match_expression(
    query: ParsedQuery, exact: bool = False, columns: str = "", tags: list[str] | None = None
) -> str:
    """The FTS5 MATCH string: every positive term (folded or exact) in `columns`, minus
    the negated ones (folded only), and every filter tag."""

    def form(t: Term) -> tuple[str, ...]:
        return t.tokens if exact else t.folded

    expr = " AND ".join(_phrase(form(t)) for t in query.positive)
    if not exact:
        for t in query.negative:
            expr = f"({expr}) NOT {_phrase(t.folded)}"
    out = f"{columns or (EXACT if exact else FOLDED)} : ({expr})"
    if tags:
        out += " AND {tags} : (" + " AND ".join(tags) + ")"
    return out


def negated_expression(query: ParsedQuery) -> str | None:
    """Matches a document holding any negated term anywhere, or None when there is none."""
    if not query.negative:
        return None
    return f"{FOLDED} : (" + " OR ".join(_phrase(t.folded) for t in query.negative) + ")"


class SqliteSearch:
    """FTS5 behind the search service."""

    def __init__(self, window: int = RANK_WINDOW, head: int = HEAD_WINDOW) -> None:
        self.window_size = window
        self.head_size = head

    async def _old(self, conn: BaseDBAsyncClient, record_id: int) -> dict[str, Any] | None:
        rows = await conn.execute_query_dict(
            f"SELECT {', '.join(ENTRY_COLUMNS)} FROM search_entries WHERE record_id = ?",
            [record_id],
        )
        return dict(rows[0]) if rows else None

    async def _index(
        self, conn: BaseDBAsyncClient, entry: IndexEntry, key: int, delete: bool = False
    ) -> None:
        # A contentless table forgets a row only when told its exact former tokens,
        # which are recomputed from the stored text (the tokenizer is deterministic;
        # `docflow reindex` rebuilds everything should it ever change).
        cols = text_columns(entry)
        head = [*cols[0:3], *cols[4:7], cols[8]]
        for table, names, values in (
            ("search_fts", FTS_COLUMNS, cols),
            ("search_head", HEAD_COLUMNS, head),
        ):
            first, command = (f"{table}, ", "'delete', ") if delete else ("", "")
            await conn.execute_query(
                f"INSERT INTO {table} ({first}rowid, {names}) "
                f"VALUES ({command}?, {', '.join('?' * len(values))})",
                [key, *values],
            )

    async def add(self, conn: BaseDBAsyncClient, entry: IndexEntry, fresh: bool = False) -> None:
        if not fresh:
            old = await self._old(conn, entry.record_id)
            if old is not None:
                await self._index(conn, entry_from_row(old), old["sort_key"], delete=True)
        await conn.execute_query(upsert_sql(mark), entry_values(entry, date_as_text=True))
        await self._index(conn, entry, entry.sort_key)

    async def remove(self, conn: BaseDBAsyncClient, record_id: int) -> bool:
        old = await self._old(conn, record_id)
        if old is None:
            return False
        await self._index(conn, entry_from_row(old), old["sort_key"], delete=True)
        await conn.execute_query("DELETE FROM search_entries WHERE record_id = ?", [record_id])
        return True

    async def _walk(
        self, conn: BaseDBAsyncClient, table: str, expr: str, lo: int, hi: int, limit: int
    ) -> list[dict[str, Any]]:
        score = f", {BM25} AS score" if table == "search_head" else ""
        rows = await conn.execute_query_dict(
            f"SELECT rowid AS k{score} FROM {table} WHERE {table} MATCH ? "
            f"AND rowid BETWEEN ? AND ? ORDER BY rowid DESC LIMIT {int(limit)}",
            [expr, lo, hi],
        )
        return [dict(r) for r in rows]

    async def _members(
        self, conn: BaseDBAsyncClient, table: str, expr: str, keys: list[int], walk: bool
    ) -> set[int]:
        """Which of `keys` match `expr` in `table`: looked up one by one, or (`walk`) by
        walking their range, cheaper when they are many and dense in it."""
        if not keys:
            return set()
        if walk:
            where, values = "rowid BETWEEN ? AND ?", [min(keys), max(keys)]
        else:
            where, values = f"rowid IN ({', '.join('?' * len(keys))})", keys
        rows = await conn.execute_query_dict(
            f"SELECT rowid AS k FROM {table} WHERE {table} MATCH ? AND {where}",
            [expr, *values],
        )
        return {int(r["k"]) for r in rows} & set(keys)

    async def candidates(
        self, conn: BaseDBAsyncClient, query: ParsedQuery, filters: Filters
    ) -> Candidates:
        tags = filters.tags()
        lo, hi = filters.lo, filters.hi
        head_expr = match_expression(query, columns=HEAD, tags=tags)
        head = await self._walk(conn, "search_head", head_expr, lo, hi, self.head_size)
        recent = await self._walk(
            conn, "search_fts", match_expression(query, tags=tags), lo, hi, self.window_size
        )
        bound = int(recent[-1]["k"]) if len(recent) == self.window_size else None
        scores = {int(r["k"]): -float(r["score"]) for r in head}
        start = bound if bound is not None else lo
        recent_keys = {int(r["k"]) for r in recent}
        # a head match in the range of the recent ones is one of them unless its text
        # holds a negated word; older ones are checked against the whole document
        dropped = {k for k in scores if k >= start and k not in recent_keys}
        negated = negated_expression(query)
        if negated is not None:
            older = [k for k in scores if k < start]
            dropped |= await self._members(conn, "search_fts", negated, older, walk=False)
        for k in dropped:
            del scores[k]
        # the first tier: the words as typed in the head for a head match (what ranks it),
        # anywhere for the others (all among the recent ones, a cheap range to walk)
        exact = await self._members(
            conn,
            "search_head",
            match_expression(query, exact=True, columns=HEAD_EXACT, tags=tags),
            list(scores),
            walk=len(scores) > LOOKUPS,
        )
        others = recent_keys - set(scores)
        if others:
            rows = await conn.execute_query_dict(
                "SELECT rowid AS k FROM search_fts WHERE search_fts MATCH ? "
                "AND rowid BETWEEN ? AND ?",
                [match_expression(query, exact=True, tags=tags), min(others), hi],
            )
            exact |= {int(r["k"]) for r in rows} & others
        items = [Candidate(k, scores.get(k, 0.0), k in exact) for k in recent_keys | set(scores)]
        return Candidates(items, bound)

    async def newest(
        self,
        conn: BaseDBAsyncClient,
        query: ParsedQuery,
        filters: Filters,
        offset: int,
        limit: int,
        skip: list[int] | None = None,
    ) -> list[int]:
        if query.empty:
            return await listed(conn, mark, filters, filters.hi, offset, limit)
        where = ""
        if skip:
            where = f" AND +rowid NOT IN ({', '.join('?' * len(skip))})"
        rows = await conn.execute_query_dict(
            "SELECT rowid AS k FROM search_fts WHERE search_fts MATCH ? "
            f"AND rowid BETWEEN ? AND ?{where} "
            f"ORDER BY rowid DESC LIMIT {int(limit)} OFFSET {int(offset)}",
            [
                match_expression(query, tags=filters.tags()),
                filters.lo,
                filters.hi,
                *(skip or []),
            ],
        )
        return [int(r["k"]) for r in rows]

    async def rows(self, conn: BaseDBAsyncClient, keys: list[int]) -> dict[int, dict[str, Any]]:
        return await rows_by_key(conn, mark, keys)

    async def clear(self, conn: BaseDBAsyncClient, rows_too: bool) -> None:
        for table in ("search_fts", "search_head"):
            await conn.execute_query(f"INSERT INTO {table} ({table}) VALUES ('delete-all')")
        if rows_too:
            await conn.execute_query("DELETE FROM search_entries")

    async def tidy(self, conn: BaseDBAsyncClient) -> None:
        # one b-tree per FTS5 table instead of the segments of every batch written
        await conn.execute_script(
            "ANALYZE; INSERT INTO search_fts(search_fts) VALUES('optimize'); "
            "INSERT INTO search_head(search_head) VALUES('optimize')"
        )
