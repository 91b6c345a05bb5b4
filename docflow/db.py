"""The database: Tortoise configuration, start/stop, and the migration gate."""

from __future__ import annotations

from typing import Any

from tortoise import Tortoise
from tortoise.backends.base.executor import EXECUTOR_CACHE
from tortoise.connection import get_connection
from tortoise.migrations.api import migrate as migrate_api
from tortoise.migrations.executor import MigrationExecutor

from docflow.errors import NotMigratedError

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
    return {
        "connections": {"default": database_url},
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
