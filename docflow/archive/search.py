"""Search over issued documents: the service the archive, the CLI and the API call.

    index = SearchIndex()
    async with in_transaction() as conn:       # the archive's own transaction
        await index.add(conn, IndexEntry(record_id=…, number="47/KH-BDT", …))
    page = await index.search(SearchQuery(text='"cải cách" dan toc', type="KH"))

The engine follows the connection's dialect: FTS5 on SQLite (search_sqlite.py),
tsvector + GIN on PostgreSQL (search_pg.py). Both see the same tokens (fold.py), the
same parse (query.py) and the same candidates for ranking (backend.py), and snippets
are made here, so a query gives the same documents on both.
"""

from __future__ import annotations

import base64
import dataclasses
import unicodedata
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from docflow.archive.backend import HEAD_WINDOW, RANK_WINDOW, ROW_COLUMNS, Backend, Filters
from docflow.archive.document import IndexEntry, day_range
from docflow.archive.query import ParsedQuery, parse_query
from docflow.archive.search_pg import PostgresSearch
from docflow.archive.search_sqlite import SqliteSearch
from docflow.archive.snippets import highlight, snippet
from docflow.archive.sql import as_date, entry_from_row, signer_key
from docflow.errors import InvalidRequestError

MAX_LIMIT = 100
# the entries of a rebuild, read through the rebuild's transaction (on SQLite the only
# connection is in it: a read beside it would wait for it)
EntrySource = Callable[[BaseDBAsyncClient], AsyncIterator[IndexEntry]]
# how deep pages go: each page re-finds every match before it (the PostgreSQL walks
# hold offset + limit rows), so a forged cursor must not ask for the millionth
MAX_OFFSET = 10_000
REINDEX_BATCH = 500


@dataclass(frozen=True)
class SearchQuery:
    """Words (see query.py) and filters; all optional, none means every entry, newest first."""

    text: str = ""
    number: str | None = None  # exact: `47/KH-BDT`
    type: str | None = None
    register: str | None = None
    signer: str | None = None  # a name; diacritics and case do not matter
    issued_from: date | None = None
    issued_until: date | None = None  # included
    year: int | None = None
    limit: int = 20
    cursor: str | None = None  # `next` of the previous page

    def __post_init__(self) -> None:
        # every query is composed (NFC), as every stored text is: the edge of all searches
        for name in ("text", "number", "type", "register", "signer"):
            value = getattr(self, name)
            if value and not unicodedata.is_normalized("NFC", value):
                object.__setattr__(self, name, unicodedata.normalize("NFC", value))


@dataclass(frozen=True)
class SearchHit:
    record_id: int
    number: str
    type: str
    register: str
    signer: str
    issued_on: date
    title: str
    title_html: str  # escaped, matches in <mark>
    snippet_html: str  # a passage of the summary or text around the first match, same
    # every word found with the diacritics as typed: in the title, summary, number or
    # signer for a document ranked by them, anywhere for the others
    exact: bool

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["issued_on"] = self.issued_on.isoformat()
        return data


@dataclass(frozen=True)
class SearchPage:
    items: list[SearchHit]
    next: str | None  # a cursor for the next page, None on the last

    def to_json(self) -> dict[str, Any]:
        return {"items": [h.to_json() for h in self.items], "next": self.next}


async def _each(entries: Iterable[IndexEntry]) -> AsyncIterator[IndexEntry]:
    for entry in entries:
        yield entry


def _encode(offset: int) -> str:
    return base64.urlsafe_b64encode(f"s{offset}".encode()).decode().rstrip("=")


def _decode(cursor: str) -> int:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if not text.startswith("s") or not text[1:].isdigit() or len(text) > 12:
            raise ValueError(cursor)
    except ValueError:
        raise InvalidRequestError(f"bad cursor {cursor!r}") from None
    offset = int(text[1:])
    if offset > MAX_OFFSET:
        raise InvalidRequestError(
            f"results past the {MAX_OFFSET:,}th are not listed: narrow the search"
        )
    return offset


def filters_of(q: SearchQuery) -> Filters:
    first, last = q.issued_from, q.issued_until
    if q.year is not None:
        first = max(first or date.min, date(q.year, 1, 1))
        last = min(last or date.max, date(q.year, 12, 31))
    lo, hi = day_range(first, last)
    return Filters(
        lo,
        hi,
        number=q.number.strip() if q.number else None,
        type=q.type.strip() if q.type else None,
        register=q.register.strip() if q.register else None,
        signer_key=signer_key(q.signer) if q.signer else None,
    )


