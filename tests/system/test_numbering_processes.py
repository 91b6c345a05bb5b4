"""1,000 issuings from two processes on one PostgreSQL: numbers 01..1000, no gap, no twin."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest

from tests.conftest import PACKAGE_ROOT, Relay, _truncate_pg
from tests.system.conftest import AUTHOR, AUTHOR_NAME, docflow_env

ISSUINGS = 1000


@pytest.fixture
async def pg_url(pg_database: str) -> AsyncIterator[str]:
    await _truncate_pg(pg_database)
    yield pg_database


async def approved_plans(url: str, count: int) -> list[int]:
    """`count` ke-hoach documents, approved and waiting to be issued."""
    conn = await asyncpg.connect(url)
    try:
        now = datetime.now(UTC)
        author = await conn.fetchval(
            "INSERT INTO users (email, name, roles, language, active, created_at, failed_logins) "
            "VALUES ($1, $2, '[\"staff\"]', 'vi', true, $3, 0) RETURNING id",
            AUTHOR,
            AUTHOR_NAME,
            now,
        )
        ids = []
        for n in range(1, count + 1):
            doc = await conn.fetchval(
                "INSERT INTO documents (code, title, author_id, workflow, status, created_at, "
                "updated_at) VALUES ($1, $2, $3, 'ke-hoach', 'approved', $4, $4) RETURNING id",
                f"DF-2026-{n:06d}",
                f"Kế hoạch số {n}",
                author,
                now,
            )
            await conn.execute(
                "INSERT INTO versions (document_id, number, created_at, message_id, source_key, "
                "subject, body_text) VALUES ($1, 1, $2, '', $3, '', '')",
                doc,
                now,
                f"seed-{n}",
            )
            ids.append(doc)
        return ids
    finally:
        await conn.close()


async def test_two_processes_issue_a_thousand_numbers_without_gap_or_twin(
    pg_url: str, relay: Relay, tmp_path: Path
) -> None:
    ids = await approved_plans(pg_url, ISSUINGS)
    procs = []
    for half, name in ((ids[0::2], "a"), (ids[1::2], "b")):
        (tmp_path / name).mkdir()
        env = docflow_env(tmp_path / name, pg_url, relay.port)
        procs.append(
            await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "tests.system.issue_worker",
                *map(str, half),
                env=env,
                cwd=PACKAGE_ROOT,
                stderr=asyncio.subprocess.PIPE,
            )
        )
    results = await asyncio.wait_for(asyncio.gather(*(p.communicate() for p in procs)), 600)
    for p, (_, err) in zip(procs, results, strict=True):
        assert p.returncode == 0, err.decode()[-3000:]

    conn = await asyncpg.connect(pg_url)
    try:
        rows = await conn.fetch("SELECT seq, number, year FROM archive_records ORDER BY seq")
        issued = await conn.fetchval("SELECT count(*) FROM documents WHERE status = 'issued'")
    finally:
        await conn.close()
    assert [r["seq"] for r in rows] == list(range(1, ISSUINGS + 1))
    assert rows[0]["number"] == "01/KH-BDT" and rows[9]["number"] == "10/KH-BDT"
    assert rows[-1]["number"] == "1000/KH-BDT"
    assert len({r["year"] for r in rows}) == 1
    assert issued == ISSUINGS
