"""The PostgreSQL engine: a tsvector column `tsv` on search_entries with a GIN index.

docflow writes the tsvector itself (no text search configuration involved): every
token twice at its position, folded (`dan`) and exact with a `=` prefix (`=dân`),
weighted by field (title A, summary B, number and signer C, text D), with a one-position
gap between fields so that no phrase spans two of them. Queries are tsquery literals
built the same way. `ts_rank_cd` (cover density, default weights 1.0/0.4/0.2/0.1)
ranks the window; `tsv @@ exact` decides the first tier.
"""

from __future__ import annotations

from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

from docflow.archive.backend import RANK_WINDOW, Filters, Window
from docflow.archive.document import FIELDS, IndexEntry, field_tokens, folded_tokens
from docflow.archive.query import ParsedQuery, Term
from docflow.archive.sql import entry_values, listed, rows_by_key, upsert_sql

WEIGHTS = dict(zip(FIELDS, "ABCD", strict=True))
MAX_POSITION = 16383  # PostgreSQL's limit; later words share it (phrases there are lost)
MAX_POSITIONS = 256  # per lexeme, PostgreSQL keeps no more


def mark(n: int) -> str:
    return f"${n}"


def tsvector_literal(entry: IndexEntry) -> str:
    """The tsvector of `entry`, as text PostgreSQL parses (`'dan':1A '=dân':1A …`)."""
    fields = field_tokens(entry)
    lexemes: dict[str, list[str]] = {}
    position = 1
    for name in FIELDS:
        weight = WEIGHTS[name]
        exact = fields[name]
        for token, folded in zip(exact, folded_tokens(exact), strict=True):
            at = f"{min(position, MAX_POSITION)}{weight}"
            lexemes.setdefault(folded, []).append(at)
            lexemes.setdefault("=" + token, []).append(at)
            position += 1
        position += 1
    # tokens are letters and digits only: nothing to escape inside the quotes
    return " ".join(f"'{lex}':{','.join(ats[:MAX_POSITIONS])}" for lex, ats in lexemes.items())


def tsquery_literal(query: ParsedQuery, exact: bool) -> str:
    """The tsquery of the positive terms (folded, or exact `=` lexemes), minus the negated."""

    def phrase(t: Term) -> str:
        words = [f"'={w}'" for w in t.tokens] if exact else [f"'{w}'" for w in t.folded]
        return "(" + " <-> ".join(words) + ")"

    parts = [phrase(t) for t in query.positive]
    if not exact:
        parts += [f"!{phrase(t)}" for t in query.negative]
    return " & ".join(parts)


class PostgresSearch:
    """tsvector + GIN behind the search service."""

    def __init__(self, window: int = RANK_WINDOW) -> None:
        self.window_size = window

    async def add(self, conn: BaseDBAsyncClient, entry: IndexEntry, fresh: bool = False) -> None:
        n = len(entry_values(entry)) + 1
        await conn.execute_query(
            upsert_sql(mark, {"tsv": f"${n}::text::tsvector"}),
            [*entry_values(entry), tsvector_literal(entry)],
        )

    async def remove(self, conn: BaseDBAsyncClient, record_id: int) -> bool:
        count, _ = await conn.execute_query(
            "DELETE FROM search_entries WHERE record_id = $1", [record_id]
        )
        return bool(count)

    def _where(self, filters: Filters, first: int) -> tuple[str, list[Any]]:
        """Conditions after the tsquery ($1): the sort-key range and the exact filters."""
        conds, values = filters.conditions(lambda i: mark(first + i))
        sql = " AND ".join(
            [f"tsv @@ $1::text::tsquery AND sort_key BETWEEN ${first - 1} AND ${first}", *conds]
        )
        return sql, [filters.lo, filters.hi, *values]

    async def window(
        self,
        conn: BaseDBAsyncClient,
        query: ParsedQuery,
        filters: Filters,
        offset: int,
        limit: int,
    ) -> Window:
        folded = tsquery_literal(query, exact=False)
        where, values = self._where(filters, 3)
        exact_mark = mark(len(values) + 2)
        rows = await conn.execute_query_dict(
            "WITH w AS MATERIALIZED (SELECT sort_key, tsv FROM search_entries "
            f"WHERE {where} ORDER BY sort_key DESC LIMIT {self.window_size}) "
            f"SELECT sort_key, tsv @@ {exact_mark}::text::tsquery AS exact, "
            "ts_rank_cd(tsv, $1::text::tsquery, 1) AS score, "
            "count(*) OVER () AS n, min(sort_key) OVER () AS bound FROM w "
            "ORDER BY exact DESC, score DESC, sort_key DESC "
            f"LIMIT {int(limit)} OFFSET {int(offset)}",
            [folded, *values, tsquery_literal(query, exact=True)],
        )
        if rows:
            full = int(rows[0]["n"]) >= self.window_size
            return Window(
                [int(r["sort_key"]) for r in rows],
                int(rows[0]["bound"]) if full else None,
                frozenset(int(r["sort_key"]) for r in rows if r["exact"]),
            )
        bound = await conn.execute_query_dict(
            f"SELECT sort_key FROM search_entries WHERE {where} "
            f"ORDER BY sort_key DESC LIMIT 1 OFFSET {self.window_size - 1}",
            [folded, *values],
        )
        return Window([], int(bound[0]["sort_key"]) if bound else None, frozenset())

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
        where, values = self._where(filters, 3)
        rows = await conn.execute_query_dict(
            f"SELECT sort_key FROM search_entries WHERE {where} "
            f"ORDER BY sort_key DESC LIMIT {int(limit)} OFFSET {int(offset)}",
            [tsquery_literal(query, exact=False), *values],
        )
        return [int(r["sort_key"]) for r in rows]

    async def rows(self, conn: BaseDBAsyncClient, keys: list[int]) -> dict[int, dict[str, Any]]:
        return await rows_by_key(conn, mark, keys)

    async def clear(self, conn: BaseDBAsyncClient, rows_too: bool) -> None:
        if rows_too:
            await conn.execute_query("DELETE FROM search_entries")