class SearchIndex:
    """Adds, removes and finds search entries; stateless apart from its settings."""

    def __init__(self, window: int = RANK_WINDOW, head: int = HEAD_WINDOW) -> None:
        self.engines: dict[str, Backend] = {
            "sqlite": SqliteSearch(window, head),
            "postgres": PostgresSearch(window, head),
        }
        self.window = window
        self.head = head

    def engine(self, conn: BaseDBAsyncClient) -> Backend:
        return self.engines[str(conn.capabilities.dialect)]

    @staticmethod
    def connection() -> BaseDBAsyncClient:
        conn: BaseDBAsyncClient = connections.get("default")
        return conn

    async def add(self, conn: BaseDBAsyncClient, entry: IndexEntry) -> None:
        """Index `entry`, replacing what its record had (call it in the issuing transaction)."""
        await self.engine(conn).add(conn, entry)

    async def remove(self, conn: BaseDBAsyncClient, record_id: int) -> bool:
        """Take a record out of the search; False when it was not there."""
        return await self.engine(conn).remove(conn, record_id)

    async def count(self, conn: BaseDBAsyncClient | None = None) -> int:
        conn = conn or self.connection()
        rows = await conn.execute_query_dict("SELECT count(*) AS n FROM search_entries")
        return int(rows[0]["n"])

    async def search(self, q: SearchQuery, conn: BaseDBAsyncClient | None = None) -> SearchPage:
        """One page of results: ranked when there are words, newest first otherwise."""
        if not 1 <= q.limit <= MAX_LIMIT:
            raise InvalidRequestError(f"limit must be between 1 and {MAX_LIMIT}")
        conn = conn or self.connection()
        engine = self.engine(conn)
        query = parse_query(q.text)
        filters = filters_of(q)
        offset = _decode(q.cursor) if q.cursor else 0
        if filters.lo > filters.hi:
            return SearchPage([], None)
        want = q.limit + 1  # one more than asked tells whether a next page exists
        exact: frozenset[int]
        if query.empty:
            keys, exact = await engine.newest(conn, query, filters, offset, want), frozenset()
        else:
            keys, exact = await self._ranked(conn, engine, query, filters, offset, want)
        rows = await engine.rows(conn, keys[: q.limit])
        hits = [self._hit(rows[k], query, k in exact) for k in keys[: q.limit] if k in rows]
        more = len(keys) > q.limit and offset + q.limit <= MAX_OFFSET
        nxt = _encode(offset + q.limit) if more else None
        return SearchPage(hits, nxt)

    async def _ranked(
        self,
        conn: BaseDBAsyncClient,
        engine: Backend,
        query: ParsedQuery,
        filters: Filters,
        offset: int,
        want: int,
    ) -> tuple[list[int], frozenset[int]]:
        """The ranked candidates' part of the page, then the other matches, newest first."""
        found = await engine.candidates(conn, query, filters)
        ranked = found.ordered()
        page = ranked[offset : offset + want]
        keys = [c.key for c in page]
        if len(keys) < want and found.bound is not None:
            older = dataclasses.replace(filters, hi=found.bound - 1)
            skip = max(0, offset - len(ranked))
            keys += await engine.newest(
                conn, query, older, skip, want - len(keys), skip=found.older()
            )
        return keys, frozenset(c.key for c in page if c.exact)

    def _hit(self, row: dict[str, Any], query: ParsedQuery, exact: bool) -> SearchHit:
        words = query.highlight_words()
        phrases = [t.folded for t in query.positive]
        return SearchHit(
            record_id=int(row["record_id"]),
            number=row["number"],
            type=row["type"],
            register=row["register"],
            signer=row["signer"],
            issued_on=as_date(row["issued_on"]),
            title=row["title"],
            title_html=highlight(row["title"], words),
            snippet_html=snippet([row["summary"], row["body"]], words, phrases),
            exact=exact,
        )

    async def reindex(
        self,
        entries: Iterable[IndexEntry] | EntrySource | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> int:
        """Rebuild the search in one transaction: from `entries` (the archive's records,
        replacing every entry; an EntrySource reads them through the rebuild's own
        transaction as it goes), or, when None, from the texts already in the search table
        (after a change to tokenizing or ranking). `progress(n)` after each batch of n;
        then the engine tidies up (statistics, compaction) outside the transaction."""
        done = await self._rebuild(entries, progress)
        conn = self.connection()
        await self.engine(conn).tidy(conn)
        return done

    async def _rebuild(
        self,
        entries: Iterable[IndexEntry] | EntrySource | None,
        progress: Callable[[int], None] | None,
    ) -> int:
        done = 0
        async with in_transaction() as conn:
            engine = self.engine(conn)
            await engine.clear(conn, rows_too=entries is not None)
            if entries is not None:
                batch: list[IndexEntry] = []
                async for entry in entries(conn) if callable(entries) else _each(entries):
                    batch.append(entry)
                    if len(batch) == REINDEX_BATCH:
                        done += await self._add_all(conn, engine, batch, progress)
                        batch = []
                done += await self._add_all(conn, engine, batch, progress)
                return done
            last_id = 0
            while rows := await conn.execute_query_dict(
                f"SELECT {ROW_COLUMNS} FROM search_entries WHERE id > {last_id} "
                f"ORDER BY id LIMIT {REINDEX_BATCH}"
            ):
                last_id = int(rows[-1]["id"])
                batch = [entry_from_row(dict(r)) for r in rows]
                done += await self._add_all(conn, engine, batch, progress)
        return done

    @staticmethod
    async def _add_all(
        conn: BaseDBAsyncClient,
        engine: Backend,
        batch: list[IndexEntry],
        progress: Callable[[int], None] | None,
    ) -> int:
        for entry in batch:
            await engine.add(conn, entry, fresh=True)
        if progress and batch:
            progress(len(batch))
        return len(batch)
