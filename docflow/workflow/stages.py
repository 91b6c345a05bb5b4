"""The stages a document goes through: entering one, assigning its tasks, settling it after
a decision, and the one place a document's status changes.

Every transition runs inside the caller's transaction (intake's, a decision's, the
reminder sweep's) and writes an audit event; the mail it causes is queued in the
same transaction (`workflow.notices`), so both commit together or not at all.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from docflow.clock import Clock
from docflow.documents.journal import Journal
from docflow.documents.models import Document, Version
from docflow.notify.outbox import Outbox
from docflow.users.models import User
from docflow.workflow.definitions import Stage, Workflow, WorkflowCatalog
from docflow.workflow.delegation import DelegationService
from docflow.workflow.models import Task, TaskState
from docflow.workflow.notices import Notices

log = logging.getLogger("docflow.workflow")
ApprovedHook = Callable[[BaseDBAsyncClient, Document], Awaitable[object]]
OUT_OF_REVIEW = ("approved", "rejected", "withdrawn", "issued")


class Stages:
    """Moves documents through their workflow's stages."""

    def __init__(
        self,
        clock: Clock,
        workflows: WorkflowCatalog,
        journal: Journal,
        notices: Notices,
        outbox: Outbox,
        delegations: DelegationService,
    ) -> None:
        self.clock = clock
        self.workflows = workflows
        self.journal = journal
        self.notices = notices
        self.outbox = outbox
        self.delegations = delegations
        self.on_approved: list[ApprovedHook] = []  # issuing plugs in here (archive)
        # called once a transaction that approved a document has committed (signed issuing)
        self.after_approval: list[Callable[[], None]] = []

    # --- which workflow, which stage -------------------------------------------------------

    def workflow_of(self, doc: Document) -> Workflow:
        return self.workflows.by_key.get(doc.workflow) or self.workflows.default

    def pick(self, plus_tag: str | None, subject: str) -> tuple[str, str]:
        """The key of the workflow a mail asks for, and its subject without the tag."""
        workflow, rest = self.workflows.pick(plus_tag, subject)
        return workflow.key, rest

    def workflow_name(self, doc: Document, language: str) -> str:
        return self.workflow_of(doc).name(language)

    def stage_name(self, doc: Document, language: str) -> str | None:
        if doc.stage_index is None:
            return None
        return self.workflow_of(doc).stages[doc.stage_index].name(language)

    # --- entering stages -----------------------------------------------------------------

    async def on_new_version(
        self, conn: BaseDBAsyncClient, doc: Document, version: int, source: str = "mail"
    ) -> None:
        """A new document enters stage 1; a revision restarts the stage it was in.

        The author is not mailed here: the receipt for the version says where it stands.
        """
        await self.journal.record(conn, doc, doc.author.email, "version_added", source, version)
        if doc.stage_index is None:
            await self.enter(conn, doc, 0, version, tell_author=False)
            return
        await self.close_open_tasks(conn, doc, TaskState.SUPERSEDED)
        await self.enter(conn, doc, doc.stage_index, version, tell_author=False)

    async def enter(
        self,
        conn: BaseDBAsyncClient,
        doc: Document,
        index: int,
        version: int,
        tell_author: bool = True,
    ) -> None:
        workflow = self.workflow_of(doc)
        stage = workflow.stages[index]
        await self.set_status(conn, doc, "in_review", index)
        assignees = await self.resolve(conn, stage)
        await self.journal.record(
            conn,
            doc,
            "docflow",
            "stage_entered",
            "system",
            version,
            stage.key,
            {"assignees": [u.email for u in assignees]},
        )
        if not assignees:
            # the admins hear of it (the author's receipt names the stage; an author can
            # do nothing about it)
            log.error("stage has nobody to decide", extra={"code": doc.code, "stage": stage.key})
            names = ", ".join(str(a) for a in stage.assignees)
            await self.notices.admins(
                conn, doc, version, "unassigned", stage=_names(stage), names=names
            )
        await self.assign(conn, doc, stage, index, version, assignees)
        if tell_author:
            await self.notices.author(
                conn,
                doc,
                version,
                "stage_entered",
                stage=_names(stage),
                index=index + 1,
                of=len(workflow.stages),
            )

    async def assign(
        self,
        conn: BaseDBAsyncClient,
        doc: Document,
        stage: Stage,
        index: int,
        version: int,
        users: list[User],
        escalated_from: Task | None = None,
    ) -> list[Task]:
        """One task (and task mail) per user, routed to a delegate where one is in force.

        Delegations are followed one level only: a delegate's own delegation is not
        (TUQ. may not be passed on, and a chain would hide who decided).
        """
        if not users:
            return []
        now = self.clock.now()
        due = now + stage.due
        files = await self.journal.files(conn, doc, version)
        delegations = await self.delegations.in_force(conn, users)
        tasks = []
        for user in users:
            d = delegations.get(user.id)
            decider = d.delegate if d else user
            task = await Task.create(
                document=doc,
                version_number=version,
                stage_index=index,
                stage_key=stage.key,
                assignee=decider,
                on_behalf_of=user if d else None,
                capacity=d.capacity if d else None,
                escalated_from=escalated_from,
                created_at=now,
                due_at=due,
                # an escalation's own task is not escalated again
                escalated_at=now if escalated_from else None,
                using_db=conn,
            )
            await self.notices.task(
                conn,
                doc,
                task,
                decider,
                stage,
                due,
                files,
                for_user=user if d else None,
                in_place_of=escalated_from.assignee if escalated_from else None,
            )
            tasks.append(task)
        return tasks

    async def fill(self, doc_id: int) -> int:
        """Give tasks to the stage's assignees who have none, when nobody can decide now.

        A stage that resolved to nobody (a role nobody held), or whose quorum needs more
        approvals than people had tasks, waits; the reminder sweep calls this, so adding
        the role (`docflow user role add`) gets the document going. Returns tasks made.
        """
        async with in_transaction() as conn:
            doc = await Document.filter(id=doc_id).select_for_update().using_db(conn).get()
            if doc.status != "in_review" or doc.stage_index is None:
                return 0
            if await Task.filter(document=doc, state=TaskState.OPEN).using_db(conn).exists():
                return 0
            await doc.fetch_related("author", using_db=conn)
            version = await Version.filter(document=doc).using_db(conn).count()
            stage = self.workflow_of(doc).stages[doc.stage_index]
            have = {
                row["on_behalf_of_id"] or row["assignee_id"]
                for row in await Task.filter(
                    document=doc, version_number=version, stage_index=doc.stage_index
                )
                .using_db(conn)
                .values("assignee_id", "on_behalf_of_id")
            }
            users = [u for u in await self.resolve(conn, stage) if u.id not in have]
            tasks = await self.assign(conn, doc, stage, doc.stage_index, version, users)
            if tasks:
                await self.journal.record(
                    conn,
                    doc,
                    "docflow",
                    "stage_assigned",
                    "system",
                    version,
                    stage.key,
                    {"assignees": [u.email for u in users]},
                )
        if tasks:
            self.outbox.poke()
        return len(tasks)

    async def resolve(self, conn: BaseDBAsyncClient, stage: Stage) -> list[User]:
        """The active users a stage's assignees name, each once, in the order written."""
        found: dict[str, User] = {}
        active = await User.filter(active=True).using_db(conn).order_by("email")
        for a in stage.assignees:
            if a.kind == "user":
                people = [u for u in active if u.email == a.value]
                if not people:
                    log.warning("assignee is not a user", extra={"assignee": str(a)})
            else:
                people = [u for u in active if a.value in u.roles]
            for p in people:
                found.setdefault(p.email, p)
        return list(found.values())

    # --- after a decision ------------------------------------------------------------------

    def approval_committed(self) -> None:
        """A decision that approved a document has committed: wake what waits for that."""
        for wake in self.after_approval:
            wake()

    async def after_decision(self, conn: BaseDBAsyncClient, doc: Document, task: Task) -> None:
        """What a decision on `task` does to its stage: ends it, completes it, or waits."""
        # quorum counts seats: an overdue task and the tasks its escalation added share one,
        # and the first decision in a seat settles it (the others' links stop working)
        seat = task.escalated_from_id or task.id
        await (
            Task.filter(Q(id=seat) | Q(escalated_from_id=seat), state=TaskState.OPEN)
            .using_db(conn)
            .update(state=TaskState.SUPERSEDED)
        )
        if task.state in (TaskState.CHANGES_REQUESTED, TaskState.REJECTED):
            changes = task.state == TaskState.CHANGES_REQUESTED
            await self.close_open_tasks(
                conn, doc, TaskState.SUPERSEDED if changes else TaskState.CANCELLED
            )
            await self.set_status(conn, doc, "changes_requested" if changes else "rejected")
            comments = await self.notices.comments(conn, doc, task.version_number, task.stage_index)
            await self.notices.author(conn, doc, task.version_number, doc.status, comments)
            return
        workflow = self.workflow_of(doc)
        stage = workflow.stages[task.stage_index]
        rows = (
            await Task.filter(
                document=doc, version_number=task.version_number, stage_index=task.stage_index
            )
            .using_db(conn)
            .values("id", "escalated_from_id", "state")
        )
        seats = {r["escalated_from_id"] or r["id"] for r in rows}
        approved = {r["escalated_from_id"] or r["id"] for r in rows if r["state"] == "approved"}
        if not stage.quorum.reached(len(approved), len(seats)):
            return
        await self.journal.record(
            conn,
            doc,
            "docflow",
            "stage_completed",
            "system",
            task.version_number,
            stage.key,
            {"approvals": len(approved)},
        )
        await self.close_open_tasks(conn, doc, TaskState.SUPERSEDED)
        if task.stage_index + 1 < len(workflow.stages):
            await self.enter(conn, doc, task.stage_index + 1, task.version_number)
            return
        await self.set_status(conn, doc, "approved")
        await self.journal.record(conn, doc, "docflow", "approved", "system", task.version_number)
        comments = await self.notices.comments(conn, doc, task.version_number, None)
        await self.notices.author(conn, doc, task.version_number, "approved", comments)
        for hook in self.on_approved:  # issuing (docflow.archive.issuing): → `issued`
            await hook(conn, doc)

    async def withdraw(
        self, conn: BaseDBAsyncClient, doc: Document, actor: str, source: str = "mail"
    ) -> None:
        """The author takes the document back: open tasks end, their links stop working."""
        await self.close_open_tasks(conn, doc, TaskState.CANCELLED)
        await self.set_status(conn, doc, "withdrawn")
        version = await Version.filter(document=doc).using_db(conn).count()
        await self.journal.record(conn, doc, actor, "withdrawn", source, version)
        await self.notices.author(conn, doc, version, "withdrawn")

    # --- status ----------------------------------------------------------------------------

    async def set_status(
        self,
        conn: BaseDBAsyncClient,
        doc: Document,
        status: str,
        stage_index: int | None = None,
        at: datetime | None = None,
    ) -> None:
        """The one place a document's status changes. In review it is at `stage_index`;
        out of review it has no stage; changes_requested keeps the stage it was in. `at`:
        when, if the caller has recorded the time elsewhere too (an issue date)."""
        doc.status, doc.updated_at = status, at or self.clock.now()
        if status == "in_review":
            doc.stage_index = stage_index
        elif status in OUT_OF_REVIEW:
            doc.stage_index = None
        await doc.save(using_db=conn, update_fields=["status", "updated_at", "stage_index"])

    async def close_open_tasks(self, conn: BaseDBAsyncClient, doc: Document, state: str) -> None:
        await Task.filter(document=doc, state=TaskState.OPEN).using_db(conn).update(state=state)


def _names(stage: Stage) -> dict[str, str]:
    return {"vi": stage.name("vi"), "en": stage.name("en")}
