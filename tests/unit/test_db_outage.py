"""Which errors mean "the database is away", and the watch's one line per outage."""

from __future__ import annotations

import asyncio
import logging
import socket

import asyncpg
import pytest
from tortoise.exceptions import IntegrityError, OperationalError

from docflow.db.outage import DatabaseWatch, unavailable


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_a_refused_connection_to_postgresql_is_an_outage() -> None:
    with pytest.raises(OSError) as refused:
        await asyncpg.connect(host="127.0.0.1", port=closed_port(), user="x", timeout=5)
    assert unavailable(refused.value)


async def test_network_errors_of_anything_else_are_not_the_database() -> None:
    with pytest.raises(OSError) as refused:  # a relay or an IMAP server that is down
        await asyncio.open_connection("127.0.0.1", closed_port())
    assert not unavailable(refused.value)
    assert not unavailable(FileNotFoundError("spool/2026/12/05/x.eml"))
    assert not unavailable(TimeoutError())


def test_server_goodbyes_are_outages_and_wrong_queries_are_not() -> None:
    assert unavailable(asyncpg.AdminShutdownError("terminating connection"))
    assert unavailable(asyncpg.CannotConnectNowError("the database system is starting up"))
    assert unavailable(asyncpg.ConnectionDoesNotExistError("connection was closed"))
    assert unavailable(
        asyncpg.InterfaceError(
            "cannot call Connection.execute(): connection has been released back to the pool"
        )
    )
    assert not unavailable(IntegrityError("duplicate key"))
    assert not unavailable(OperationalError("syntax error at or near"))
    assert not unavailable(ValueError("bad input"))


def test_an_outage_wrapped_by_another_error_is_still_an_outage() -> None:
    try:
        try:
            raise asyncpg.AdminShutdownError("terminating connection")
        except asyncpg.PostgresError as e:
            raise RuntimeError("storing the version failed") from e
    except RuntimeError as wrapped:
        assert unavailable(wrapped)


async def test_many_failures_of_one_outage_log_one_warning_and_one_line_at_its_end(
    caplog: pytest.LogCaptureFixture,
) -> None:
    answers = [False, False, True]  # the probe: away, away, back

    async def probe() -> None:
        if not answers.pop(0):
            raise asyncpg.CannotConnectNowError("the database system is starting up")

    watch = DatabaseWatch(probe)
    caplog.set_level(logging.DEBUG, logger="docflow.db")
    for _ in range(50):
        watch.failed(asyncpg.AdminShutdownError("terminating connection"), "intake")
    assert not watch.available and not watch.back.is_set()
    await asyncio.wait_for(watch.wait_until_back(), 10)
    assert watch.available and watch.outages == 1 and watch.failures == 52
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert warnings == [
        "database unreachable: work waits and is retried when it is back",
        "database reachable again",
    ]
    await watch.close()
