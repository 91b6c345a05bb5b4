"""An approver's tasks as their pages show them: what waits (due first), what they decided
lately, and one task with its document.

The lists are hand-written SQL (`db.fetch`): an approver may have a thousand open tasks,
and making a model of each task and its document would cost more than the page.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from docflow.clock import Clock
from docflow.db import fetch
from docflow.workflow.definitions import Stage
from docflow.workflow.models import Task, TaskState
from docflow.workflow.stages import Stages

PAGE = 100  # open tasks on one page of /tasks
RECENT = 10  # decisions shown under them

_COLUMNS = (
    't."id", t."version_number", t."stage_index", t."stage_key", t."state", t."capacity",'
    ' t."due_at", t."decided_at", d."code", d."title", d."workflow", b."name" AS "for_name",'
    ' b."email" AS "for_email"'
    ' FROM "tasks" t JOIN "documents" d ON d."id" = t."document_id"'
    ' JOIN "users" a ON a."id" = t."assignee_id"'
    ' LEFT JOIN "users" b ON b."id" = t."on_behalf_of_id"'
)
OPEN_TASKS = (
    f'SELECT {_COLUMNS} WHERE a."email" = $1 AND t."state" = $2'
    ' ORDER BY (t."due_at" IS NULL), t."due_at", t."id" LIMIT $3 OFFSET $4'
)
COUNT_OPEN = (
    'SELECT COUNT(*) AS "n" FROM "tasks" t JOIN "users" a ON a."id" = t."assignee_id"'
    ' WHERE a."email" = $1 AND t."state" = $2'
)
DECIDED = (
    f'SELECT {_COLUMNS} WHERE a."email" = $1 AND t."state" IN ($2, $3, $4)'
    ' ORDER BY t."decided_at" DESC, t."id" DESC LIMIT $5'
)
_WHEN = Task._meta.fields_map["due_at"]


@dataclass(frozen=True)
class TaskRow:
    """One line of an approver's list."""

    id: int
    code: str
    title: str
    stage: str  # its name in the language asked for
    version: int
    state: str
    due_at: datetime | None
    decided_at: datetime | None
    overdue: bool
    capacity: str | None  # KT | TUQ | TL when a delegation routed the task
    for_name: str | None  # whom the approver decides for, then
    for_email: str | None


class TaskInbox:
    """Reads an approver's tasks; deciding is `Decisions.by_user`."""

    def __init__(self, clock: Clock, stages: Stages) -> None:
        self.clock = clock
        self.stages = stages

    async def open_tasks(
        self, email: str, language: str, offset: int = 0, limit: int = PAGE
    ) -> tuple[list[TaskRow], int]:
        """`email`'s open tasks from `offset`, due first (those without a due time last),
        and how many are open in all."""
        email = email.strip().lower()
        rows = await fetch(None, OPEN_TASKS, email, TaskState.OPEN, limit, offset)
        total = await fetch(None, COUNT_OPEN, email, TaskState.OPEN)
        return [self._row(r, language) for r in rows], int(total[0]["n"])

    async def decided(self, email: str, language: str, limit: int = RECENT) -> list[TaskRow]:
        """The tasks `email` decided lately, latest first."""
        rows = await fetch(None, DECIDED, email.strip().lower(), *TaskState.DECISIONS, limit)
        return [self._row(r, language) for r in rows]

    async def task(self, task_id: int) -> Task | None:
        """A task with its document (and the document's author), its assignee and whom it
        is decided for."""
        return (
            await Task.filter(id=task_id)
            .select_related("document__author", "assignee")
            .prefetch_related("on_behalf_of")
            .first()
        )

    def stage_of(self, task: Task) -> Stage:
        return self.stages.workflow_of(task.document).stages[task.stage_index]

    def _row(self, r: dict[str, Any], language: str) -> TaskRow:
        workflows = self.stages.workflows
        workflow = workflows.by_key.get(r["workflow"]) or workflows.default
        due = _WHEN.to_python_value(r["due_at"])  # SQLite hands back text
        decided = _WHEN.to_python_value(r["decided_at"])
        return TaskRow(
            id=int(r["id"]),
            code=r["code"],
            title=r["title"],
            stage=_stage_name(workflow.stages, r["stage_index"], r["stage_key"], language),
            version=int(r["version_number"]),
            state=r["state"],
            due_at=due,
            decided_at=decided,
            overdue=r["state"] == TaskState.OPEN and due is not None and due < self.clock.now(),
            capacity=r["capacity"],
            for_name=r["for_name"],
            for_email=r["for_email"],
        )


def _stage_name(stages: tuple[Stage, ...], index: int, key: str, language: str) -> str:
    """The stage's name; its key when the workflow file no longer has it."""
    return stages[index].name(language) if index < len(stages) else key
