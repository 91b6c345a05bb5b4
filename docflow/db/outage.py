"""Telling a database that is away from a query that failed, and living through the outage.

PostgreSQL goes away now and then: a restart at night, a failover, an administrator
terminating connections. Work that fails for that reason is not the work's fault:
it must not count toward a message's quarantine, must not log a traceback per retry,
and must be retried once the database answers again. `unavailable(error)` says which
errors those are; `DatabaseWatch` keeps one view of the outage for the whole process
(one warning when it starts, one line when it is over, counts for /metrics) and lets
workers wait until the database is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import traceback
from collections.abc import Awaitable, Callable

import asyncpg
from tortoise import connections
from tortoise.exceptions import DBConnectionError

log = logging.getLogger("docflow.db")

# asyncpg errors that mean the server or the connection is gone, not that the query is wrong
_AWAY: tuple[type[BaseException], ...] = (
    asyncpg.PostgresConnectionError,  # class 08: connection exceptions
    asyncpg.ConnectionDoesNotExistError,
    asyncpg.CannotConnectNowError,  # 57P03: starting up, shutting down, in recovery
    asyncpg.AdminShutdownError,  # 57P01: pg_terminate_backend, a fast shutdown
    asyncpg.CrashShutdownError,  # 57P02
    asyncpg.TooManyConnectionsError,  # 53300: the server is full for a moment
    asyncpg.ReadOnlySQLTransactionError,  # 25006: a failover still pointing at a standby
    asyncpg.exceptions.ConnectionFailureError,
    asyncpg.exceptions.ClientCannotConnectError,
    DBConnectionError,
)
# asyncpg.InterfaceError says this of a connection that died under the caller
_GONE_WORDS = ("connection is closed", "released back to the pool", "connection was closed")
# and asyncpg.InternalClientError of a connection released while its error was still
# being read (docflow/db/pg_client.py drops such connections; this is the safety net)
_BUSY_WORDS = ("another operation",)
PROBE_SECONDS = (0.2, 0.5, 1.0, 2.0)  # between probes while away: quick first, then calmer
PROBE_TIMEOUT_SECONDS = 3.0  # a probe without an answer (packets dropped) is "still away"


def unavailable(error: BaseException) -> bool:
    """Did this fail because the database (or the connection to it) was away?

    Network errors count only when raised inside asyncpg: a relay or an IMAP server
    that drops its connection is not the database.
    """
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, _AWAY):
            return True
        if isinstance(current, asyncpg.InterfaceError) and any(
            w in str(current) for w in _GONE_WORDS
        ):
            return True
        if isinstance(current, asyncpg.exceptions.InternalClientError) and any(
            w in str(current) for w in _BUSY_WORDS
        ):
            return True
        if isinstance(current, OSError) and _raised_in_asyncpg(current):
            return True
        current = current.__cause__ or current.__context__
    return False


def _raised_in_asyncpg(error: BaseException) -> bool:
    return any(
        str(frame.f_globals.get("__name__", "")).startswith("asyncpg")
        for frame, _ in traceback.walk_tb(error.__traceback__)
    )


async def ping() -> None:
    """The smallest question the database can answer: is it there, and writable?

    A failover that still points at a standby answers reads but refuses every write;
    that is not "back", or the watch would flap between outage and recovery.
    """
    conn = connections.get("default")
    if conn.capabilities.dialect != "postgres":
        await conn.execute_query("SELECT 1")
        return
    rows = await conn.execute_query_dict("SELECT pg_is_in_recovery() AS standby")
    if rows and rows[0]["standby"]:
        raise asyncpg.ReadOnlySQLTransactionError("the server is a standby (in recovery)")


class DatabaseWatch:
    """Whether the database answers, as this process last found it.

    `failed(error)` is called by whoever saw work fail because the database was away:
    the first call of an outage logs one warning and starts a probe that finds the end
    of it (and logs that once); `back` is set while the database answers.
    """

    def __init__(self, probe: Callable[[], Awaitable[None]] = ping) -> None:
        self.probe = probe
        self.down_since: float | None = None
        self.outages = 0  # outages seen by this process
        self.failures = 0  # operations that failed because the database was away
        self.back = asyncio.Event()
        self.back.set()
        self._prober: asyncio.Task[None] | None = None

    @property
    def available(self) -> bool:
        return self.down_since is None

    def failed(self, error: BaseException, where: str) -> None:
        """An operation failed because the database was away (see `unavailable`)."""
        self.failures += 1
        if self.down_since is not None:
            log.debug("database still unreachable", extra={"where": where})
            return
        self.down_since = time.monotonic()
        self.outages += 1
        self.back.clear()
        log.warning(
            "database unreachable: work waits and is retried when it is back",
            extra={"where": where, "error": f"{type(error).__name__}: {error}"[:500]},
        )
        with contextlib.suppress(RuntimeError):  # no running loop: the next caller probes
            self._prober = asyncio.get_running_loop().create_task(
                self._probe_until_back(), name="database-probe"
            )

    async def check(self) -> bool:
        """Ask the database now; True when it answered (and the outage, if any, is over)."""
        try:
            await asyncio.wait_for(self.probe(), PROBE_TIMEOUT_SECONDS)
        except TimeoutError as e:  # no answer at all (or asyncpg's connect timeout)
            self.failed(e, "probe")
            return False
        except Exception as e:
            if not unavailable(e):
                raise
            self.failed(e, "probe")
            return False
        self._recovered()
        return True

    async def wait_until_back(self) -> None:
        """Return once the database answers again (at once when it is not known to be away)."""
        if self.down_since is not None and (self._prober is None or self._prober.done()):
            self._prober = asyncio.get_running_loop().create_task(
                self._probe_until_back(), name="database-probe"
            )
        await self.back.wait()

    async def close(self) -> None:
        if self._prober is not None and not self._prober.done():
            self._prober.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._prober

    async def _probe_until_back(self) -> None:
        tries = 0
        while self.down_since is not None:
            await asyncio.sleep(PROBE_SECONDS[min(tries, len(PROBE_SECONDS) - 1)])
            tries += 1
            try:
                if await self.check():
                    return
            except Exception:  # not an outage error: the database answered, wrongly
                log.exception("database probe failed")
                self._recovered()
                return

    def _recovered(self) -> None:
        if self.down_since is None:
            return
        lasted = time.monotonic() - self.down_since
        self.down_since = None
        self.back.set()
        log.warning("database reachable again", extra={"outage_seconds": round(lasted, 1)})
