"""Hand-written SQL for the reads that every click on a decision link makes.

Tortoise builds a query's SQL with pypika on every call: about 1 ms of CPU for a
simple one, 1.5-3 ms for the link lookup's five joins, which made query building
the largest share of a decision's cost. These strings are built once (`db.fetch`).
"""

from __future__ import annotations

import functools
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.models import Model

from docflow.db import fetch
from docflow.documents.models import Document
from docflow.users.models import User
from docflow.workflow.models import LinkToken, Task, TaskState

# --- the link lookup ---------------------------------------------------------------------

_JOINED: tuple[tuple[str, type[Model], str | None, str | None], ...] = (
    # alias, model, the alias it hangs from, and as which attribute
    ("l", LinkToken, None, None),
    ("t", Task, "l", "task"),
    ("d", Document, "t", "document"),
    ("au", User, "d", "author"),
    ("a", User, "t", "assignee"),
    ("r", User, "l", "recipient"),
)


@functools.cache
def _link_sql() -> str:
    """Built on first use: models know their foreign-key columns once Tortoise is up."""
    columns = ", ".join(
        f'{alias}."{column}" AS "{alias}.{column}"'
        for alias, model, _, _ in _JOINED
        for column in model._meta.fields_db_projection.values()
    )
    return (
        f'SELECT {columns} FROM "link_tokens" l JOIN "tasks" t ON t."id" = l."task_id"'
        ' JOIN "documents" d ON d."id" = t."document_id"'
        ' JOIN "users" au ON au."id" = d."author_id"'
        ' JOIN "users" a ON a."id" = t."assignee_id"'
        ' JOIN "users" r ON r."id" = l."recipient_id"'
        ' WHERE l."token_hash" = $1'
    )


async def link_by_hash(conn: BaseDBAsyncClient | None, hashed: str) -> LinkToken | None:
    """The link with its task, document, author, assignee and recipient, in one query.

    The rows become models as Tortoise's own executor makes them from a select_related
    query (`_init_from_db`; a related object kept in the `_name` attribute).
    """
    rows = await fetch(conn, _link_sql(), hashed)
    if not rows:
        return None
    parts: dict[str, dict[str, Any]] = {alias: {} for alias, *_ in _JOINED}
    for key, value in rows[0].items():
        alias, _, column = key.partition(".")
        parts[alias][column] = value
    made: dict[str, Model] = {}
    for alias, model, parent, attribute in _JOINED:
        made[alias] = model._init_from_db(**parts[alias])
        if parent is not None:
            object.__setattr__(made[parent], f"_{attribute}", made[alias])
    link = made["l"]
    assert isinstance(link, LinkToken)
    return link


# --- deciding ----------------------------------------------------------------------------

LOCK_DOCUMENT = (
    'SELECT d."id" FROM "documents" d WHERE d."id" = (SELECT t."document_id"'
    ' FROM "link_tokens" l JOIN "tasks" t ON t."id" = l."task_id" WHERE l."token_hash" = $1)'
    " FOR UPDATE"
)


async def lock_document_of_link(conn: BaseDBAsyncClient, hashed: str) -> None:
    """`SELECT … FOR UPDATE` the document of a link's task (PostgreSQL; SQLite runs one
    write transaction at a time, which orders decisions already)."""
    if conn.capabilities.dialect == "postgres":
        await fetch(conn, LOCK_DOCUMENT, hashed)


# --- the decision page -------------------------------------------------------------------

HISTORY = (
    'SELECT t."decided_at", u."name", t."version_number", t."state", t."comment"'
    ' FROM "tasks" t JOIN "users" u ON u."id" = t."assignee_id"'
    ' WHERE t."document_id" = $1 AND t."state" IN ($2, $3, $4)'
    ' ORDER BY t."decided_at" DESC LIMIT $5'
)
_DECIDED_AT = Task._meta.fields_map["decided_at"]


async def decided_tasks(document_id: int, limit: int) -> list[dict[str, Any]]:
    """The latest `limit` decisions on a document, latest first: when, who (name), version,
    state, comment."""
    rows = await fetch(None, HISTORY, document_id, *TaskState.DECISIONS, limit)
    for r in rows:  # SQLite hands back text
        r["decided_at"] = _DECIDED_AT.to_python_value(r["decided_at"])
    return rows
