"""Reminders and escalation: a periodic sweep over open tasks.

A task whose stage has `remind_every` is reminded when that long has passed since
it was created or last reminded; the reminder carries fresh links (tokens are only
ever stored hashed, so the old ones cannot be re-sent; they stay valid). A task past
its due time whose stage has `escalate_to` gets the escalation targets added as
assignees of the stage, once, and its assignee is told. A document in review with no
open task at all (its stage resolved to nobody) is given to whoever holds the stage's
roles now.

Several `serve` processes may sweep the same database at once. Each reminder and
escalation first claims the task row with a conditional UPDATE (`… SET
last_reminded_at = now WHERE id = ? AND state = 'open' AND (last_reminded_at IS NULL
OR last_reminded_at <= cutoff)`), inside the transaction that then enqueues the mail:
on PostgreSQL a second sweeper's UPDATE waits on the row lock and, once the first
commits, finds the condition false and updates nothing; SQLite runs one write
transaction at a time. Only the sweeper whose UPDATE changed one row acts. An
escalation also locks the document's row first, as a decision does, since it adds
tasks to the stage.
"""

from __future__ import annotations

import dataclasses
import logging
from datetime import datetime

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from docflow.clock import Clock
from docflow.db.outage import unavailable
from docflow.documents.journal import Journal
from docflow.documents.models import Document
from docflow.notify.mails import MailComposer
from docflow.notify.message import Recipient
from docflow.notify.outbox import Outbox
from docflow.notify.threaded import ThreadedMailer
from docflow.users.models import User
from docflow.workflow.definitions import Stage
from docflow.workflow.links import Links
from docflow.workflow.models import Task, TaskState
from docflow.workflow.reply_tokens import ReplyAddresses
from docflow.workflow.stages import Stages

log = logging.getLogger("docflow.reminders")


