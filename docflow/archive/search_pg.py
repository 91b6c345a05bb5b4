"""The PostgreSQL engine: a tsvector `tsv` on search_entries, `head_tsv` in search_heads.

docflow writes the tsvectors itself (no text search configuration involved). `tsv`:
every token twice at its position, folded (`dan`) and exact with a `=` prefix (`=dân`),
weighted by field (title A, summary B, number and signer C, text D), with a one-position
gap between fields so that no phrase spans two of them, the folded word pairs (`dan~toc`,
no position) and the filter tokens with a `#` prefix. `head_tsv`, in a narrow table of
its own (few pages to read): the same for title, summary and meta: the head candidates are
walked there, ranked by `ts_rank_cd` over it (cover density, weights 1.0/0.4/0.2) and
put in the first tier by `head_tsv @@ exact`: a small value read, not the whole text.
Queries are tsquery literals built the same way; `tsv @@ exact` decides the first tier
of the other candidates.
"""

from __future__ import annotations

import itertools
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

from docflow.archive.backend import HEAD_WINDOW, RANK_WINDOW, Candidate, Candidates, Filters
from docflow.archive.document import FIELDS, IndexEntry, field_tokens, folded_tokens
from docflow.archive.query import ParsedQuery, Term
from docflow.archive.sql import entry_tags, entry_values, listed, rows_by_key, upsert_sql

WEIGHTS = dict(zip(FIELDS, "ABCD", strict=True))
MAX_POSITION = 16383  # PostgreSQL's limit; later words share it (phrases there are lost)
MAX_POSITIONS = 256  # per lexeme, PostgreSQL keeps no more


def mark(n: int) -> str:
    return f"${n}"


def tsvector_literal(entry: IndexEntry, head: bool = False) -> str:
    """The tsvector of `entry` (`head`: of its title, summary and meta only), as text
    PostgreSQL parses (`'dan':1A '=dân':1A … 'dan~toc' … '#xt4b48'`)."""
    fields = field_tokens(entry)
    lexemes: dict[str, list[str]] = {}
    pairs: set[str] = set()
    position = 1
    for name in FIELDS[:3] if head else FIELDS:
        weight = WEIGHTS[name]
        exact = fields[name]
        folded_all = folded_tokens(exact)
        for token, folded in zip(exact, folded_all, strict=True):
            at = f"{min(position, MAX_POSITION)}{weight}"
            lexemes.setdefault(folded, []).append(at)
            lexemes.setdefault("=" + token, []).append(at)
            position += 1
        position += 1
        pairs.update(f"{a}~{b}" for a, b in itertools.pairwise(folded_all))
    # tokens are letters and digits only: nothing to escape inside the quotes
    words = [f"'{lex}':{','.join(ats[:MAX_POSITIONS])}" for lex, ats in lexemes.items()]
    return " ".join(
        [*words, *(f"'{p}'" for p in sorted(pairs)), *(f"'#{t}'" for t in entry_tags(entry))]
    )


def tsquery_literal(
    query: ParsedQuery, exact: bool = False, tags: list[str] | None = None, negated: bool = True
) -> str:
    """The tsquery of the positive terms (folded, or exact `=` lexemes), minus the negated
    (folded, unless `negated` is False), with every filter tag."""

    def phrase(t: Term) -> str:
        words = [f"'={w}'" for w in t.tokens] if exact else [f"'{w}'" for w in t.folded]
        return "(" + " <-> ".join(words) + ")"

    parts = [phrase(t) for t in query.positive]
    if not exact and negated:
        parts += [f"!{phrase(t)}" for t in query.negative]
    if tags is not None:  # a match (not a rank) query: the word pairs narrow a phrase
        parts += [f"'{a}~{b}'" for t in query.positive for a, b in pairs_of(t.folded)]
    return " & ".join([*parts, *(f"'#{t}'" for t in tags or [])])


def pairs_of(tokens: tuple[str, ...]) -> list[tuple[str, str]]:
    """The adjacent pairs of a phrase: GIN keeps no positions, so a phrase of common words
    is otherwise rechecked in every row that has them all; each pair is a lexeme too."""
    return list(itertools.pairwise(tokens))


def tsquery_sql(literal: str) -> str:
    """A tsquery written into the SQL, not bound: a bound one is planned once for every
    query after a few runs (a generic plan), blind to how common its words are, which
    picks the sort-key walk for a rare word too (a scan of every row). The literal holds
    tokens of letters and digits and docflow's own quotes, doubled here."""
    return "'" + literal.replace("'", "''") + "'::tsquery"


