"""Authors' documents as their pages show them: the list, who holds each one, who may read
one, withdrawing it, and which version a reader last decided or saw.

The list is hand-written SQL (`db.fetch`): an author may have thousands of documents.
Words in the title are matched in Python after NFC and casefold (SQLite's LOWER and a
PostgreSQL database in the C locale fold ASCII only; "Đ" must find "đ").
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tortoise.transactions import in_transaction

from docflow.db import fetch
from docflow.documents.diffs import last_seen
from docflow.documents.models import Document
from docflow.documents.service import OPEN_STATUSES
from docflow.errors import Refused
from docflow.notify.outbox import Outbox
from docflow.users.accounts import Principal
from docflow.workflow.models import Task, TaskState
from docflow.workflow.stages import Stages

PER_PAGE = 25
_COLUMNS = (
    'd."id", d."code", d."title", d."status", d."workflow", d."stage_index", d."updated_at",'
    ' u."email" AS "author", u."name" AS "author_name"'
    ' FROM "documents" d JOIN "users" u ON u."id" = d."author_id"'
)
HOLDERS = (
    'SELECT t."document_id", u."name", u."email", t."due_at" FROM "tasks" t'
    ' JOIN "users" u ON u."id" = t."assignee_id"'
    ' WHERE t."state" = $1 AND t."document_id" IN ({ids}) ORDER BY t."id"'
)
_WHEN = Document._meta.fields_map["updated_at"]


@dataclass(frozen=True)
class Filters:
    """What the list asks for: whose (None: everyone's), status, workflow, title words."""

    author: str | None
    status: str = ""
    workflow: str = ""
    words: str = ""


@dataclass
class DocumentRow:
    code: str
    title: str
    status: str
    workflow: str
    stage: str | None  # the stage's name in the language asked for
    updated_at: datetime
    author: str
    author_name: str
    holders: list[str] = field(default_factory=list)  # the names of open tasks' assignees
    due_at: datetime | None = None  # the earliest due time of its open tasks
    overdue: bool = False


def fold(text: str) -> str:
    return unicodedata.normalize("NFC", text).casefold()


class Authored:
    """Reads and acts on documents for their authors' pages."""

    def __init__(self, stages: Stages, outbox: Outbox) -> None:
        self.stages = stages
        self.outbox = outbox

    async def page(
        self, filters: Filters, language: str, page: int = 1, per_page: int = PER_PAGE
    ) -> tuple[list[DocumentRow], int]:
        """One page of the documents, newest first, and how many match in all."""
        where, params = _where(filters)
        offset = (max(page, 1) - 1) * per_page
        words = fold(filters.words).split()
        if words:  # titles in Python (see the module docstring), then the page's rows
            found = await fetch(
                None, f'SELECT d."id", d."title" FROM "documents" d{where}', *params
            )
            ids = sorted(
                (r["id"] for r in found if all(w in fold(r["title"]) for w in words)),
                reverse=True,
            )
            total, ids = len(ids), ids[offset : offset + per_page]
            rows = await _by_ids(ids)
        else:
            count = await fetch(None, f'SELECT COUNT(*) AS "n" FROM "documents" d{where}', *params)
            total = int(count[0]["n"])
            n = len(params)
            rows = await fetch(
                None,
                f'SELECT {_COLUMNS}{where} ORDER BY d."id" DESC LIMIT ${n + 1} OFFSET ${n + 2}',
                *params,
                per_page,
                offset,
            )
        items = [self._row(r, language) for r in rows]
        await self._holders(items, [int(r["id"]) for r in rows])
        return items, total

    def _row(self, r: dict[str, Any], language: str) -> DocumentRow:
        workflow = self.stages.workflows.by_key.get(r["workflow"]) or self.stages.workflows.default
        index = r["stage_index"]
        stage = None
        if index is not None:
            stage = workflow.stages[index].name(language) if index < len(workflow.stages) else None
        return DocumentRow(
            code=r["code"],
            title=r["title"],
            status=r["status"],
            workflow=workflow.name(language),
            stage=stage,
            updated_at=_WHEN.to_python_value(r["updated_at"]),
            author=r["author"],
            author_name=r["author_name"],
        )

    async def _holders(self, items: list[DocumentRow], ids: list[int]) -> None:
        if not ids:
            return
        sql = HOLDERS.format(ids=", ".join(f"${i + 2}" for i in range(len(ids))))
        by_id = dict(zip(ids, items, strict=True))
        now = self.stages.clock.now()
        for r in await fetch(None, sql, TaskState.OPEN, *ids):
            row = by_id[int(r["document_id"])]
            if r["name"] not in row.holders:
                row.holders.append(r["name"])
            due = _WHEN.to_python_value(r["due_at"])
            if due is not None and (row.due_at is None or due < row.due_at):
                row.due_at = due
                row.overdue = due < now

    async def holders_of(self, document_id: int) -> list[dict[str, Any]]:
        """The open tasks of one document: assignee's name and address, stage, due time."""
        tasks = await Task.filter(document_id=document_id, state=TaskState.OPEN).prefetch_related(
            "assignee"
        )
        now = self.stages.clock.now()
        return [
            {
                "name": t.assignee.name,
                "email": t.assignee.email,
                "due_at": t.due_at,
                "overdue": t.due_at is not None and t.due_at < now,
            }
            for t in sorted(tasks, key=lambda t: t.id)
        ]

    async def may_read(self, doc: Document, who: Principal) -> bool:
        """Its author, admins, and the approvers who have (or had) a task on it."""
        await doc.fetch_related("author")
        if who.is_admin or doc.author.email == who.email:
            return True
        return await Task.filter(document_id=doc.id, assignee__email=who.email).exists()

    async def withdraw(self, doc: Document, who: Principal, source: str = "web") -> None:
        """The author (or an admin) takes the document back, as a mailed WITHDRAW does."""
        await doc.fetch_related("author")
        if not who.is_admin and doc.author.email != who.email:
            raise Refused("not_author", doc.code)
        async with in_transaction() as conn:
            fresh = await Document.filter(id=doc.id).using_db(conn).select_for_update().get()
            if fresh.status not in OPEN_STATUSES:
                raise Refused("document_closed", doc.code)
            fresh.author = doc.author
            await self.stages.withdraw(conn, fresh, who.email, source)
        self.outbox.poke()

    async def since(self, document_id: int, user_id: int, version: int) -> int | None:
        """The version a reader of `version` compares it with: the latest earlier one they
        decided, else the latest earlier one they opened signed in; None for neither."""
        if version <= 1:
            return None  # nothing earlier (and a link's page of a first version asks nothing)
        decided = (
            await Task.filter(
                document_id=document_id,
                assignee_id=user_id,
                version_number__lt=version,
                state__in=TaskState.DECISIONS,
            )
            .order_by("-version_number")
            .first()
        )
        if decided is not None:
            return decided.version_number
        seen = await last_seen(user_id, document_id)
        if seen is not None and seen < version:
            return seen
        return None


def _where(filters: Filters) -> tuple[str, list[Any]]:
    clauses, params = [], []
    if filters.author is not None:
        params.append(filters.author.strip().lower())
        clauses.append(f'd."author_id" = (SELECT "id" FROM "users" WHERE "email" = ${len(params)})')
    if filters.status:
        params.append(filters.status)
        clauses.append(f'd."status" = ${len(params)}')
    if filters.workflow:
        params.append(filters.workflow)
        clauses.append(f'd."workflow" = ${len(params)}')
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


async def _by_ids(ids: list[int]) -> list[dict[str, Any]]:
    if not ids:
        return []
    marks = ", ".join(f"${i + 1}" for i in range(len(ids)))
    return await fetch(
        None, f'SELECT {_COLUMNS} WHERE d."id" IN ({marks}) ORDER BY d."id" DESC', *ids
    )
