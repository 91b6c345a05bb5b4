"""The review and sign-off engine: stages, tasks, quorum, decisions, and the mail they cause.

Every transition runs inside the caller's transaction (intake's, or the one
`decide` opens) and writes an audit event; mail goes to the outbox in the same
transaction, so a decision and the mails it causes commit together or not at all.
Concurrent decisions on one document serialise on the document's row
(`SELECT … FOR UPDATE` on PostgreSQL; SQLite runs one write transaction at a time).
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, tzinfo
from email.message import Message

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import F, Q
from tortoise.transactions import in_transaction

from docflow.clock import Clock
from docflow.documents.models import Document, ThreadMessage, Version
from docflow.documents.service import DocumentService
from docflow.errors import DocflowError
from docflow.notify.mails import MailComposer
from docflow.notify.outbox import Outbox
from docflow.users.models import User
from docflow.workflow import queries
from docflow.workflow.definitions import Stage, Workflow, WorkflowCatalog
from docflow.workflow.delegation import DelegationService
from docflow.workflow.links import (
    APPROVE,
    CHANGES,
    CODE_ATTEMPTS,
    REJECT,
    LinkProblem,
    Links,
    token_hash,
)
from docflow.workflow.models import AuditEvent, LinkToken, Task, TaskState

log = logging.getLogger("docflow.workflow")
ApprovedHook = Callable[[BaseDBAsyncClient, Document], Awaitable[object]]
DECISION_STATE = {
    APPROVE: TaskState.APPROVED,
    CHANGES: TaskState.CHANGES_REQUESTED,
    REJECT: TaskState.REJECTED,
}
OUT_OF_REVIEW = ("approved", "rejected", "withdrawn")
DECISION_WORDS = {  # (vi, en)
    TaskState.APPROVED: ("đồng ý", "approved"),
    TaskState.CHANGES_REQUESTED: ("yêu cầu chỉnh sửa", "requested changes"),
    TaskState.REJECTED: ("từ chối", "rejected"),
}


@dataclass(frozen=True)
class DecisionResult:
    code: str
    decision: str
    status: str  # the document's status afterwards
    language: str  # the decider's, for the page that answers them


class WorkflowEngine:
    """Moves documents through their workflow's stages."""

    def __init__(
        self,
        clock: Clock,
        workflows: WorkflowCatalog,
        documents: DocumentService,
        outbox: Outbox,
        composer: MailComposer,
        links: Links,
        status_url: Callable[[str], str],
        timezone: tzinfo,
    ) -> None:
        self.clock = clock
        self.workflows = workflows
        self.documents = documents
        self.outbox = outbox
        self.composer = composer
        self.links = links
        self.status_url = status_url
        self.timezone = timezone
        self.delegations = DelegationService(clock)
        self.on_approved: list[ApprovedHook] = []  # issuing plugs in here (archive)

    # --- entering stages ----------------------------------------------------------------

    async def on_new_version(
        self, conn: BaseDBAsyncClient, doc: Document, version: int, source: str = "mail"
    ) -> None:
        """A new document enters stage 1; a revision restarts the stage it was in.

        The author is not mailed here: the receipt for the version says where it stands.
        """
        await self.audit(conn, doc, doc.author.email, "version_added", source, version)
        if doc.stage_index is None:
            await self._enter(conn, doc, 0, version, tell_author=False)
            return
        await self._close_open_tasks(conn, doc, TaskState.SUPERSEDED)
        await self._enter(conn, doc, doc.stage_index, version, tell_author=False)

    def stage_name(self, doc: Document, language: str) -> str | None:
        if doc.stage_index is None:
            return None
        return self.workflow_of(doc).stages[doc.stage_index].name(language)

    async def _enter(
        self,
        conn: BaseDBAsyncClient,
        doc: Document,
        index: int,
        version: int,
        tell_author: bool = True,
    ) -> None:
        workflow = self.workflow_of(doc)
        stage = workflow.stages[index]
        doc.status, doc.stage_index, doc.updated_at = "in_review", index, self.clock.now()
        await doc.save(using_db=conn, update_fields=["status", "stage_index", "updated_at"])
        assignees = await self.resolve(conn, stage)
        await self.audit(
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
            await self._tell_unassigned(conn, doc, stage, version)
        await self.assign(conn, doc, stage, index, version, assignees)
        if not tell_author:
            return
        await self._tell_author(
            conn,
            doc,
            version,
            f"Văn bản đã chuyển sang bước «{stage.name('vi')}» "
            f"({index + 1}/{len(workflow.stages)}).",
            f"The document has moved to the stage “{stage.name('en')}” "
            f"({index + 1}/{len(workflow.stages)}).",
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
        files = await self.files(conn, doc, version)
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
            await self.mail_task(
                conn,
                doc,
                task,
                decider,
                stage,
                version,
                due,
                files,
                for_user=user if d else None,
                in_place_of=escalated_from.assignee if escalated_from else None,
            )
            tasks.append(task)
        return tasks

    async def fill_stage(self, doc_id: int) -> int:
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
                await self.audit(
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

    async def _tell_unassigned(
        self, conn: BaseDBAsyncClient, doc: Document, stage: Stage, version: int
    ) -> None:
        """Nobody holds the stage's roles: the admins hear of it (the author's receipt
        names the stage; an author can do nothing about it)."""
        log.error("stage has nobody to decide", extra={"code": doc.code, "stage": stage.key})
        names = ", ".join(str(a) for a in stage.assignees)
        admin_vi = (
            f"Bước «{stage.name('vi')}» của văn bản này không có ai xử lý: không người dùng "
            f"nào khớp {names}. Hãy giao vai trò (docflow user role add EMAIL VAI-TRÒ); "
            "văn bản sẽ được giao trong vòng một phút."
        )
        admin_en = (
            f"The stage “{stage.name('en')}” of this document has nobody to decide: no user "
            f"matches {names}. Give someone the role (docflow user role add EMAIL ROLE); the "
            "document is assigned within a minute."
        )
        active = await User.filter(active=True).using_db(conn).order_by("email")
        for admin in [u for u in active if "admin" in u.roles]:
            await self._tell(conn, doc, admin, version, admin_vi, admin_en)

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

    # --- deciding ---------------------------------------------------------------------------

    async def decide(
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
                task = await self._record(conn, doc, link, action, comment, source)
        if problem is not None:
            raise LinkProblem(problem, link)
        if self.outbox.queued != queued:  # mail from this decision (or another meanwhile)
            self.outbox.poke()
        return DecisionResult(doc.code, task.state, doc.status, link.recipient.language)

    async def _code_problem(
        self, conn: BaseDBAsyncClient, doc: Document, task: Task, code: str | None
    ) -> str | None:
        """Why the one-time code does not let the decision count, if the stage wants one.

        A missing code spends no guess (a scanner submitting the form empty must not lock
        the approver out); each wrong one does, and the fifth locks the code.
        """
        stage = self.workflow_of(doc).stages[task.stage_index]
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

    async def _record(
        self,
        conn: BaseDBAsyncClient,
        doc: Document,
        link: LinkToken,
        action: str,
        comment: str,
        source: str,
    ) -> Task:
        """The link's decision: the link is spent, then the task decided."""
        claimed = (
            await LinkToken.filter(id=link.id, used_at__isnull=True)
            .using_db(conn)
            .update(used_at=self.clock.now())
        )
        if claimed != 1:
            raise LinkProblem("used", link)
        return await self._decided(
            conn, doc, link.task, link.recipient.email, action, comment, source
        )

    async def _decided(
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
        """Records one decision on an open task, with the audit event and what follows."""
        task.state = DECISION_STATE[action]
        task.decided_at = self.clock.now()
        task.comment = comment.strip()[:10000]
        await task.save(using_db=conn, update_fields=["state", "decided_at", "comment"])
        principal = None
        if task.on_behalf_of_id is not None:
            principal = await User.get(id=task.on_behalf_of_id, using_db=conn)
        await self.audit(
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
        await self._after_decision(conn, doc, task)
        log.info("decision", extra={"code": doc.code, "decision": task.state, "actor": actor})
        return task

    async def decide_task(
        self, task_id: int, action: str, comment: str, entered_by: str
    ) -> DecisionResult:
        """A decision entered by an administrator (`docflow task decide`), e.g. one given
        on paper or by telephone: recorded as the assignee's, with who entered it."""
        if action not in DECISION_STATE:
            raise DocflowError(f"action must be one of {', '.join(DECISION_STATE)}")
        async with in_transaction() as conn:
            found = await Task.filter(id=task_id).using_db(conn).first()
            if found is None:
                raise DocflowError(f"no task {task_id}")
            doc = (
                await Document.filter(id=found.document_id).select_for_update().using_db(conn).get()
            )
            await doc.fetch_related("author", using_db=conn)
            task = await Task.filter(id=task_id).using_db(conn).select_related("assignee").get()
            if task.state != TaskState.OPEN:
                raise DocflowError(f"task {task_id} is {task.state}, not open")
            await self._decided(
                conn,
                doc,
                task,
                task.assignee.email,
                action,
                comment,
                "cli",
                {"entered_by": entered_by},
            )
        self.outbox.poke()
        return DecisionResult(doc.code, task.state, doc.status, task.assignee.language)

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

    async def _after_decision(self, conn: BaseDBAsyncClient, doc: Document, task: Task) -> None:
        stage_tasks = Task.filter(
            document=doc, version_number=task.version_number, stage_index=task.stage_index
        ).using_db(conn)
        # quorum counts seats: an overdue task and the tasks its escalation added share one,
        # and the first decision in a seat settles it (the others' links stop working)
        seat = task.escalated_from_id or task.id
        await (
            Task.filter(Q(id=seat) | Q(escalated_from_id=seat), state=TaskState.OPEN)
            .using_db(conn)
            .update(state=TaskState.SUPERSEDED)
        )
        if task.state == TaskState.CHANGES_REQUESTED:
            await self._close_open_tasks(conn, doc, TaskState.SUPERSEDED)
            await self._set_status(conn, doc, "changes_requested")
            await self._tell_author(
                conn,
                doc,
                task.version_number,
                "Văn bản cần chỉnh sửa. Hãy trả lời thư này kèm bản sửa: bước xem xét sẽ "
                "bắt đầu lại với phiên bản mới.",
                "Changes were requested. Reply to this message with the revised draft: the "
                "stage starts again with the new version.",
                await self._comments(conn, doc, task.version_number, task.stage_index),
            )
            return
        if task.state == TaskState.REJECTED:
            await self._close_open_tasks(conn, doc, TaskState.CANCELLED)
            await self._set_status(conn, doc, "rejected")
            await self._tell_author(
                conn,
                doc,
                task.version_number,
                "Văn bản đã bị từ chối.",
                "The document was rejected.",
                await self._comments(conn, doc, task.version_number, task.stage_index),
            )
            return
        workflow = self.workflow_of(doc)
        stage = workflow.stages[task.stage_index]
        rows = await stage_tasks.values("id", "escalated_from_id", "state")
        seats = {r["escalated_from_id"] or r["id"] for r in rows}
        approved = {r["escalated_from_id"] or r["id"] for r in rows if r["state"] == "approved"}
        approvals = len(approved)
        if not stage.quorum.reached(approvals, len(seats)):
            return
        await self.audit(
            conn,
            doc,
            "docflow",
            "stage_completed",
            "system",
            task.version_number,
            stage.key,
            {"approvals": approvals},
        )
        await self._close_open_tasks(conn, doc, TaskState.SUPERSEDED)
        if task.stage_index + 1 < len(workflow.stages):
            await self._enter(conn, doc, task.stage_index + 1, task.version_number)
            return
        await self._set_status(conn, doc, "approved")
        await self.audit(conn, doc, "docflow", "approved", "system", task.version_number)
        await self._tell_author(
            conn,
            doc,
            task.version_number,
            "Văn bản đã được phê duyệt ở tất cả các bước.",
            "The document has been approved at every stage.",
            await self._comments(conn, doc, task.version_number, None),
        )
        for hook in self.on_approved:  # issuing (docflow.archive.issuing): → `issued`
            await hook(conn, doc)

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
            stage = self.workflow_of(doc).stages[task.stage_index]
            files = await self.files(conn, doc, task.version_number)
            due = task.due_at or self.clock.now()
            await self.mail_task(
                conn, doc, task, link.recipient, stage, task.version_number, due, files
            )
            await self.audit(
                conn,
                doc,
                link.recipient.email,
                "link_renewed",
                "link",
                task.version_number,
                task.stage_key,
            )
        self.outbox.poke()
        return str(link.recipient.language)

    async def withdraw(
        self, conn: BaseDBAsyncClient, doc: Document, actor: str, source: str = "mail"
    ) -> None:
        """The author takes the document back: open tasks end, their links stop working."""
        await self._close_open_tasks(conn, doc, TaskState.CANCELLED)
        await self._set_status(conn, doc, "withdrawn")
        version = await Version.filter(document=doc).using_db(conn).count()
        await self.audit(conn, doc, actor, "withdrawn", source, version)
        await self._tell_author(
            conn,
            doc,
            version,
            "Văn bản đã được rút theo yêu cầu.",
            "The document was withdrawn as asked.",
        )

    # --- helpers ----------------------------------------------------------------------------

    def workflow_of(self, doc: Document) -> Workflow:
        return self.workflows.by_key.get(doc.workflow) or self.workflows.default

    async def _set_status(self, conn: BaseDBAsyncClient, doc: Document, status: str) -> None:
        """A document that has left review has no stage; changes_requested keeps its own."""
        doc.status, doc.updated_at = status, self.clock.now()
        if status in OUT_OF_REVIEW:
            doc.stage_index = None
        await doc.save(using_db=conn, update_fields=["status", "updated_at", "stage_index"])

    async def _close_open_tasks(self, conn: BaseDBAsyncClient, doc: Document, state: str) -> None:
        await Task.filter(document=doc, state=TaskState.OPEN).using_db(conn).update(state=state)

    async def audit(
        self,
        conn: BaseDBAsyncClient,
        doc: Document,
        actor: str,
        action: str,
        source: str,
        version: int | None = None,
        stage: str | None = None,
        detail: dict[str, object] | None = None,
        on_behalf_of: str | None = None,
    ) -> None:
        await AuditEvent.create(
            document=doc,
            at=self.clock.now(),
            actor=actor,
            on_behalf_of=on_behalf_of,
            action=action,
            source=source,
            version_number=version,
            stage_key=stage,
            detail=detail or {},
            using_db=conn,
        )

    async def files(
        self, conn: BaseDBAsyncClient, doc: Document, version: int
    ) -> list[tuple[int, str, int]]:
        v = await Version.filter(document=doc, number=version).using_db(conn).get()
        await v.fetch_related("files", using_db=conn)
        return [(f.position, f.name, f.size) for f in sorted(v.files, key=lambda f: f.position)]  # type: ignore[attr-defined]

    async def thread(self, conn: BaseDBAsyncClient, doc: Document) -> list[str]:
        rows = await ThreadMessage.filter(document=doc).using_db(conn).order_by("id")
        return [r.message_id for r in rows][-10:]

    def local_time(self, t: datetime) -> str:
        """As the office's clocks show it (org.timezone)."""
        return t.astimezone(self.timezone).strftime("%d/%m/%Y %H:%M")

    async def mail_task(
        self,
        conn: BaseDBAsyncClient,
        doc: Document,
        task: Task,
        user: User,
        stage: Stage,
        version: int,
        due: datetime,
        files: list[tuple[int, str, int]],
        for_user: User | None = None,
        in_place_of: User | None = None,
    ) -> None:
        urls = await self.links.issue(conn, task)
        stage_label = stage.name(user.language).lower()
        if for_user is not None:  # e.g. "xem xét (KT. Nguyễn Văn A)"
            stage_label += f" ({task.capacity}. {for_user.name})"
        if in_place_of is not None:  # an escalation: e.g. "xem xét (thay Nguyễn Văn A)"
            word = "in place of" if user.language == "en" else "thay"
            stage_label += f" ({word} {in_place_of.name})"
        msg = self.composer.task(
            to=user.email,
            name=user.name,
            language=user.language,
            code=doc.code,
            title=doc.title,
            version=version,
            author=doc.author.name,
            stage=stage_label,
            due=self.local_time(due),
            files=[(n, size, f"{urls['open']}/files/{pos}") for pos, n, size in files],
            urls=urls,
            thread=await self.thread(conn, doc),
        )
        await self.send(conn, doc, msg, "task")
        if stage.require_code:
            await self._mail_code(conn, doc, task, user, stage_label, version)

    async def _mail_code(
        self,
        conn: BaseDBAsyncClient,
        doc: Document,
        task: Task,
        user: User,
        stage_label: str,
        version: int,
    ) -> None:
        """A fresh one-time code for the task, in a mail of its own; earlier codes stop working."""
        code = self.links.new_code()
        task.code_hash, task.code_attempts = self.links.code_digest(task.id, code), 0
        await task.save(using_db=conn, update_fields=["code_hash", "code_attempts"])
        msg = self.composer.decision_code(
            to=user.email,
            name=user.name,
            language=user.language,
            code=doc.code,
            title=doc.title,
            version=version,
            stage=stage_label,
            one_time_code=code,
            attempts=CODE_ATTEMPTS,
            thread=await self.thread(conn, doc),
        )
        await self.send(conn, doc, msg, "code")

    async def _tell_author(
        self,
        conn: BaseDBAsyncClient,
        doc: Document,
        version: int,
        text_vi: str,
        text_en: str,
        comments: list[dict[str, str]] | None = None,
    ) -> None:
        await self._tell(conn, doc, doc.author, version, text_vi, text_en, comments)

    async def _tell(
        self,
        conn: BaseDBAsyncClient,
        doc: Document,
        user: User,
        version: int,
        text_vi: str,
        text_en: str,
        comments: list[dict[str, str]] | None = None,
    ) -> None:
        """A notice about the document, in the document's thread, in the user's language."""
        msg = self.composer.notice(
            to=user.email,
            name=user.name,
            language=user.language,
            code=doc.code,
            title=doc.title,
            version=version,
            status=doc.status,
            text_vi=text_vi,
            text_en=text_en,
            comments=comments or [],
            status_url=self.status_url(doc.code),
            thread=await self.thread(conn, doc),
        )
        await self.send(conn, doc, msg, "notice")

    async def send(self, conn: BaseDBAsyncClient, doc: Document, msg: Message, kind: str) -> None:
        await self.outbox.enqueue(conn, msg, kind, doc.code)
        message_id = str(msg["Message-ID"]).strip("<>")
        await self.documents.remember_message(conn, doc, message_id, "out")

    async def _comments(
        self, conn: BaseDBAsyncClient, doc: Document, version: int, stage_index: int | None
    ) -> list[dict[str, str]]:
        query = Task.filter(
            document=doc, version_number=version, state__in=list(TaskState.DECISIONS)
        ).using_db(conn)
        if stage_index is not None:
            query = query.filter(stage_index=stage_index)
        out = []
        for t in await query.order_by("decided_at").prefetch_related("assignee"):
            vi, en = DECISION_WORDS[t.state]
            word = en if doc.author.language == "en" else vi
            out.append({"who": t.assignee.name, "decision": word, "text": t.comment})
        return out

    # --- reading ----------------------------------------------------------------------------

    async def view(self, doc: Document) -> dict[str, object]:
        """Current stage, tasks and decisions, for the API's document view."""
        workflow = self.workflow_of(doc)
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


def audit_view(e: AuditEvent) -> dict[str, object]:
    return {
        "at": e.at.isoformat(),
        "actor": e.actor,
        "on_behalf_of": e.on_behalf_of,
        "action": e.action,
        "source": e.source,
        "version": e.version_number,
        "stage": e.stage_key,
        "detail": e.detail,
    }