class PostgresSearch:
    """tsvector + GIN behind the search service."""

    def __init__(self, window: int = RANK_WINDOW, head: int = HEAD_WINDOW) -> None:
        self.window_size = window
        self.head_size = head

    async def add(self, conn: BaseDBAsyncClient, entry: IndexEntry, fresh: bool = False) -> None:
        n = len(entry_values(entry)) + 1
        await conn.execute_query(
            upsert_sql(mark, {"tsv": f"${n}::text::tsvector"}),
            [*entry_values(entry), tsvector_literal(entry)],
        )
        await conn.execute_query(
            "INSERT INTO search_heads (sort_key, head_tsv) VALUES ($1, $2::text::tsvector) "
            "ON CONFLICT (sort_key) DO UPDATE SET head_tsv = excluded.head_tsv",
            [entry.sort_key, tsvector_literal(entry, head=True)],
        )

    async def remove(self, conn: BaseDBAsyncClient, record_id: int) -> bool:
        count, _ = await conn.execute_query(
            "DELETE FROM search_entries WHERE record_id = $1", [record_id]
        )
        return bool(count)

    async def candidates(
        self, conn: BaseDBAsyncClient, query: ParsedQuery, filters: Filters
    ) -> Candidates:
        match = tsquery_sql(tsquery_literal(query, tags=filters.tags()))
        walk = (
            "SELECT sort_key{extra} FROM {table} WHERE {col} @@ {match} "
            f"AND sort_key BETWEEN {int(filters.lo)} AND {int(filters.hi)} "
            "ORDER BY sort_key DESC LIMIT {n}"
        )
        head = walk.format(
            extra=", head_tsv", table="search_heads", col="head_tsv", match=match, n=self.head_size
        )
        recent = walk.format(
            extra="", table="search_entries", col="tsv", match=match, n=self.window_size
        )
        exact = tsquery_sql(tsquery_literal(query, exact=True))
        rank = tsquery_sql(tsquery_literal(query, negated=False))

        def whole(test: str, key: str) -> str:
            return f"(SELECT e.tsv @@ {test} FROM search_entries e WHERE e.sort_key = {key})"

        negated = whole(match, "h.sort_key") if query.negative else "true"
        rows = await conn.execute_query_dict(
            f"WITH h AS MATERIALIZED ({head}), r AS MATERIALIZED ({recent}) "
            "SELECT coalesce(h.sort_key, r.sort_key) AS sort_key, "
            "r.sort_key IS NOT NULL AS recent, "
            "(SELECT count(*) FROM r) AS n, (SELECT min(sort_key) FROM r) AS bound, "
            "CASE WHEN h.sort_key IS NULL THEN 0 "
            f"ELSE ts_rank_cd(h.head_tsv, {rank}, 1) END AS score, "
            f"CASE WHEN h.sort_key IS NULL THEN {whole(exact, 'r.sort_key')} "
            f"ELSE h.head_tsv @@ {exact} END AS exact, "
            f"CASE WHEN r.sort_key IS NULL THEN {negated} ELSE true END AS full_match "
            "FROM h FULL JOIN r ON h.sort_key = r.sort_key"
        )
        if not rows:
            return Candidates([], None)
        full = int(rows[0]["n"]) >= self.window_size
        bound = int(rows[0]["bound"]) if full else None
        start = bound if bound is not None else filters.lo
        items = [
            Candidate(int(r["sort_key"]), float(r["score"]), bool(r["exact"]))
            for r in rows
            # as on SQLite: a head match in the recent ones' range is one of them unless
            # its text holds a negated word; older ones are checked against the whole text
            if r["recent"] or (int(r["sort_key"]) < start and r["full_match"])
        ]
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
        skipped = ", ".join(str(int(k)) for k in skip or [])
        rows = await conn.execute_query_dict(
            "SELECT sort_key FROM search_entries "
            f"WHERE tsv @@ {tsquery_sql(tsquery_literal(query, tags=filters.tags()))} "
            f"AND sort_key BETWEEN {int(filters.lo)} AND {int(filters.hi)} "
            + (f"AND sort_key NOT IN ({skipped}) " if skipped else "")
            + f"ORDER BY sort_key DESC LIMIT {int(limit)} OFFSET {int(offset)}"
        )
        return [int(r["sort_key"]) for r in rows]

    async def rows(self, conn: BaseDBAsyncClient, keys: list[int]) -> dict[int, dict[str, Any]]:
        return await rows_by_key(conn, mark, keys)

    async def clear(self, conn: BaseDBAsyncClient, rows_too: bool) -> None:
        if rows_too:
            await conn.execute_query("DELETE FROM search_entries")
