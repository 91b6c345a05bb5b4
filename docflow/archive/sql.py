"""SQL both engines share, written once with a placeholder style per engine."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

from docflow.archive.backend import ROW_COLUMNS, Filters, tag
from docflow.archive.document import IndexEntry, field_tokens, folded_tokens
from docflow.archive.fold import fold

Mark = Callable[[int], str]
ENTRY_COLUMNS = (
    "record_id",
    "sort_key",
    "number",
    "type",
    "register",
    "signer",
    "signer_key",
    "issued_on",
    "year",
    "title",
    "summary",
    "body",
)


def signer_key(name: str) -> str:
    """How signer names compare: folded, single spaces (`nguyen van an` = `Nguyễn Văn An`)."""
    return " ".join(fold(name).split())


def entry_values(entry: IndexEntry, date_as_text: bool = False) -> list[Any]:
    """The values of ENTRY_COLUMNS for `entry` (SQLite gets dates as ISO text)."""
    return [
        entry.record_id,
        entry.sort_key,
        entry.number,
        entry.type,
        entry.register,
        entry.signer,
        signer_key(entry.signer),
        entry.issued_on.isoformat() if date_as_text else entry.issued_on,
        entry.year,
        entry.title,
        entry.summary,
        entry.body,
    ]


def upsert_sql(mark: Mark, extra: dict[str, str] | None = None) -> str:
    """INSERT … ON CONFLICT (record_id) DO UPDATE for ENTRY_COLUMNS (+ `extra` column → SQL)."""
    columns = [*ENTRY_COLUMNS, *(extra or {})]
    values = [mark(i + 1) for i in range(len(ENTRY_COLUMNS))] + list((extra or {}).values())
    updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c != "record_id")
    return (
        f"INSERT INTO search_entries ({', '.join(columns)}) VALUES ({', '.join(values)}) "
        f"ON CONFLICT (record_id) DO UPDATE SET {updates}"
    )


def as_date(value: Any) -> date:
    """A date from the database (SQLite hands back ISO text)."""
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def entry_from_row(row: dict[str, Any]) -> IndexEntry:
    return IndexEntry(
        record_id=row["record_id"],
        number=row["number"],
        type=row["type"],
        register=row["register"],
        signer=row["signer"],
        issued_on=as_date(row["issued_on"]),
        title=row["title"],
        summary=row["summary"],
        body=row["body"],
    )


def text_columns(entry: IndexEntry) -> list[str]:
    """The FTS5 column values: exact tokens of each field, then folded ones, then the
    filter tokens (search_fts); the head table takes folded title, summary, meta, tags."""
    fields = field_tokens(entry)
    exact = [" ".join(fields[f]) for f in ("title", "summary", "meta", "body")]
    folded = [" ".join(folded_tokens(fields[f])) for f in ("title", "summary", "meta", "body")]
    return [*exact, *folded, " ".join(entry_tags(entry))]


def entry_tags(entry: IndexEntry) -> list[str]:
    """The filter tokens of an entry: its number, type, register and signer (see `tag`)."""
    return [
        tag("n", entry.number),
        tag("t", entry.type),
        tag("r", entry.register),
        tag("s", signer_key(entry.signer)),
    ]


async def listed(
    conn: BaseDBAsyncClient, mark: Mark, filters: Filters, hi: int, offset: int, limit: int
) -> list[int]:
    """Sort keys of the entries that pass `filters` (no words), newest first, below `hi`."""
    conds, values = filters.conditions(lambda n: mark(n + 2))
    where = " AND ".join(["sort_key BETWEEN " + mark(1) + " AND " + mark(2), *conds])
    rows = await conn.execute_query_dict(
        f"SELECT sort_key FROM search_entries WHERE {where} "
        f"ORDER BY sort_key DESC LIMIT {int(limit)} OFFSET {int(offset)}",
        [filters.lo, hi, *values],
    )
    return [int(r["sort_key"]) for r in rows]


async def rows_by_key(
    conn: BaseDBAsyncClient, mark: Mark, keys: list[int]
) -> dict[int, dict[str, Any]]:
    if not keys:
        return {}
    marks = ", ".join(mark(i + 1) for i in range(len(keys)))
    rows = await conn.execute_query_dict(
        f"SELECT {ROW_COLUMNS} FROM search_entries WHERE sort_key IN ({marks})", keys
    )
    return {int(r["sort_key"]): dict(r) for r in rows}