class Reminders:
    """Reminds assignees of open tasks and escalates overdue ones, each exactly once."""

    def __init__(
        self,
        clock: Clock,
        stages: Stages,
        links: Links,
        composer: MailComposer,
        mailer: ThreadedMailer,
        journal: Journal,
        outbox: Outbox,
        replies: ReplyAddresses | None = None,
    ) -> None:
        self.clock = clock
        self.replies = replies  # a reminder, like the task mail, may be answered to decide
        self.stages = stages
        self.links = links
        self.composer = composer
        self.mailer = mailer
        self.journal = journal
        self.outbox = outbox

    async def sweep(self) -> tuple[int, int]:
        """Send what is due now: (reminders sent, tasks escalated)."""
        now = self.clock.now()
        reminded = escalated = 0
        tasks = (
            await Task.filter(state=TaskState.OPEN)
            .order_by("id")
            .values("id", "document_id", "stage_index", "due_at", "escalated_at")
        )
        docs: dict[int, Document | None] = {}
        for row in tasks:
            if row["document_id"] not in docs:
                docs[row["document_id"]] = await Document.get_or_none(id=row["document_id"])
            doc = docs[row["document_id"]]
            stage = self._stage(doc, row["stage_index"]) if doc else None
            if doc is None or stage is None:
                continue
            overdue = row["due_at"] is not None and row["due_at"] <= now
            try:  # the claims decide; the checks here only spare needless transactions
                if stage.remind_every is not None and await self._remind(
                    doc, row["id"], stage, now - stage.remind_every, now
                ):
                    reminded += 1
                if (
                    stage.escalate_to
                    and overdue
                    and row["escalated_at"] is None
                    and await self._escalate(doc, row["id"], stage, now)
                ):
                    escalated += 1
            except Exception as e:  # one broken task must not stop the others' reminders
                if unavailable(e):  # but the database away stops them all: next sweep
                    raise
                log.exception("reminder sweep failed for a task", extra={"task_id": row["id"]})
        filled = await self._fill_waiting_stages({row["document_id"] for row in tasks})
        if reminded or escalated or filled:
            self.outbox.poke()
            log.info(
                "reminder sweep",
                extra={"reminded": reminded, "escalated": escalated, "assigned": filled},
            )
        return reminded, escalated

    async def _fill_waiting_stages(self, busy: set[int]) -> int:
        """Documents in review with no open task: assign whoever can decide now."""
        filled = 0
        waiting = await Document.filter(status="in_review").values("id")
        for doc_id in [int(row["id"]) for row in waiting]:
            if doc_id in busy:
                continue
            try:
                filled += await self.stages.fill(doc_id)
            except Exception:
                log.exception("could not assign a waiting stage", extra={"document_id": doc_id})
        return filled

    def _stage(self, doc: Document, index: int) -> Stage | None:
        stages = self.stages.workflow_of(doc).stages
        return stages[index] if 0 <= index < len(stages) else None  # the file may have changed

    async def _remind(
        self, doc: Document, task_id: int, stage: Stage, cutoff: datetime, now: datetime
    ) -> bool:
        async with in_transaction() as conn:
            claimed = (
                await Task.filter(
                    Q(last_reminded_at__isnull=True, created_at__lte=cutoff)
                    | Q(last_reminded_at__lte=cutoff),
                    id=task_id,
                    state=TaskState.OPEN,
                )
                .using_db(conn)
                .update(last_reminded_at=now)
            )
            if claimed != 1:
                return False  # not due, decided meanwhile, or another sweeper has it
            task = await Task.filter(id=task_id).using_db(conn).prefetch_related("assignee").get()
            await doc.fetch_related("author", using_db=conn)
            user = task.assignee
            urls = await self.links.issue(conn, task)
            reply_to = await self.replies.issue(conn, task) if self.replies else None
            due = task.due_at or now
            msg = self.composer.reminder(
                Recipient.of(user),
                await self.mailer.ref(conn, doc, task.version_number),
                stage=stage.name(user.language).lower(),
                due=self.mailer.local_time(due),
                overdue=due <= now,
                urls=urls,
                reply_code=None if reply_to is None else stage.require_code,
            )
            if reply_to is not None:  # a reply there decides (workflow.replies)
                msg["Reply-To"] = reply_to
            await self.mailer.send(conn, doc, msg, "reminder")
            await self.journal.record(
                conn,
                doc,
                "docflow",
                "reminded",
                "system",
                task.version_number,
                task.stage_key,
                {"assignee": user.email},
            )
        return True

    async def _escalate(self, doc: Document, task_id: int, stage: Stage, now: datetime) -> bool:
        async with in_transaction() as conn:
            # the document's row first, as a decision takes it (workflow.decisions): a decision that
            # closes the stage and an escalation adding to it (or two escalations of one
            # document, each adding the same target) must not interleave
            await Document.filter(id=doc.id).select_for_update().using_db(conn).get()
            claimed = (
                await Task.filter(
                    id=task_id, state=TaskState.OPEN, escalated_at__isnull=True, due_at__lte=now
                )
                .using_db(conn)
                .update(escalated_at=now)
            )
            if claimed != 1:
                return False
            task = await Task.filter(id=task_id).using_db(conn).prefetch_related("assignee").get()
            await doc.fetch_related("author", using_db=conn)
            targets, added = await self._add_targets(conn, doc, task, stage, now)
            await self.journal.record(
                conn,
                doc,
                "docflow",
                "escalated",
                "system",
                task.version_number,
                task.stage_key,
                {"assignee": task.assignee.email, "added": [u.email for u in added]},
            )
            if not targets:
                log.error(
                    "overdue task has nobody to escalate to",
                    extra={"code": doc.code, "stage": stage.key, "task_id": task.id},
                )
                return True
            user = task.assignee
            msg = self.composer.escalated(
                Recipient.of(user),
                await self.mailer.ref(conn, doc, task.version_number),
                stage=stage.name(user.language).lower(),
                due=self.mailer.local_time(task.due_at or now),
                added=[f"{u.name} <{u.email}>" for u in targets],
            )
            await self.mailer.send(conn, doc, msg, "escalated")
        return True

    async def _add_targets(
        self, conn: BaseDBAsyncClient, doc: Document, task: Task, stage: Stage, now: datetime
    ) -> tuple[list[User], list[User]]:
        """The escalation targets, and those of them given a task (and task mail) now.

        Each added task fills the overdue task's seat (`Task.escalated_from`): quorum
        counts it once, whoever decides first. A target who already holds a seat of this
        stage decides there and is not added; delegations in force route the new task.
        """
        resolved = await self.stages.resolve(
            conn, dataclasses.replace(stage, assignees=stage.escalate_to)
        )
        targets = [u for u in resolved if u.id != task.assignee.id]
        busy: set[int] = set()
        for row in (
            await Task.filter(
                document_id=doc.id,
                version_number=task.version_number,
                stage_index=task.stage_index,
                state=TaskState.OPEN,
                escalated_from_id=None,
            )
            .using_db(conn)
            .values("assignee_id", "on_behalf_of_id")
        ):
            busy |= {row["assignee_id"], row["on_behalf_of_id"]}
        added = [u for u in targets if u.id not in busy]
        await self.stages.assign(
            conn, doc, stage, task.stage_index, task.version_number, added, escalated_from=task
        )
        return targets, added
