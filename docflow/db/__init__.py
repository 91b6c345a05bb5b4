"""The database: Tortoise configuration, start/stop, and the migration gate."""

from __future__ import annotations

import functools
import re
from typing import Any

import asyncpg
from tortoise import Tortoise, connections
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.backends.base.config_generator import expand_db_url
from tortoise.backends.base.executor import EXECUTOR_CACHE
from tortoise.connection import get_connection
from tortoise.migrations.api import migrate as migrate_api
from tortoise.migrations.executor import MigrationExecutor

from docflow.errors import NotMigratedError

CONNECT_TIMEOUT_SECONDS = 10

MODEL_MODULES = [
    "docflow.users.models",
    "docflow.documents.models",
    "docflow.intake.models",
    "docflow.notify.models",
    "docflow.workflow.models",
    "docflow.archive.records",
    "docflow.archive.models",
]


def tortoise_config(database_url: str) -> dict[str, Any]:
    """The one Tortoise config: a single app, `docflow`, with its migrations package."""
    connection: str | dict[str, Any] = database_url
    if database_url.startswith(("postgres://", "postgresql://")):
        connection = expand_db_url(database_url)
        # asyncpg's client with transactions that survive a connection dying under them
        connection["engine"] = "docflow.db.pg_client"
        connection["credentials"]["reset"] = _keep_session
        # a server that does not answer (a failover in progress) is an outage after 10 s,
        # not a worker stuck for asyncpg's default minute
        connection["credentials"].setdefault("timeout", CONNECT_TIMEOUT_SECONDS)
    return {
        "connections": {"default": connection},
        "apps": {
            "docflow": {
                "models": MODEL_MODULES,
                "default_connection": "default",
                "migrations": "docflow.migrations",
            }
        },
        "use_tz": True,
        "timezone": "UTC",
    }


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Hand a connection back to the pool as it is.

    asyncpg's default runs `RESET ALL; UNLISTEN *; …` on every release: a second
    round trip for each query outside a transaction. docflow sets no session state
    (no SET, LISTEN, advisory locks or cursors), and asyncpg rolls back an open
    transaction before this is called.
    """


_PLACEHOLDER = re.compile(r"\$\d+")


@functools.cache
def _for(dialect: str, sql: str) -> str:
    return sql if dialect == "postgres" else _PLACEHOLDER.sub("?", sql)


async def fetch(conn: BaseDBAsyncClient | None, sql: str, *params: Any) -> list[dict[str, Any]]:
    """The rows of a hand-written query as dicts, on either database.

    `$1, $2…` placeholders (in order, each used once) become `?` on SQLite. For the
    hottest reads only: Tortoise builds a query's SQL anew on every call (~1 ms).
    """
    db = conn or connections.get("default")
    return await db.execute_query_dict(_for(db.capabilities.dialect, sql), list(params))


def dialect() -> str:
    """`sqlite` or `postgres`: the few places that differ ask this."""
    return str(get_connection("default").capabilities.dialect)


async def pending_migrations(database_url: str) -> list[str]:
    """Names of the migrations not yet applied (Tortoise must already be initialised)."""
    executor = MigrationExecutor(get_connection("default"), tortoise_config(database_url)["apps"])
    plan = await executor.plan(None)
    return [f"{s.migration.app_label}.{s.migration.name}" for s in plan if not s.backward]


async def open_database(database_url: str, *, require_migrated: bool = True) -> None:
    """Connect; refuse to go on when the schema is behind (serve must not run on it)."""
    # Tortoise caches compiled INSERTs per connection *name*, not per dialect: a process
    # that opens SQLite and later PostgreSQL (the test suite) would reuse SQLite's SQL.
    EXECUTOR_CACHE.clear()
    await Tortoise.init(config=tortoise_config(database_url))
    if require_migrated:
        missing = await pending_migrations(database_url)
        if missing:
            await Tortoise.close_connections()
            raise NotMigratedError(
                f"the database is not migrated ({len(missing)} migration(s) pending: "
                f"{', '.join(missing)}); run `docflow migrate` first"
            )


async def close_database() -> None:
    await Tortoise.close_connections()


async def migrate(database_url: str) -> list[str]:
    """Apply every pending migration; returns the names applied."""
    applied: list[str] = []

    def progress(event: str, app_label: str, name: str) -> None:
        if event == "apply_done":
            applied.append(f"{app_label}.{name}")

    await migrate_api(config=tortoise_config(database_url), progress=progress)
    await Tortoise.close_connections()
    return applied


# For Tortoise's own CLI when writing a new migration after a model change:
#   .venv/bin/tortoise -c docflow.db.TORTOISE_ORM makemigrations
TORTOISE_ORM = tortoise_config("sqlite://:memory:")
