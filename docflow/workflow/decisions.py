"""Deciding a task: by a personal link (with the stage's one-time code when it asks for
one), by its assignee signed in, with an API token or by a reply to the task mail (the
same rules, no link), by an administrator for the assignee (`docflow task decide`), and
renewing an expired link.

Concurrent decisions on one document serialise on the document's row
(`SELECT … FOR UPDATE` on PostgreSQL; SQLite runs one write transaction at a time);
the outbox is poked only after the decision commits.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import F
from tortoise.transactions import in_transaction

from docflow.clock import Clock
from docflow.documents.journal import Journal
from docflow.documents.models import Document
from docflow.errors import DocflowError
from docflow.notify.outbox import Outbox
from docflow.users.models import User
from docflow.workflow import queries
from docflow.workflow.links import (
    APPROVE,
    CHANGES,
    CODE_ATTEMPTS,
    REJECT,
    LinkProblem,
    Links,
    token_hash,
)
from docflow.workflow.models import LinkToken, Task, TaskState
from docflow.workflow.notices import Notices
from docflow.workflow.stages import Stages

log = logging.getLogger("docflow.workflow")
# what a caller does in a decision's transaction once it is recorded (workflow.replies)
AfterDecision = Callable[[BaseDBAsyncClient, Document, Task], Awaitable[None]]
DECISION_STATE = {
    APPROVE: TaskState.APPROVED,
    CHANGES: TaskState.CHANGES_REQUESTED,
    REJECT: TaskState.REJECTED,
}


class TaskProblem(LinkProblem, DocflowError):
    """Why a decision on a task named by its id cannot count: a LinkProblem reason
    (`superseded`, `used`, `wrong_action`, `code_missing`, `bad_code`, `code_locked`),
    `unknown` (no such task), `not_assignee` (the task is someone else's) or `personal`
    (a stage that signs or asks for the code, entered by an admin through the API)."""

    def __init__(self, reason: str, message: str = "") -> None:
        super().__init__(reason)
        self.message = message or reason

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class DecisionResult:
    code: str
    decision: str
    status: str  # the document's status afterwards
    language: str  # the decider's, for the page that answers them


class Decisions:
    """Records decisions on open tasks, each exactly once, and what follows from them."""

    def __init__(
        self,
        clock: Clock,
        stages: Stages,
        notices: Notices,
        links: Links,
        journal: Journal,
        outbox: Outbox,
    ) -> None:
        self.clock = clock
        self.stages = stages
        self.notices = notices
        self.links = links
        self.journal = journal
        self.outbox = outbox

    async def by_link(
        self,
        token: str,
        action: str,
        comment: str,
        code: str | None = None,
        source: str = "link",
    ) -> DecisionResult:
        """Act on a decision link, once. LinkProblem says why a link cannot act.

        On a stage with `require_code`, `code` must be the one mailed separately; a wrong
        guess is counted (and committed) before LinkProblem("bad_code") is raised.
        """
        queued = self.outbox.queued
        async with in_transaction() as conn:
            await queries.lock_document_of_link(conn, token_hash(token))  # orders decisions
            link = await self.links.find(token, conn)  # read once the document is ours
            doc = link.task.document
            if action not in link.actions.split(","):
                raise LinkProblem("wrong_action", link)
            problem = await self._code_problem(conn, doc, link.task, code)
            if problem is None:
                await self._spend(conn, link)
                task = await self._decide(
                    conn, doc, link.task, link.recipient.email, action, comment, source
                )
        if problem is not None:
            raise LinkProblem(problem, link)
        self._committed(doc, queued)
        return DecisionResult(doc.code, task.state, doc.status, link.recipient.language)

    async def by_user(
        self,
        task_id: int,
        email: str,
        action: str,
        comment: str,
        code: str | None = None,
        source: str = "web",
        detail: dict[str, object] | None = None,
        also: AfterDecision | None = None,
    ) -> DecisionResult:
        """The assignee's decision, signed in (`web`), with their API token (`api`) or by
        replying to the task mail (`mail`): the rules of a link without one. Tasks routed
        by a delegation are the delegate's. `detail` goes into the audit event; `also` runs
        in the decision's transaction once it is recorded (a reply's own row and answer).

        TaskProblem says why it cannot count; a wrong code is counted (and committed)
        before TaskProblem("bad_code") is raised, as with a link.
        """
        queued = self.outbox.queued
        async with in_transaction() as conn:
            doc, task = await self._open_task(conn, task_id, email)
            if action not in DECISION_STATE:
                raise TaskProblem(
                    "wrong_action", f"action must be one of {', '.join(DECISION_STATE)}"
                )
            problem = await self._code_problem(conn, doc, task, code)
            if problem is None:
                actor = task.assignee.email
                await self._decide(conn, doc, task, actor, action, comment, source, detail)
                if also is not None:
                    await also(conn, doc, task)
        if problem is not None:
            raise TaskProblem(problem, f"task {task_id}: {problem.replace('_', ' ')}")
        self._committed(doc, queued)
        return DecisionResult(doc.code, task.state, doc.status, task.assignee.language)

    async def by_admin(
        self,
        task_id: int,
        action: str,
        comment: str,
        entered_by: str,
        source: str = "cli",
        *,
        personal_stages: bool = True,
    ) -> DecisionResult:
        """A decision entered by an administrator (`docflow task decide`, or an admin's API
        token), e.g. one given on paper or by telephone: recorded as the assignee's, with
        who entered it. No code is asked: the administrator answers for it.

        `personal_stages=False` (the API) refuses stages that sign or ask for the mailed
        code (`personal`): there only the assignee decides, since approving signs with
        their key; the CLI, run on the server by whoever holds it, may still enter them."""
        if action not in DECISION_STATE:
            raise DocflowError(f"action must be one of {', '.join(DECISION_STATE)}")
        async with in_transaction() as conn:
            doc, task = await self._open_task(conn, task_id)
            stage = self.stages.workflow_of(doc).stages[task.stage_index]
            if not personal_stages and (stage.sign or stage.require_code):
                raise TaskProblem(
                    "personal",
                    f"task {task_id}: its stage signs or asks for the code; "
                    "only the assignee decides it",
                )
            await self._decide(
                conn,
                doc,
                task,
                task.assignee.email,
                action,
                comment,
                source,
                {"entered_by": entered_by},
            )
        self._committed(doc)
        return DecisionResult(doc.code, task.state, doc.status, task.assignee.language)

    async def _open_task(
        self, conn: BaseDBAsyncClient, task_id: int, email: str | None = None
    ) -> tuple[Document, Task]:
        """The open task `task_id` with its assignee, and its document locked (which orders
        decisions on it) with the author; TaskProblem when there is none, when it is not
        `email`'s (when given), or when it is no longer open."""
        found = await Task.filter(id=task_id).using_db(conn).first()
        if found is None:
            raise TaskProblem("unknown", f"no task {task_id}")
        doc = await Document.filter(id=found.document_id).select_for_update().using_db(conn).get()
        await doc.fetch_related("author", using_db=conn)
        task = await Task.filter(id=task_id).using_db(conn).select_related("assignee").get()
        if email is not None and task.assignee.email != email.strip().lower():
            raise TaskProblem("not_assignee", f"task {task_id} is not assigned to {email}")
        if task.state != TaskState.OPEN:
            ended = task.state in (TaskState.SUPERSEDED, TaskState.CANCELLED)
            reason = "superseded" if ended else "used"
            raise TaskProblem(reason, f"task {task_id} is {task.state}, not open")
        return doc, task

    def _committed(self, doc: Document, queued: int | None = None) -> None:
        """After a decision has committed: send its mail (when some was queued since
        `queued`; always without it), and wake what waits for an approval."""
        if queued is None or self.outbox.queued != queued:
            self.outbox.poke()
        if doc.status == "approved":
            self.stages.approval_committed()

    async def renew(self, token: str) -> str | None:
        """Mail fresh links for the open task an expired link belonged to; its language."""
        async with in_transaction() as conn:
            link = await LinkToken.filter(token_hash=token_hash(token)).using_db(conn).first()
            if link is None:
                return None
            await link.fetch_related("task", "recipient", using_db=conn)
            task = link.task
            if task.state != TaskState.OPEN:
                return None
            await task.fetch_related("document", using_db=conn)
            doc = task.document
            await doc.fetch_related("author", using_db=conn)
            await self._mail_again(conn, doc, task, link.recipient, "link")
        self.outbox.poke()
        return str(link.recipient.language)

    async def renew_for_user(self, task_id: int, email: str) -> None:
        """Mail the signed-in assignee fresh links, and a new code where the stage asks for
        one (the old code locked after too many wrong guesses); TaskProblem as `by_user`."""
        async with in_transaction() as conn:
            doc, task = await self._open_task(conn, task_id, email)
            await self._mail_again(conn, doc, task, task.assignee, "web")
        self.outbox.poke()

    async def _mail_again(
        self, conn: BaseDBAsyncClient, doc: Document, task: Task, recipient: User, source: str
    ) -> None:
        stage = self.stages.workflow_of(doc).stages[task.stage_index]
        files = await self.journal.files(conn, doc, task.version_number)
        due = task.due_at or self.clock.now()
        await self.notices.task(conn, doc, task, recipient, stage, due, files)
        await self.journal.record(
            conn, doc, recipient.email, "link_renewed", source, task.version_number, task.stage_key
        )

    async def _code_problem(
        self, conn: BaseDBAsyncClient, doc: Document, task: Task, code: str | None
    ) -> str | None:
        """Why the one-time code does not let the decision count, if the stage wants one.

        A missing code spends no guess (a scanner submitting the form empty must not lock
        the approver out); each wrong one does, and the fifth locks the code.
        """
        stage = self.stages.workflow_of(doc).stages[task.stage_index]
        if not stage.require_code or task.code_hash is None:
            return None
        if task.code_attempts >= CODE_ATTEMPTS:
            return "code_locked"
        if not code or not code.strip():
            return "code_missing"
        if hmac.compare_digest(self.links.code_digest(task.id, code), task.code_hash):
            return None
        await Task.filter(id=task.id).using_db(conn).update(code_attempts=F("code_attempts") + 1)
        task.code_attempts += 1
        return "code_locked" if task.code_attempts >= CODE_ATTEMPTS else "bad_code"

    async def _spend(self, conn: BaseDBAsyncClient, link: LinkToken) -> None:
        """A link acts once: the first to mark it used wins, a second use is refused."""
        claimed = (
            await LinkToken.filter(id=link.id, used_at__isnull=True)
            .using_db(conn)
            .update(used_at=self.clock.now())
        )
        if claimed != 1:
            raise LinkProblem("used", link)

    async def _decide(
        self,
        conn: BaseDBAsyncClient,
        doc: Document,
        task: Task,
        actor: str,
        action: str,
        comment: str,
        source: str,
        detail: dict[str, object] | None = None,
    ) -> Task:
        """One decision on an open task, with its audit event and what follows."""
        task.state = DECISION_STATE[action]
        task.decided_at = self.clock.now()
        task.comment = comment.strip()[:10000]
        await task.save(using_db=conn, update_fields=["state", "decided_at", "comment"])
        principal = None
        if task.on_behalf_of_id is not None:
            principal = await User.get(id=task.on_behalf_of_id, using_db=conn)
        await self.journal.record(
            conn,
            doc,
            actor,
            f"decision:{task.state}",
            source,
            task.version_number,
            task.stage_key,
            {"comment": task.comment, "capacity": task.capacity, **(detail or {})},
            on_behalf_of=principal.email if principal else None,
        )
        await self.stages.after_decision(conn, doc, task)
        log.info("decision", extra={"code": doc.code, "decision": task.state, "actor": actor})
        return task
