"""docflow's asyncpg client (docflow/db/pg_client.py) against Tortoise's own, on PostgreSQL.

The override must behave exactly as Tortoise's client on every ordinary path (commit,
rollback, savepoints, the task's connection afterwards) and differ on one: a connection
that died before `BEGIN` leaves the task usable. Tortoise's own client is run on the same
cases; the day it stops breaking the task, the last test says so and the override can go.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest
from tortoise import Tortoise, connections
from tortoise.transactions import in_transaction

from docflow.db import tortoise_config
from docflow.db.outage import unavailable
from tests.conftest import _truncate_pg, run_in_thread

OURS = "docflow.db.pg_client"
TORTOISE = "tortoise.backends.asyncpg"


@pytest.fixture
async def pg_url(pg_database: str) -> AsyncIterator[str]:
    await _truncate_pg(pg_database)
    yield pg_database


async def _open(url: str, engine: str) -> None:
    config = tortoise_config(url)
    config["connections"]["default"]["engine"] = engine
    config["connections"]["default"]["credentials"]["maxsize"] = 1  # one connection to kill
    await Tortoise.init(config=config)


async def _users() -> list[str]:
    rows = await connections.get("default").execute_query_dict(
        "SELECT email FROM users ORDER BY email"
    )
    return [r["email"] for r in rows]


async def _insert(email: str) -> None:
    await connections.get("default").execute_query(
        "INSERT INTO users (email, name, roles, language, active, created_at, failed_logins) "
        "VALUES ($1, 'x', '[]', 'vi', true, now(), 0)",
        [email],
    )


async def _ordinary_paths() -> list[object]:
    """What a caller sees of commit, rollback and a savepoint."""
    seen: list[object] = []
    async with in_transaction():
        await _insert("a@x.vn")
    seen.append(await _users())
    with pytest.raises(RuntimeError):
        async with in_transaction():
            await _insert("b@x.vn")
            raise RuntimeError("the caller fails")
    seen.append(await _users())
    async with in_transaction():
        await _insert("c@x.vn")
        with pytest.raises(RuntimeError):
            async with in_transaction():
                await _insert("d@x.vn")
                raise RuntimeError("the inner block fails")
    seen.append(await _users())
    seen.append(type(connections.get("default")).__name__)  # the task holds no transaction
    return seen


@pytest.mark.parametrize("engine", [OURS, TORTOISE])
async def test_commit_rollback_and_savepoints_behave_as_tortoise_does(
    pg_url: str, engine: str
) -> None:
    await _open(pg_url, engine)
    try:
        seen = await _ordinary_paths()
    finally:
        await Tortoise.close_connections()
    client = "GuardedAsyncpgClient" if engine == OURS else "AsyncpgDBClient"
    assert seen == [["a@x.vn"], ["a@x.vn"], ["a@x.vn", "c@x.vn"], client]


async def _kill_pooled_connection(url: str) -> None:
    """Terminate the pool's one connection while this event loop cannot notice it.

    The kill runs on another loop in a thread, and this loop is blocked until it is
    done: asyncpg reads the server's goodbye only when the transaction's BEGIN is sent.
    """
    pid = (await connections.get("default").execute_query_dict("SELECT pg_backend_pid() AS p"))[0][
        "p"
    ]

    async def kill() -> None:
        admin = await asyncpg.connect(url)
        try:
            await admin.execute("SELECT pg_terminate_backend($1)", pid)
        finally:
            await admin.close()

    run_in_thread(kill())


async def _after_a_failed_begin(url: str) -> tuple[bool, str]:
    await _kill_pooled_connection(url)
    with pytest.raises(Exception) as failed:
        async with in_transaction():
            await _insert("lost@x.vn")
    try:  # the same task goes on: a worker's next message
        async with in_transaction():
            await _insert("next@x.vn")
        return unavailable(failed.value), ",".join(await _users())
    except Exception as e:
        return unavailable(failed.value), f"{type(e).__name__}: {e}"


async def test_a_connection_lost_before_begin_leaves_the_task_usable(pg_url: str) -> None:
    await _open(pg_url, OURS)
    try:
        outage, after = await _after_a_failed_begin(pg_url)
    finally:
        await Tortoise.close_connections()
    assert outage, "the failed BEGIN reads as the database being away"
    assert after == "next@x.vn"


async def test_tortoise_own_client_still_breaks_the_task_after_a_failed_begin(
    pg_url: str,
) -> None:
    """Why the override exists. When this fails, Tortoise has fixed it: drop pg_client.py."""
    await _open(pg_url, TORTOISE)
    try:  # in a task of its own: the broken context stays there, closing works afterwards
        _, after = await asyncio.create_task(_after_a_failed_begin(pg_url))
    finally:
        await Tortoise.close_connections()
    assert "released back to the pool" in after
