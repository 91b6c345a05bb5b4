"""The per-sender rate limit holds with two `docflow serve` processes on one PostgreSQL.

Both processes take a share of several busy senders' mail on their own SMTP ports and
process it with their own workers, at once; together they still answer exactly the
limit's worth of each sender, store every draft, and tell the admin once per sender.
(Each sender crosses its limit once: several senders give an unlocked count several
chances to overshoot.)
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from email.policy import SMTP as SMTP_POLICY
from pathlib import Path

import aiosmtplib
import pytest

from tests.conftest import Relay, _truncate_pg, free_port
from tests.system.conftest import INTAKE, Server, cli_ok, docflow_env, draft, wait_until

Spawn = Callable[[dict[str, str]], Awaitable[Server]]
LIMIT = 4
SENDERS = [f"nv{n}@bandantoc.gov.vn" for n in range(4)]
ADMIN = "quantri@bandantoc.gov.vn"
CONNECTIONS = 4  # per process, at once
PER_CONNECTION = 12  # round the senders: 24 messages a sender in all
TOTAL = 2 * CONNECTIONS * PER_CONNECTION


@pytest.fixture
async def pg_url(pg_database: str) -> AsyncIterator[str]:
    await _truncate_pg(pg_database)
    yield pg_database


async def send(port: int, tag: str) -> None:
    async with aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=30) as client:
        for i in range(PER_CONNECTION):
            sender = SENDERS[i % len(SENDERS)]
            msg = draft(f"Dự thảo {tag}{i}", "du-thao.txt", b"Du thao.\n", "text/plain", sender)
            await client.sendmail(sender, [INTAKE], msg.as_bytes(policy=SMTP_POLICY))


async def test_two_processes_together_answer_only_the_limit_and_store_every_draft(
    pg_url: str, relay: Relay, tmp_path: Path, spawn: Spawn
) -> None:
    env = docflow_env(tmp_path, pg_url, relay.port, DOCFLOW_RATE_LIMIT=str(LIMIT))
    await asyncio.gather(*(cli_ok(env, "user", "add", s, "--name", s) for s in SENDERS))
    await cli_ok(env, "user", "add", ADMIN, "--name", "Quản trị", "--role", "admin")
    # the same database and data dir, each process on ports of its own
    other = {**env, "DOCFLOW_SMTP_PORT": str(free_port()), "DOCFLOW_HTTP_PORT": str(free_port())}
    other["DOCFLOW_BASE_URL"] = f"http://127.0.0.1:{other['DOCFLOW_HTTP_PORT']}"
    first, second = await asyncio.gather(spawn(env), spawn(other))

    await asyncio.gather(
        *(
            send(server.smtp_port, f"{n}.{c}.")
            for n, server in enumerate((first, second))
            for c in range(CONNECTIONS)
        )
    )

    async def processed() -> bool:
        return await first.inbound("pending") == 0

    await wait_until(processed, what="both processes to process their mail")
    authors = Counter(d["author"] for d in await first.documents())
    assert authors == dict.fromkeys(SENDERS, TOTAL // len(SENDERS))  # every draft
    assert await first.inbound("quarantined") == 0
    await wait_until(lambda: _receipts(relay), what="the receipts")
    await asyncio.sleep(0.5)  # nothing more comes
    receipts = Counter(r for rcpts, _ in relay.messages for r in rcpts if r in SENDERS)
    assert receipts == dict.fromkeys(SENDERS, LIMIT)
    alerts = [m for rcpts, m in relay.messages if ADMIN in rcpts and "gửi quá" in m["Subject"]]
    assert sorted(m["Subject"].split()[1] for m in alerts) == SENDERS  # once per sender

    logs = [json.loads(line) for s in (first, second) for line in _lines(s)]
    stored = Counter(e["author"] for e in logs if e.get("event") == "version stored")
    warned = Counter(e["from"] for e in logs if e.get("reason") == "rate_limited")
    assert stored == authors
    assert warned == dict.fromkeys(SENDERS, 1)  # once a window, whichever process saw it


async def _receipts(relay: Relay) -> bool:
    """The receipts and the alerts: as many as there will ever be."""
    receipts = sum(1 for rcpts, _ in relay.messages for r in rcpts if r in SENDERS)
    alerts = sum(1 for _, m in relay.messages if "gửi quá" in m["Subject"])
    return receipts >= LIMIT * len(SENDERS) and alerts >= len(SENDERS)


def _lines(server: Server) -> list[str]:
    return [line for line in server.log_tail(10_000_000).splitlines() if line.startswith("{")]
