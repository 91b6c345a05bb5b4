"""Signed issuing from two processes on one PostgreSQL, some signings failing in between:
the numbers still run 01, 02, … without gap or twin, and a document whose key failed
takes no number until it is fixed, then the next one."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import asyncpg
import pytest

from docflow.archive.signing.pki import init_test_pki
from tests.conftest import PACKAGE_ROOT, Relay
from tests.system.conftest import docflow_env
from tests.system.signed_issue_worker import BROKEN, SIGNER
from tests.system.test_numbering_processes import pg_url  # noqa: F401  (fixture)

DOCUMENTS = 24
BAD_EVERY = 5  # documents 5, 10, 15, 20: the broken signer's


async def run(env: dict[str, str], *args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.system.signed_issue_worker",
        *args,
        env=env,
        cwd=PACKAGE_ROOT,
        stderr=asyncio.subprocess.PIPE,
    )


async def finish(*procs: asyncio.subprocess.Process) -> None:
    results = await asyncio.wait_for(asyncio.gather(*(p.communicate() for p in procs)), 300)
    for p, (_, err) in zip(procs, results, strict=True):
        assert p.returncode == 0, err.decode()[-3000:]


async def test_two_signing_processes_number_without_gap_while_a_key_fails(
    pg_url: str,  # noqa: F811
    relay: Relay,
    tmp_path: Path,
) -> None:
    env = docflow_env(tmp_path, pg_url, relay.port, DOCFLOW_RENDITIONS="0")
    pki = init_test_pki(
        tmp_path / "data" / "keystore", "Ban Dân tộc tỉnh Lâm Đồng", "BDT", [SIGNER, BROKEN]
    )
    broken = pki.user(BROKEN[0]).passphrase_file
    secret = broken.read_text()
    broken.write_text("wrong\n")
    await finish(await run(env, "seed", str(DOCUMENTS), str(BAD_EVERY)))

    await finish(await run(env, "sweep"), await run(env, "sweep"))
    conn = await asyncpg.connect(pg_url)
    try:
        rows = await conn.fetch(
            "SELECT r.seq, d.code FROM archive_records r JOIN documents d ON d.id = r.document_id "
            "ORDER BY r.seq"
        )
        waiting = await conn.fetch(
            "SELECT d.code, d.status, j.error FROM issue_jobs j "
            "JOIN documents d ON d.id = j.document_id ORDER BY d.code"
        )
    finally:
        await conn.close()
    good = DOCUMENTS - DOCUMENTS // BAD_EVERY
    assert [r["seq"] for r in rows] == list(range(1, good + 1)), waiting
    assert len({r["code"] for r in rows}) == good
    assert [w["code"] for w in waiting] == [
        f"DF-2026-{n:06d}" for n in range(BAD_EVERY, DOCUMENTS + 1, BAD_EVERY)
    ]
    assert all(w["status"] == "approved" for w in waiting)
    assert all("wrong passphrase" in w["error"] for w in waiting), waiting

    broken.write_text(secret)  # fixed: the waiting ones take the next numbers, in order
    await finish(await run(env, "retry"), await run(env, "retry"))
    conn = await asyncpg.connect(pg_url)
    try:
        seqs = [r["seq"] for r in await conn.fetch("SELECT seq FROM archive_records ORDER BY seq")]
        issued = await conn.fetchval("SELECT count(*) FROM documents WHERE status = 'issued'")
        left = await conn.fetchval("SELECT count(*) FROM issue_jobs")
        numbers = await conn.fetch("SELECT number FROM archive_records ORDER BY seq LIMIT 1")
    finally:
        await conn.close()
    assert seqs == list(range(1, DOCUMENTS + 1)) and issued == DOCUMENTS and left == 0
    assert numbers[0]["number"] == "01/QĐ-BDT"


pytestmark = pytest.mark.skipif(
    not Path("/usr/bin/pdfsig").exists(), reason="installed by scripts/bootstrap --test"
)
