"""Replies to task mails: mail to a task's reply address (`vanban+t-TOKEN@…`) is a
decision by reply, never a draft.

Intake does the mail's part, in this order: mail a program wrote (an out-of-office
answer to the task mail) and mail whose From: is not vouched for are recorded and never
answered (no backscatter: the From: may be forged); only then is the message read
whole and handed, as a source-neutral `Reply`, to the workflow (`ReplyFlow`, filled by
the composition root with `workflow.replies.Replies`), which decides and answers.
Authentication is always asked for here, whatever `intake.require_authenticated_sender`
says: a reply decides, so its From: must be the approver's own.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from docflow.clock import Clock
from docflow.intake.analysis import Analyser
from docflow.intake.drafts import Outcome
from docflow.intake.models import InboundMessage, InboundState
from docflow.intake.parse import ParsedMail
from docflow.intake.routing import IntakeAddresses
from docflow.intake.senders import ENVELOPE_SOURCES, Senders
from docflow.intake.spool import Spool

log = logging.getLogger("docflow.intake")


@dataclass(frozen=True)
class Reply:
    """An authenticated reply at a reply address, as the workflow needs it."""

    token: str
    inbound_id: int
    from_addr: str
    message_id: str
    source_key: str  # sender and Message-ID (without one: the bytes), hashed
    subject: str
    text: str  # the text/plain body, or the text of the HTML when there is no plain part
    attachments: tuple[str, ...]  # the names of its files: never a version
    references: tuple[str, ...]
    auth: str  # the evidence that authenticated it (`dkim=pass header.d=…`)


@dataclass(frozen=True)
class ReplyResult:
    """What came of a reply: `outcome` (decided, not_understood, wrong_sender, …), the
    document it was about, if known."""

    outcome: str
    code: str | None = None


class ReplyFlow(Protocol):
    """What intake asks of the workflow (docflow.workflow.replies.Replies)."""

    async def on_reply(self, reply: Reply) -> ReplyResult: ...


class Replies:
    """Recognises replies among received mail and hands the authenticated ones on."""

    def __init__(
        self,
        clock: Clock,
        spool: Spool,
        analyser: Analyser,
        addresses: IntakeAddresses,
        senders: Senders,
        flow: ReplyFlow,
    ) -> None:
        self.clock = clock
        self.spool = spool
        self.analyser = analyser
        self.addresses = addresses
        self.senders = senders
        self.flow = flow

    def token_of(self, rcpt_tos: Iterable[str]) -> str | None:
        """The reply token a message was sent to; None: it is no reply to a task mail."""
        return self.addresses.reply_token_of(rcpt_tos)

    async def handle(self, row: InboundMessage, head: ParsedMail, token: str) -> Outcome:
        """Record what became of the reply on its inbound row (state `reply`)."""
        row.message_id = head.message_id[:998]
        row.from_addr = (head.from_addr or row.mail_from.lower())[:320]
        row.subject = head.subject[:1000]
        result, detail = await self._handle(row, head, token)
        row.state = InboundState.REPLY
        row.reason = result.outcome
        row.detail = detail
        row.document_code = result.code
        row.processed_at = self.clock.now()
        await row.save()
        log.info(
            "reply to a task mail",
            extra={
                "inbound_id": row.id,
                "reason": result.outcome,
                "code": result.code,
                "from": row.from_addr,
            },
        )
        return Outcome(InboundState.REPLY, result.code, reason=result.outcome)

    async def _handle(
        self, row: InboundMessage, head: ParsedMail, token: str
    ) -> tuple[ReplyResult, str]:
        """What came of the reply, and the evidence of its sender's authentication."""
        automatic = head.automatic or _null_sender(row)
        if automatic:  # an out-of-office answer to the task mail, a bounce: never answered
            return ReplyResult("auto_submitted"), automatic
        verdict = await self.senders.authenticate(row, head)
        if not verdict.passed:  # possibly forged: nothing changes, nobody is answered
            return ReplyResult("unauthenticated_sender"), verdict.detail
        mail = await self.analyser.whole(self.spool.path_of(row.spool_name))
        key = f"{row.from_addr}\n{mail.message_id}" if mail.message_id else f"sha256:{row.sha256}"
        reply = Reply(
            token=token,
            inbound_id=row.id,
            from_addr=row.from_addr,
            message_id=mail.message_id,
            source_key=hashlib.sha256(key.encode()).hexdigest(),
            subject=mail.subject,
            text=mail.body_text,
            # images are left out: mail clients attach signatures and logos as images
            attachments=tuple(
                a.filename or a.content_type
                for a in mail.attachments
                if not a.content_type.startswith("image/")
            ),
            references=mail.references,
            auth=verdict.detail,
        )
        return await self.flow.on_reply(reply), verdict.detail


def _null_sender(row: InboundMessage) -> str:
    """A bounce: the envelope sender is empty (`MAIL FROM:<>`)."""
    if row.source in ENVELOPE_SOURCES and row.mail_from.strip() in ("", "<>"):
        return "MAIL FROM:<>"
    return ""
