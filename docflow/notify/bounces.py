"""Bounces of docflow's own mail: a failed delivery is recorded, shown, and told.

Every mail leaves with a VERP envelope sender (`docflow-bounce+TOKEN@…`, see
`notify.outbox`), so a delivery status notification (RFC 3464) comes back to an
address that names the outbox row. Intake hands such mail here instead of to the
draft path: it never becomes a document and is never answered. A failed recipient
is a `DeliveryFailure` row (one per mail and recipient, so a repeated DSN records
nothing twice), an audit event on the document, and, when the mail was an
approver's (a task mail, its code, a reminder), a mail to the document's author:
the approver does not know there is something to review. The relay refusing a
recipient for good (a 5xx at RCPT) is recorded the same way (`record_refusal`).

Auto-replies come to the VERP address too (RFC 3834 answers the Return-Path): mail that
is no DSN counts as a bounce only when it reads as one (`Report.bounce`), else nothing
failed and the inbound row says what it was.
"""

from __future__ import annotations

import email
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from email.header import decode_header, make_header
from email.message import Message
from email.policy import compat32
from email.utils import parseaddr
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from docflow.automatic import auto_reply, bounce_subject, system_sender
from docflow.clock import Clock
from docflow.documents.journal import Journal
from docflow.documents.models import Document
from docflow.notify.mails import MailComposer
from docflow.notify.message import Recipient
from docflow.notify.models import DeliveryFailure, OutboxMessage, OutboxState
from docflow.notify.outbox import Outbox, verp_token
from docflow.notify.threaded import ThreadedMailer
from docflow.users.models import User

log = logging.getLogger("docflow.bounces")

# mail to an approver about a task: its author must hear that it did not arrive
TASK_KINDS = frozenset({"task", "code", "reminder", "escalated"})
_DELAY_WORDS = re.compile(r"delay|warning|not yet been delivered|chậm", re.IGNORECASE)
_ESCAPED_BYTE = re.compile("[\udc80-\udcff]")
_STATUS = re.compile(r"\b([245]\.\d{1,3}\.\d{1,3})\b")


@dataclass(frozen=True)
class DsnRecipient:
    """One per-recipient block of a delivery status notification."""

    address: str  # Final-Recipient (else Original-Recipient), lowercased
    original: str  # Original-Recipient, "" without one
    action: str  # failed | delayed | delivered | relayed | expanded; "" when absent
    status: str  # e.g. 5.1.1
    diagnostic: str

    @property
    def failed(self) -> bool:
        # Postfix reports "failed" with a 4.x.x status once a deferred mail expires
        return self.action == "failed" or (not self.action and self.status.startswith("5"))


@dataclass(frozen=True)
class Report:
    """What a bounce says: the recipients of a standard DSN, or nothing readable."""

    recipients: tuple[DsnRecipient, ...]
    standard: bool  # it had a message/delivery-status part
    subject: str
    sender: str = ""  # the From address, lowercased
    auto_reply: str = ""  # what marks it as an auto-reply (`automatic.auto_reply`), or ""

    @property
    def bounce(self) -> bool:
        """A DSN, or mail that reads as a bounce: from a mail server or titled as one.

        An out-of-office or challenge-response reply comes to the VERP address too (RFC
        3834 answers the Return-Path) and says nothing about delivery.
        """
        if self.standard:
            return True
        if self.auto_reply:
            return False
        return system_sender(self.sender) or bounce_subject(self.subject)


@dataclass(frozen=True)
class BounceOutcome:
    """What became of one received bounce (intake stores it on the inbound row)."""

    code: str | None  # the document of the bounced mail
    failed: tuple[str, ...]  # recipients newly recorded as failed
    detail: str


def _address(value: str) -> str:
    """`rfc822; <Someone@example.org>` (or without the type) → `someone@example.org`."""
    _, typed, address = value.partition(";")
    return (address if typed else value).strip().strip("<>").strip().lower()


def _one_line(value: str) -> str:
    return " ".join(value.split())


def _text(value: str) -> str:
    """A header's text: encoded words decoded, raw 8-bit bytes read as UTF-8."""
    if _ESCAPED_BYTE.search(value):  # the parser keeps 8-bit bytes as surrogates
        return _one_line(value.encode("ascii", "surrogateescape").decode("utf-8", "replace"))
    try:
        return _one_line(str(make_header(decode_header(value))))
    except Exception:  # unknown charsets, broken encoded words: the raw header will do
        return _one_line(value)


