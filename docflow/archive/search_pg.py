"""The PostgreSQL engine: tsvectors in two narrow tables beside search_entries.

docflow writes the tsvectors itself (no text search configuration involved).
`search_terms.tsv`: every token twice at its position, folded (`dan`) and exact with a
`=` prefix (`=dân`), weighted by field (title A, summary B, number and signer C, text
D), with a one-position gap between fields so that no phrase spans two of them, the
folded word pairs (`dan~toc`, no position) and the filter tokens with a `#` prefix.
`search_heads.head_tsv`: the same for title, summary and meta. Both tables hold only the
sort key and the tsvector (a walk by sort key reads few pages, and the GIN index finds
rows without the wide texts); the head candidates are walked in search_heads, ranked by
`ts_rank_cd` there (cover density, weights 1.0/0.4/0.2) and put in the first tier by
`head_tsv @@ exact`. Queries are tsquery literals built the same way; `tsv @@ exact`
decides the first tier of the other candidates. How the newest matches are found in
bounded work whatever the planner estimates: `PostgresSearch._newest`.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
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


# Matches sparser than one row in SPARSE are found by the GIN index rather than by a walk
# (see `_newest`). Measured at 100,000 documents: a walk costs ~9 µs a row in search_terms
# (a tsvector read out of line) and ~2.5 µs in search_heads; the GIN index ~1.3 and ~3.5
# µs a match (the row's page visited for its sort key, then sorted). So walking for n more
# matches at density d (n / d rows) is cheaper than listing all d × 100,000 matches while
# d is above ~1/10, and more so in a larger archive.
SPARSE = 10
# the most rows one round of the GIN route tests (each read by key, ~10 µs)
MAX_BATCH = 16384


def plain_literal(query: ParsedQuery, tags: list[str]) -> str:
    """A tsquery the GIN index answers without reading any row (no phrase operator, no
    weight, no negation): the positive words, a phrase by its word pairs, the tags. It
    finds every match of the query, and seldom more (a phrase's pairs apart)."""
    parts = []
    for t in query.positive:
        pairs = pairs_of(t.folded)
        parts += [f"'{a}~{b}'" for a, b in pairs] if pairs else [f"'{t.folded[0]}'"]
    return " & ".join([*parts, *(f"'#{t}'" for t in tags)])


def match_and_plain(query: ParsedQuery, tags: list[str]) -> tuple[str, str]:
    """The SQL of the query's tsquery and of its plain form: the same text when the
    query is words only (nothing the GIN index must recheck)."""
    plain = tsquery_sql(plain_literal(query, tags))
    if not query.negative and all(len(t.tokens) == 1 for t in query.positive):
        return plain, plain
    return tsquery_sql(tsquery_literal(query, tags=tags)), plain


@dataclass(frozen=True)
class Walk:
    """The newest matches of a tsquery in one tsvector column of a narrow table."""

    table: str  # search_terms or search_heads
    column: str  # tsv or head_tsv
    match: str  # SQL of the tsquery (phrases, negations)
    plain: str  # SQL of its plain form (`plain_literal`): equal to `match` without those
    extra: str = ""  # more columns, computed for the rows found only


def by_key(walk: Walk, keys: list[int]) -> str:
    """A subquery of the rows of `keys`, read by key: OFFSET 0 keeps a test on them out of
    it, else the planner may answer `sort_key IN (…) AND tsv @@ q` by the GIN index,
    rechecking every row that holds the words (550 ms for 108 keys of a phrase)."""
    listed_keys = ", ".join(str(int(k)) for k in keys)
    return (
        f"SELECT sort_key, {walk.column} FROM {walk.table} "
        f"WHERE sort_key IN ({listed_keys}) OFFSET 0"
    )


class PostgresSearch:
    """tsvector + GIN behind the search service."""

    def __init__(self, window: int = RANK_WINDOW, head: int = HEAD_WINDOW) -> None:
        self.window_size = window
        self.head_size = head

    async def add(self, conn: BaseDBAsyncClient, entry: IndexEntry, fresh: bool = False) -> None:
        await conn.execute_query(upsert_sql(mark), entry_values(entry))
        for table, column, head in (
            ("search_terms", "tsv", False),
            ("search_heads", "head_tsv", True),
        ):
            await conn.execute_query(
                f"INSERT INTO {table} (sort_key, {column}) VALUES ($1, $2::text::tsvector) "
                f"ON CONFLICT (sort_key) DO UPDATE SET {column} = excluded.{column}",
                [entry.sort_key, tsvector_literal(entry, head=head)],
            )

    async def remove(self, conn: BaseDBAsyncClient, record_id: int) -> bool:
        count, _ = await conn.execute_query(
            "DELETE FROM search_entries WHERE record_id = $1", [record_id]
        )
        return bool(count)

    async def _newest(
        self, conn: BaseDBAsyncClient, walk: Walk, lo: int, hi: int, n: int
    ) -> list[dict[str, Any]]:
        """The `n` newest rows in [lo, hi] that match, newest first, in bounded work.

        For words (no phrase, no exclusion) the planner chooses well between walking the
        sort_key index and the GIN index: it knows how common each word is. For a phrase
        it does not: it multiplies the frequencies of the phrase's words and pairs as if
        independent, expects a few rows for a phrase of common words and reads every
        match through the GIN index with a recheck of each (`"vị trí việc làm"`: 25,000
        rows, 300-700 ms) where walking the newest 800 rows finds 200. So then:

        1. Walk the newest rows by sort_key, a chunk at a time (a subquery with its own
           LIMIT, so the walk cannot go on), testing each: first n / 4 rows, then, while
           at least one row in SPARSE matched, as many as that density says are left.
        2. Otherwise the matches are sparse here: the rest are found by the plain query
           (words, a phrase by its word pairs), which the GIN index answers without
           reading a row to recheck it, newest first (the planner's choice again, on
           words and pairs only), and only those rows are tested for the phrases and
           exclusions (and give `extra`), a batch at a time.
        """
        if walk.match == walk.plain:  # words only: the planner knows how common they are
            rows = await conn.execute_query_dict(
                f"SELECT sort_key{walk.extra} FROM (SELECT sort_key, {walk.column} "
                f"FROM {walk.table} WHERE {walk.column} @@ {walk.plain} "
                f"AND sort_key BETWEEN {lo} AND {hi} ORDER BY sort_key DESC LIMIT {n}) w "
                "ORDER BY sort_key DESC"
            )
            return [dict(r) for r in rows]
        found: list[dict[str, Any]] = []
        seen: set[int] = set()
        walked, chunk = 0, max(n // 4, 1)  # a quarter of n tells dense from sparse
        while True:
            chunk_sql = (
                f"FROM {walk.table} WHERE sort_key BETWEEN {lo} AND {hi} "
                f"ORDER BY sort_key DESC LIMIT {chunk}"
            )
            rows = await conn.execute_query_dict(
                f"SELECT sort_key{walk.extra} FROM (SELECT sort_key, {walk.column} "
                f"{chunk_sql}) w WHERE {walk.column} @@ {walk.match} "
                f"ORDER BY sort_key DESC LIMIT {n - len(found)}"
            )
            # a row issued between this query and the edge's below moves the floor up
            # by one: the row at the old floor is walked again, and must not count twice
            found += [dict(r) for r in rows if int(r["sort_key"]) not in seen]
            seen.update(int(r["sort_key"]) for r in rows)
            if len(found) >= n:
                return found
            # where the walk stopped (keys only: the index, not the tsvectors)
            edge = await conn.execute_query_dict(
                f"SELECT count(*) AS walked, min(sort_key) AS floor "
                f"FROM (SELECT sort_key {chunk_sql}) w"
            )
            if int(edge[0]["walked"]) < chunk:
                return found  # the walk read the whole range
            walked += chunk
            hi = int(edge[0]["floor"]) - 1
            if len(found) * SPARSE < walked:
                break
            # rows still to walk at the density seen so far, with a margin
            chunk = max((n - len(found)) * walked * 5 // (4 * len(found)) + 1, n // 4)
        # the pairs seldom hold without the phrase, but an exclusion may reject most plain
        # matches (`quyết định -ubnd`): the batch doubles each round, so that the rounds
        # stay few (each one asks the GIN index again for every plain match below `hi`)
        batch = 2 * (n - len(found))
        while len(found) < n:
            keys = [
                int(r["sort_key"])
                for r in await conn.execute_query_dict(
                    f"SELECT sort_key FROM {walk.table} WHERE {walk.column} @@ {walk.plain} "
                    f"AND sort_key BETWEEN {lo} AND {hi} ORDER BY sort_key DESC "
                    f"LIMIT {batch}"
                )
            ]
            if not keys:
                break
            more = await conn.execute_query_dict(
                f"SELECT sort_key{walk.extra} FROM ({by_key(walk, keys)}) k "
                f"WHERE {walk.column} @@ {walk.match}"
            )
            found += sorted((dict(r) for r in more), key=lambda r: -int(r["sort_key"]))
            if len(keys) < batch:
                break
            hi = keys[-1] - 1
            batch = min(2 * batch, MAX_BATCH)
        return found[:n]

    async def _which(
        self, conn: BaseDBAsyncClient, walk: Walk, test: str, keys: list[int]
    ) -> set[int]:
        """Which of `keys` match `test`, each row read by its key."""
        if not keys:
            return set()
        rows = await conn.execute_query_dict(
            f"SELECT sort_key FROM ({by_key(walk, keys)}) k WHERE {walk.column} @@ {test}"
        )
        return {int(r["sort_key"]) for r in rows}

    async def candidates(
        self, conn: BaseDBAsyncClient, query: ParsedQuery, filters: Filters
    ) -> Candidates:
        tags = filters.tags()
        match, plain = match_and_plain(query, tags)
        exact = tsquery_sql(tsquery_literal(query, exact=True))
        rank = tsquery_sql(tsquery_literal(query, negated=False))
        lo, hi = int(filters.lo), int(filters.hi)
        head = await self._newest(
            conn,
            Walk(
                "search_heads",
                "head_tsv",
                match,
                plain,
                f", ts_rank_cd(head_tsv, {rank}, 1) AS score, head_tsv @@ {exact} AS exact",
            ),
            lo,
            hi,
            self.head_size,
        )
        terms = Walk("search_terms", "tsv", match, plain)
        recent = await self._newest(conn, terms, lo, hi, self.window_size)
        bound = int(recent[-1]["sort_key"]) if len(recent) == self.window_size else None
        start = bound if bound is not None else lo
        recent_keys = {int(r["sort_key"]) for r in recent}
        scored = {int(r["sort_key"]): r for r in head}
        # as on SQLite: a head match in the recent ones' range is one of them unless its
        # text holds a negated word; older ones are checked against the whole text
        keep = {k for k in scored if k in recent_keys or k < start}
        if query.negative:
            older = sorted(k for k in keep if k < start)
            keep -= set(older) - await self._which(conn, terms, match, older)
        others = sorted(recent_keys - set(scored))
        exact_others = await self._which(conn, terms, exact, others)
        items = [
            Candidate(k, float(scored[k]["score"]), bool(scored[k]["exact"])) for k in keep
        ] + [Candidate(k, 0.0, k in exact_others) for k in others]
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
        walk = Walk("search_terms", "tsv", *match_and_plain(query, filters.tags()))
        skipped = set(skip or [])
        rows = await self._newest(
            conn, walk, int(filters.lo), int(filters.hi), offset + limit + len(skipped)
        )
        keys = [int(r["sort_key"]) for r in rows if int(r["sort_key"]) not in skipped]
        return keys[offset : offset + limit]

    async def rows(self, conn: BaseDBAsyncClient, keys: list[int]) -> dict[int, dict[str, Any]]:
        return await rows_by_key(conn, mark, keys)

    async def clear(self, conn: BaseDBAsyncClient, rows_too: bool) -> None:
        if rows_too:
            await conn.execute_query("DELETE FROM search_entries")

    async def tidy(self, conn: BaseDBAsyncClient) -> None:
        # until the new rows are analyzed, the planner may walk the sort_key index for a
        # rare word or use the GIN index for a common one (autovacuum gets there later)
        await conn.execute_script("ANALYZE search_entries, search_terms, search_heads")
