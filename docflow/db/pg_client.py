"""Tortoise's asyncpg client with its pooled transaction guarded against dying connections.

Tortoise (1.1) keeps the connection of an open transaction in a context variable of
the task. Its pooled transaction context sets that variable *before* `BEGIN` and resets
it only after the connection went back to the pool. When the connection dies under it
(`pg_terminate_backend`, a PostgreSQL restart), two paths skip the reset:

- `BEGIN` fails in `__aenter__`: `__aexit__` never runs, the connection is never
  released and the variable is never reset;
- the pool's release fails (asyncpg's reset of a dead connection raises): the reset,
  which comes after it in the same `finally`, is skipped.

Either way the task keeps a transaction wrapper over a connection asyncpg has taken
back, and every later query of that task fails with "connection has been released
back to the pool". A worker task lives as long as serve, so its intake stopped for
good (issue 11). Here both paths release what they hold and always reset the variable.

A second trap: the server's goodbye (`FATAL: terminating connection`) reaches the
caller as an error a moment before asyncpg sees the socket close. Released in that
moment, the connection looks alive; docflow's pool skips asyncpg's reset query
(`db._keep_session`), so nothing would notice, and the next user of the connection gets
"another operation is in progress". A connection whose query failed because the
database was away is therefore terminated before it goes back: the pool opens a new one.

Everything else is Tortoise's own code path, which `tests/integration/test_pg_client.py`
checks against the library's (and tortoise-orm is pinned below its next minor).
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

import asyncpg
from tortoise.backends.asyncpg.client import AsyncpgDBClient, TransactionWrapper
from tortoise.backends.base.client import (
    PoolConnectionWrapper,
    TransactionalDBClient,
    TransactionContextPooled,
)
from tortoise.connection import get_connections
from tortoise.exceptions import TransactionManagementError

from docflow.db.outage import unavailable

log = logging.getLogger("docflow.db")


class GuardedTransactionContext(TransactionContextPooled):
    """`TransactionContextPooled` that never leaves the task pointing at a lost connection."""

    async def __aenter__(self) -> TransactionalDBClient:
        await self.ensure_connection()
        pool = self.client._parent._pool
        self.client._connection = await pool.acquire()
        self.token = get_connections().set(self.connection_name, self.client)
        try:
            await self.client.begin()
        except BaseException as e:
            try:
                await _release(pool, self.client._connection, e)
            finally:
                get_connections().reset(self.token)
            raise
        return self.client

    async def __aexit__(self, exc_type: Any, exc_val: Any, exc_tb: Any) -> None:
        error: BaseException | None = exc_val
        try:
            if not self.client._finalized:
                if exc_type:
                    # Can't rollback a transaction that already failed.
                    if exc_type is not TransactionManagementError:
                        await self.client.rollback()
                else:
                    await self.client.commit()
        except BaseException as e:
            error = e
            raise
        finally:
            try:
                if self.client._parent._pool:
                    await _release(self.client._parent._pool, self.client._connection, error)
            finally:
                get_connections().reset(self.token)


class GuardedPoolConnection(PoolConnectionWrapper[Any]):
    """A query's connection outside a transaction, dropped when the database failed it."""

    async def __aexit__(self, exc_type: Any, exc_val: Any, exc_tb: Any) -> None:
        if exc_val is not None and self.connection is not None and unavailable(exc_val):
            _drop(self.connection)
        await super().__aexit__(exc_type, exc_val, exc_tb)


def _drop(connection: Any) -> None:
    """Terminate a pooled connection (the pool replaces it), unless asyncpg took it back."""
    with contextlib.suppress(asyncpg.InterfaceError):  # already released on its close
        connection.terminate()


async def _release(pool: Any, connection: Any, error: BaseException | None) -> None:
    """Back to the pool, or dropped when the database failed it (see the module's doc).
    A connection that cannot be reset is terminated by asyncpg itself, which is all that
    is wanted here: the release never raises."""
    try:
        if error is not None and unavailable(error):
            _drop(connection)
        await pool.release(connection)
    except Exception as e:
        log.debug("a lost connection was dropped from the pool", extra={"error": repr(e)})


class GuardedAsyncpgClient(AsyncpgDBClient):
    """The asyncpg client whose transactions use `GuardedTransactionContext`."""

    def _in_transaction(self) -> GuardedTransactionContext:
        return GuardedTransactionContext(TransactionWrapper(self), self._pool_init_lock)

    def acquire_connection(self) -> GuardedPoolConnection:
        return GuardedPoolConnection(self, self._pool_init_lock)


client_class = GuardedAsyncpgClient  # what Tortoise looks up in an `engine` module
