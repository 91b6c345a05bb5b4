"""The workflow's mail: task mails (with their links and one-time codes) and notices to the
author and the admins, each in the recipient's language and the document's thread.

Called by the stages and decisions inside their transaction; the words are in
`notify/templates`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from tortoise.backends.base.client import BaseDBAsyncClient

from docflow.documents.models import Document
from docflow.notify.labels import DECISION_WORDS
from docflow.notify.mails import MailComposer
from docflow.notify.message import Recipient
from docflow.notify.threaded import ThreadedMailer
from docflow.users.models import User
from docflow.workflow.definitions import Stage
from docflow.workflow.links import CODE_ATTEMPTS, Links
from docflow.workflow.models import Task, TaskState
from docflow.workflow.reply_tokens import ReplyAddresses


class Notices:
    """Composes and queues the mail a stage or a decision causes."""

    def __init__(
        self,
        composer: MailComposer,
        mailer: ThreadedMailer,
        links: Links,
        status_url: Callable[[str], str],
        replies: ReplyAddresses | None = None,
    ) -> None:
        self.composer = composer
        self.mailer = mailer
        self.links = links
        self.status_url = status_url
        self.replies = replies  # the task mail's reply address (decisions by reply)

    async def task(
        self,
        conn: BaseDBAsyncClient,
        doc: Document,
        task: Task,
        user: User,
        stage: Stage,
        due: datetime,
        files: list[tuple[int, str, int]],
        for_user: User | None = None,
        in_place_of: User | None = None,
    ) -> None:
        """The task mail with fresh personal links and reply address (and, if the stage
        asks, a new code)."""
        urls = await self.links.issue(conn, task)
        reply_to = await self.replies.issue(conn, task) if self.replies else None
        stage_label = stage.name(user.language).lower()
        if for_user is not None:  # e.g. "xem xét (KT. Nguyễn Văn A)"
            stage_label += f" ({task.capacity}. {for_user.name})"
        if in_place_of is not None:  # an escalation: e.g. "xem xét (thay Nguyễn Văn A)"
            word = "in place of" if user.language == "en" else "thay"
            stage_label += f" ({word} {in_place_of.name})"
        msg = self.composer.task(
            Recipient.of(user),
            await self.mailer.ref(conn, doc, task.version_number),
            author=doc.author.name,
            stage=stage_label,
            due=self.mailer.local_time(due),
            files=[(n, size, f"{urls['open']}/files/{pos}") for pos, n, size in files],
            urls=urls,
            reply_code=None if reply_to is None else stage.require_code,
        )
        if reply_to is not None:  # a reply there decides (workflow.replies)
            msg["Reply-To"] = reply_to
        await self.mailer.send(conn, doc, msg, "task")
        if stage.require_code:
            await self._code(conn, doc, task, user, stage_label)

    async def _code(
        self, conn: BaseDBAsyncClient, doc: Document, task: Task, user: User, stage_label: str
    ) -> None:
        """A fresh one-time code for the task, in a mail of its own; earlier codes stop working."""
        code = self.links.new_code()
        task.code_hash, task.code_attempts = self.links.code_digest(task.id, code), 0
        await task.save(using_db=conn, update_fields=["code_hash", "code_attempts"])
        msg = self.composer.decision_code(
            Recipient.of(user),
            await self.mailer.ref(conn, doc, task.version_number),
            stage=stage_label,
            one_time_code=code,
            attempts=CODE_ATTEMPTS,
        )
        await self.mailer.send(conn, doc, msg, "code")

    async def author(
        self,
        conn: BaseDBAsyncClient,
        doc: Document,
        version: int,
        event: str,
        comments: list[dict[str, str]] | None = None,
        **facts: object,
    ) -> None:
        """Tells the author what happened to the document (`event`: notice_event.*.txt)."""
        await self._notice(conn, doc, doc.author, version, event, comments, **facts)

    async def to_user(
        self,
        conn: BaseDBAsyncClient,
        doc: Document,
        user: User,
        version: int,
        event: str,
        **facts: object,
    ) -> None:
        """The same, to someone else who can act on it (a signer whose key failed)."""
        await self._notice(conn, doc, user, version, event, None, **facts)

    async def admins(
        self,
        conn: BaseDBAsyncClient,
        doc: Document,
        version: int,
        event: str,
        skip: str | None = None,
        **facts: object,
    ) -> None:
        """The same, to every active admin (what only an admin can fix); `skip`: an address
        already told."""
        active = await User.filter(active=True).using_db(conn).order_by("email")
        for admin in [u for u in active if "admin" in u.roles and u.email != skip]:
            await self._notice(conn, doc, admin, version, event, None, **facts)

    async def _notice(
        self,
        conn: BaseDBAsyncClient,
        doc: Document,
        user: User,
        version: int,
        event: str,
        comments: list[dict[str, str]] | None,
        **facts: object,
    ) -> None:
        msg = self.composer.notice(
            Recipient.of(user),
            await self.mailer.ref(conn, doc, version),
            status=doc.status,
            event=event,
            comments=comments,
            status_url=self.status_url(doc.code),
            **facts,
        )
        await self.mailer.send(conn, doc, msg, "notice")

    async def comments(
        self, conn: BaseDBAsyncClient, doc: Document, version: int, stage_index: int | None
    ) -> list[dict[str, str]]:
        """The decisions on a version (of one stage, or all), as the author's notice lists them."""
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
