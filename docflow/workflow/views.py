"""Reading the workflow's state: a document's stage and tasks, and task lists."""

from __future__ import annotations

from docflow.clock import Clock
from docflow.documents.models import Document
from docflow.workflow.models import Task, TaskState
from docflow.workflow.stages import Stages

UNDER_WAY = ("received", "in_review", "changes_requested", "approved")


class WorkflowViews:
    """The workflow as the API and the CLI show it (plain values)."""

    def __init__(self, clock: Clock, stages: Stages) -> None:
        self.clock = clock
        self.stages = stages

    async def document(self, doc: Document) -> dict[str, object]:
        """Current stage, tasks and decisions, for the API's document view."""
        workflow = self.stages.workflow_of(doc)
        stage = workflow.stages[doc.stage_index] if doc.stage_index is not None else None
        tasks = (
            await Task.filter(document=doc)
            .order_by("id")
            .prefetch_related("assignee", "on_behalf_of")
        )
        return {
            "stage": None
            if stage is None
            else {
                "index": doc.stage_index,
                "key": stage.key,
                "name": {"vi": stage.name_vi, "en": stage.name_en},
                "of": len(workflow.stages),
            },
            "tasks": [task_view(t) for t in tasks],
        }

    async def tasks(
        self,
        assignee: str | None = None,
        state: str | None = None,
        overdue: bool = False,
        limit: int = 100,
    ) -> list[dict[str, object]]:
        """Tasks newest first, as the API and `docflow task list` show them."""
        query = Task.all().prefetch_related("assignee", "document", "on_behalf_of").order_by("-id")
        if assignee:
            query = query.filter(assignee__email=assignee.strip().lower())
        if state:
            query = query.filter(state=state)
        if overdue:
            query = query.filter(state=TaskState.OPEN, due_at__lt=self.clock.now())
        return [{**task_view(t), "code": t.document.code} for t in await query.limit(limit)]

    async def home_counts(self, email: str) -> dict[str, int]:
        """What a person's home page counts: their documents still under way, their open
        tasks and how many of those are overdue."""
        email = email.strip().lower()
        open_tasks = Task.filter(assignee__email=email, state=TaskState.OPEN)
        return {
            "documents_open": await Document.filter(
                author__email=email, status__in=UNDER_WAY
            ).count(),
            "tasks_open": await open_tasks.count(),
            "tasks_overdue": await open_tasks.filter(due_at__lt=self.clock.now()).count(),
        }


def task_view(t: Task) -> dict[str, object]:
    return {
        "id": t.id,
        "version": t.version_number,
        "stage": t.stage_key,
        "assignee": t.assignee.email,
        "on_behalf_of": t.on_behalf_of.email if t.on_behalf_of else None,
        "capacity": t.capacity,
        "state": t.state,
        "created_at": t.created_at.isoformat(),
        "due_at": t.due_at.isoformat() if t.due_at else None,
        "decided_at": t.decided_at.isoformat() if t.decided_at else None,
        "comment": t.comment,
    }