def parse_report(raw: bytes) -> Report:
    """Read a bounce with the stdlib parser: the blocks of its message/delivery-status."""
    msg = email.message_from_bytes(raw, policy=compat32)
    headers: dict[str, str] = {}
    for key, value in msg.raw_items():
        headers.setdefault(key.lower(), _text(str(value)))
    subject = headers.get("subject", "")
    sender = parseaddr(headers.get("from", ""))[1].lower()
    out: list[DsnRecipient] = []
    standard = False
    for part in msg.walk():
        if part.get_content_type() != "message/delivery-status":
            continue
        standard = True
        blocks = part.get_payload()
        if not isinstance(blocks, list):
            continue
        for block in blocks[1:]:  # the first block is about the message, the rest recipients
            if not isinstance(block, Message):
                continue
            final = _address(str(block.get("Final-Recipient", "")))
            original = _address(str(block.get("Original-Recipient", "")))
            if not (final or original):
                continue
            out.append(
                DsnRecipient(
                    address=final or original,
                    original=original,
                    action=str(block.get("Action", "")).strip().lower(),
                    status=str(block.get("Status", "")).strip().split(" ")[0],
                    diagnostic=_one_line(str(block.get("Diagnostic-Code", "")))[:2000],
                )
            )
        break
    return Report(tuple(out), standard, subject, sender, auto_reply(headers, subject))


def failed_recipients(rcpt_to: list[str], report: Report) -> list[DsnRecipient]:
    """The recipients of a mail sent to `rcpt_to` that `report` says failed, each as the
    mail addressed it."""
    sent_to = [a.lower() for a in rcpt_to]
    if not report.bounce:
        return []
    if not report.standard:  # not a DSN: the VERP token alone says which mail bounced
        if _DELAY_WORDS.search(report.subject):
            return []
        status = m.group(1) if (m := _STATUS.search(report.subject)) else "5.0.0"
        return [DsnRecipient(a, "", "failed", status, report.subject[:2000]) for a in sent_to]
    out: dict[str, DsnRecipient] = {}
    for r in report.recipients:
        if not r.failed:
            continue
        address = next((a for a in (r.address, r.original) if a in sent_to), None)
        if address is None:
            if len(sent_to) != 1:  # whoever wrote the DSN chose the address: not ours
                continue
            address = sent_to[0]  # forwarded or aliased on the way
        found = DsnRecipient(address, r.original, r.action, r.status, r.diagnostic)
        out.setdefault(address, found)  # one DSN may name a recipient twice (forwarded)
    return list(out.values())


def _nothing_failed(report: Report) -> str:
    """What a report that records no failure was (the inbound row's detail says it)."""
    if report.standard:
        return "a report of no failed recipient of this mail (a delay or success notice)"
    if report.auto_reply:
        return f"an auto-reply ({report.auto_reply}), no bounce"
    if not report.bounce:
        return "no bounce (neither from a mail server nor titled as a bounce)"
    return "a delay warning"


