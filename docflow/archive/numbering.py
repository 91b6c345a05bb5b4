"""Official numbers: the next sequence of a register in a calendar year, allocated once.

The allocation is one upsert that increments the counter row and returns the new
value. The row stays locked until the issuing transaction ends, so concurrent
issuings in one register queue behind each other (PostgreSQL row lock; SQLite has one
writer at a time), and a rolled-back issuing gives its number back: no gaps, no
duplicates. The unique (register, year, seq) constraint on archive records is the
last guard. A MAX()+1 read would be neither.
"""

from __future__ import annotations

from tortoise.backends.base.client import BaseDBAsyncClient

from docflow.archive.records import RegisterCounter

UPSERT = {
    "postgres": (
        "INSERT INTO register_counters (register, year, last_seq) VALUES ($1, $2, 1) "
        "ON CONFLICT (register, year) DO UPDATE "
        "SET last_seq = register_counters.last_seq + 1 RETURNING last_seq"
    ),
    "sqlite": (
        "INSERT INTO register_counters (register, year, last_seq) VALUES (?, ?, 1) "
        "ON CONFLICT (register, year) DO UPDATE "
        "SET last_seq = register_counters.last_seq + 1 RETURNING last_seq"
    ),
}


async def allocate(conn: BaseDBAsyncClient, register: str, year: int) -> int:
    """The next number of `register` in `year`, inside the caller's transaction."""
    sql = UPSERT[conn.capabilities.dialect]
    rows = await conn.execute_query_dict(sql, [register, year])  # fetches RETURNING
    return int(rows[0]["last_seq"])


async def peek(register: str, year: int) -> int:
    """The number `allocate` would give now (a prediction: it may be taken before then)."""
    last = await RegisterCounter.get_or_none(register=register, year=year)
    return last.last_seq + 1 if last else 1


async def last_numbers(conn: BaseDBAsyncClient) -> dict[tuple[str, int], int]:
    """(register, year) → the last number given, for the register books."""
    rows = await conn.execute_query_dict(
        "SELECT register, year, last_seq FROM register_counters ORDER BY register, year"
    )
    return {(r["register"], int(r["year"])): int(r["last_seq"]) for r in rows}
