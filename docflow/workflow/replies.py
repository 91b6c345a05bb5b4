"""Decisions by reply (SPEC.md): an authenticated reply at a task's reply address, from
the task's assignee, decides through the same engine as links and the web
(`Decisions.by_user`, audit source `mail`), once.

Intake hands over only replies whose From: is vouched for (`intake.replies`); here:
the reply address must be known, its sender the one it was mailed to (the assignee:
a delegate when a delegation routed the task, who then decides on the principal's
behalf with the capacity), and the first line above the quote a decision
(`intake.reply_text`), with the code on it when the stage asks for one. Whatever
cannot count changes nothing and is answered — with what was understood, and fresh
decision links while the task is open — to the assignee, or to a known user who
replied in their place (no links: the task is not theirs); never to an unknown
sender. A reply never acts twice: each message is recorded once (`task_replies`,
unique by sender and Message-ID) and the task must be open.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from docflow.clock import Clock
from docflow.documents.models import Document
from docflow.intake import reply_text
from docflow.intake.replies import Reply, ReplyResult
from docflow.notify.answers import ReplyAnswers
from docflow.notify.message import DocumentRef, Recipient
from docflow.notify.outbox import Outbox
from docflow.users.models import User
from docflow.workflow.decisions import Decisions, TaskProblem
from docflow.workflow.links import Links
from docflow.workflow.models import ReplyToken, Task, TaskReply, TaskState
from docflow.workflow.reply_tokens import ReplyAddresses
from docflow.workflow.stages import Stages

log = logging.getLogger("docflow.workflow")
# answers to replies that decided nothing, per reply address: a responder that answers
# every mail without saying it is one (no Auto-Submitted) cannot keep a loop going
MAX_ANSWERS = 5
ENDED = (TaskState.SUPERSEDED, TaskState.CANCELLED)
# a TaskProblem of `by_user` that a reply's answer names otherwise
PROBLEM_OUTCOME = {"not_assignee": "wrong_sender", "unknown": "superseded"}


class ReplyDecisions:
    """The workflow's part of a reply to a task mail (intake's `ReplyFlow`)."""

    def __init__(
        self,
        clock: Clock,
        stages: Stages,
        decisions: Decisions,
        links: Links,
        addresses: ReplyAddresses,
        answers: ReplyAnswers,
        outbox: Outbox,
        status_url: Callable[[str], str],
    ) -> None:
        self.clock = clock
        self.stages = stages
        self.decisions = decisions
        self.links = links
        self.addresses = addresses
        self.answers = answers
        self.outbox = outbox
        self.status_url = status_url

    async def on_reply(self, reply: Reply) -> ReplyResult:
        found = await self.addresses.find(reply.token)
        if found is None:  # a token docflow never gave out: nobody to answer
            return ReplyResult("unknown_reply_address")
        task = found.task
        doc = task.document
        if await TaskReply.filter(source_key=reply.source_key).exists():
            return ReplyResult("duplicate", doc.code)  # delivered again: answered already
        stage = self.stages.workflow_of(doc).stages[task.stage_index]
        wants_code = stage.require_code and task.code_hash is not None
        reading = reply_text.read(reply.text, with_code=wants_code)
        sender = reply.from_addr.strip().lower()
        if sender != found.recipient.email or found.recipient_id != task.assignee_id:
            user = await User.get_or_none(email=sender, active=True)
            return await self._refused(found, reply, reading, "wrong_sender", user, wants_code)
        if task.state != TaskState.OPEN:
            outcome = "superseded" if task.state in ENDED else "used"
        elif reading.action is None:
            outcome = "not_understood"
        else:
            try:
                await self.decisions.by_user(
                    task.id,
                    sender,
                    reading.action,
                    reading.comment,
                    reading.code,
                    source="mail",
                    detail={"message_id": reply.message_id},
                    also=self._confirmation(found, reply, reading),
                )
                return ReplyResult("decided", doc.code)
            except TaskProblem as problem:  # decided meanwhile, a wrong code, …
                outcome = PROBLEM_OUTCOME.get(problem.reason, problem.reason)
            except IntegrityError:  # the same message, at the same moment, decided
                return ReplyResult("duplicate", doc.code)
        return await self._refused(found, reply, reading, outcome, found.recipient, wants_code)

    def _confirmation(
        self, found: ReplyToken, reply: Reply, reading: reply_text.Reading
    ) -> Callable[[BaseDBAsyncClient, Document, Task], Awaitable[None]]:
        """In the decision's transaction: the reply recorded (a second copy of it fails
        the unique key, and the decision rolls back), and the approver told."""

        async def confirm(conn: BaseDBAsyncClient, doc: Document, task: Task) -> None:
            await self._record(conn, found, reply, "decided", answered=True)
            msg = self.answers.answer(
                Recipient.of(task.assignee),
                DocumentRef(doc.code, doc.title, task.version_number),
                outcome="decided",
                action=reading.action,
                line=reading.line,
                comment=task.comment,
                status=doc.status,
                status_url=self.status_url(doc.code),
                files=reply.attachments,
                in_reply_to=reply.message_id,
                references=reply.references,
            )
            await self.outbox.enqueue(conn, msg, "reply_answer", doc.code)

        return confirm

    async def _refused(
        self,
        found: ReplyToken,
        reply: Reply,
        reading: reply_text.Reading,
        outcome: str,
        to: User | None,
        wants_code: bool,
    ) -> ReplyResult:
        """Nothing changes; the reply is recorded and, unless `to` is None or the address
        has been answered MAX_ANSWERS times, answered: what was understood, and fresh
        links (and this reply address again) while the task is open and `to` its own."""
        try:
            async with in_transaction() as conn:
                task = await Task.filter(id=found.task_id).using_db(conn).get()
                doc = await Document.get(id=task.document_id, using_db=conn)
                answered = (
                    await TaskReply.filter(reply_token_id=found.id, answered=True)
                    .exclude(outcome="decided")
                    .using_db(conn)
                    .count()
                )
                answer = to is not None and answered < MAX_ANSWERS
                await self._record(conn, found, reply, outcome, answered=answer)
                if to is not None and answer:
                    own = outcome != "wrong_sender"
                    still_open = own and task.state == TaskState.OPEN
                    msg = self.answers.answer(
                        Recipient.of(to),
                        DocumentRef(doc.code, doc.title, task.version_number),
                        outcome=outcome,
                        action=reading.action,
                        line=reading.line,
                        comment=reading.comment,
                        status=doc.status,
                        earlier=task.state,
                        urls=await self.links.issue(conn, task) if still_open else None,
                        status_url=self.status_url(doc.code) if own and not still_open else "",
                        files=reply.attachments if own else (),
                        code_on_line=wants_code,
                        in_reply_to=reply.message_id,
                        references=reply.references,
                    )
                    if still_open:  # a reply to the answer may decide, as one to the task mail
                        msg["Reply-To"] = self.addresses.address(reply.token)
                    await self.outbox.enqueue(conn, msg, "reply_answer", doc.code)
        except IntegrityError:  # the same message, processed twice at once
            return ReplyResult("duplicate", found.task.document.code)
        if answer:
            self.outbox.poke()
        elif to is not None:
            log.warning(
                "reply not answered: its address was answered often already",
                extra={"code": doc.code, "from": reply.from_addr, "reason": outcome},
            )
        return ReplyResult(outcome, doc.code)

    async def _record(
        self,
        conn: BaseDBAsyncClient,
        found: ReplyToken,
        reply: Reply,
        outcome: str,
        answered: bool,
    ) -> None:
        await TaskReply.create(
            source_key=reply.source_key,
            reply_token_id=found.id,
            inbound_id=reply.inbound_id,
            from_addr=reply.from_addr[:320],
            outcome=outcome,
            answered=answered,
            received_at=self.clock.now(),
            using_db=conn,
        )