class Bounces:
    """Receives bounces to the VERP addresses and records failed deliveries."""

    def __init__(
        self,
        clock: Clock,
        bounce_address: str,
        composer: MailComposer,
        mailer: ThreadedMailer,
        journal: Journal,
        outbox: Outbox,
        status_url: Callable[[str], str],
    ) -> None:
        self.clock = clock
        self.bounce_address = bounce_address
        self.composer = composer
        self.mailer = mailer
        self.journal = journal
        self.outbox = outbox
        self.status_url = status_url

    def accepts(self, address: str) -> bool:
        """The bounce address or one of its VERP forms (a recipient intake takes)."""
        return bool(self.bounce_address) and verp_token(self.bounce_address, address) is not None

    def is_bounce(self, rcpt_tos: list[str]) -> bool:
        return any(self.accepts(r) for r in rcpt_tos)

    async def receive(self, raw: bytes, rcpt_tos: list[str], inbound_id: int) -> BounceOutcome:
        """Record what a bounce reports; a bounce of no known mail records nothing."""
        tokens = [t for r in rcpt_tos if (t := verp_token(self.bounce_address, r))]
        row = await OutboxMessage.get_or_none(bounce_token=tokens[0]) if tokens else None
        if row is None:
            log.warning("bounce for no known mail", extra={"inbound_id": inbound_id})
            return BounceOutcome(None, (), "no mail of docflow has this bounce address")
        report = parse_report(raw)
        found = failed_recipients(row.rcpt_to, report)
        if not found:
            detail = f"{_nothing_failed(report)} for outbox {row.id}: nothing failed"
            return BounceOutcome(row.document_code, (), detail[:4000])
        recorded = [
            r.address
            for r in found
            if await self.record(row, r.address, r.status, r.diagnostic, "dsn", inbound_id)
        ]
        detail = "; ".join(f"{r.address} {r.status} {r.diagnostic}".strip() for r in found)
        return BounceOutcome(row.document_code, tuple(recorded), detail[:4000])

    async def record_refusal(
        self, row: OutboxMessage, recipient: str, status: str, diagnostic: str
    ) -> None:
        """The relay refused a recipient for good: the same as a bounce (`Outbox.on_refused`)."""
        await self.record(row, recipient.lower(), status, diagnostic, "relay", None)

    async def record(
        self,
        row: OutboxMessage,
        recipient: str,
        status: str,
        diagnostic: str,
        source: str,
        inbound_id: int | None,
    ) -> bool:
        """Record one failed delivery, once; False when it was recorded before."""
        if await DeliveryFailure.exists(outbox_id=row.id, recipient=recipient):
            return False
        try:
            async with in_transaction() as conn:
                failure = await DeliveryFailure.create(
                    outbox=row,
                    recipient=recipient,
                    document_code=row.document_code,
                    kind=row.kind,
                    at=self.clock.now(),
                    status=status or "5.0.0",
                    diagnostic=diagnostic,
                    source=source,
                    inbound_id=inbound_id,
                    using_db=conn,
                )
                await self._mark_row(conn, row)
                if row.document_code:
                    await self._on_document(conn, row, failure)
        except IntegrityError:  # the same DSN processed at the same time elsewhere
            return False
        self.outbox.poke()
        log.warning(
            "delivery failed",
            extra={
                "code": row.document_code,
                "outbox_id": row.id,
                "kind": row.kind,
                "to": recipient,
                "status": failure.status,
                "source": source,
            },
        )
        return True

    async def _mark_row(self, conn: BaseDBAsyncClient, row: OutboxMessage) -> None:
        """A sent mail none of whose recipients got it is `bounced`."""
        rows = await DeliveryFailure.filter(outbox_id=row.id).using_db(conn).values("recipient")
        failed = {str(r["recipient"]) for r in rows}
        if all(a.lower() in failed for a in row.rcpt_to):
            await (
                OutboxMessage.filter(id=row.id, state=OutboxState.SENT)
                .using_db(conn)
                .update(state=OutboxState.BOUNCED)
            )

    async def _on_document(
        self, conn: BaseDBAsyncClient, row: OutboxMessage, failure: DeliveryFailure
    ) -> None:
        """Audit the failure; tell the author when an approver's mail bounced (once per
        approver and document: reminders to a dead address would bounce every day)."""
        # locked before `author_told` is read: two bounces of one approver's mails taken by
        # two workers at once would otherwise both find nobody told (PostgreSQL's READ
        # COMMITTED); SQLite has one writer at a time anyway
        doc = (
            await Document.filter(code=row.document_code)
            .select_for_update()
            .using_db(conn)
            .prefetch_related("author")
            .first()
        )
        if doc is None:
            return
        detail: dict[str, object] = {
            "to": failure.recipient,
            "kind": failure.kind,
            "status": failure.status,
            "diagnostic": failure.diagnostic,
            "outbox_id": row.id,
            "source": failure.source,
        }
        await self.journal.record(conn, doc, "system", "delivery_failed", "mail", detail=detail)
        if failure.kind not in TASK_KINDS or failure.recipient == doc.author.email.lower():
            return
        told = (
            await DeliveryFailure.filter(
                document_code=doc.code, recipient=failure.recipient, author_told=True
            )
            .using_db(conn)
            .exists()
        )
        if told:
            return
        approver = await User.filter(email=failure.recipient).using_db(conn).first()
        msg = self.composer.bounced(
            Recipient.of(doc.author),
            await self.mailer.ref(conn, doc),
            recipient=Recipient(failure.recipient, approver.name if approver else ""),
            status=failure.status,
            diagnostic=failure.diagnostic,
            status_url=self.status_url(doc.code),
        )
        await self.mailer.send(conn, doc, msg, "bounce_notice")
        failure.author_told = True
        await failure.save(using_db=conn, update_fields=["author_told"])

    async def failures(self, code: str) -> list[dict[str, Any]]:
        """A document's failed deliveries, oldest first (the API's `deliveries_failed`)."""
        rows = await DeliveryFailure.filter(document_code=code).order_by("id")
        return [
            {
                "to": f.recipient,
                "kind": f.kind,
                "at": f.at.isoformat(),
                "status": f.status,
                "diagnostic": f.diagnostic,
                "source": f.source,
            }
            for f in rows
        ]
