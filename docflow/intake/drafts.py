"""Drafts: a mail from a sender who may send becomes a new document or a new version of
one (with its receipt), a withdrawal, a duplicate, or a quarantine entry with a reply
saying what was wrong.

What happens to a stored version next is the workflow's: intake reaches it only
through `DraftFlow`, which the composition root fills with the workflow's stages.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from docflow.clock import Clock
from docflow.documents.models import Document, Version
from docflow.documents.service import OPEN_STATUSES, DocumentService, NewVersion
from docflow.errors import Refused
from docflow.intake.analysis import Analyser
from docflow.intake.models import InboundMessage, InboundState
from docflow.intake.parse import ParsedMail, clean_title, tracking_codes
from docflow.intake.routing import IntakeAddresses
from docflow.intake.senders import RATE_LIMITED, Senders
from docflow.intake.spool import Spool
from docflow.notify.mails import MailComposer
from docflow.notify.message import DocumentRef, Recipient
from docflow.notify.outbox import Outbox
from docflow.notify.threaded import ThreadedMailer
from docflow.users.models import User

log = logging.getLogger("docflow.intake")
WITHDRAW_WORDS = ("WITHDRAW", "RÚT", "RÚT VĂN BẢN", "RUT", "RUT VAN BAN")
# no reply for these: the sender is unknown, a program, possibly forged, or looping
SILENT_REASONS = ("unknown_sender", "auto_submitted", "unauthenticated_sender", "rate_limited")


def is_withdraw_command(subject: str) -> bool:
    """`[DF-2026-000042] WITHDRAW` (or `RÚT`, `RÚT VĂN BẢN`): the author takes it back."""
    return clean_title(subject).strip().upper() in WITHDRAW_WORDS


@dataclass(frozen=True)
class Outcome:
    """What became of one message."""

    state: str
    code: str | None = None
    version: int | None = None
    reason: str | None = None


class DraftFlow(Protocol):
    """What intake asks of the workflow (docflow.workflow.stages.Stages)."""

    def pick(self, plus_tag: str | None, subject: str) -> tuple[str, str]:
        """The key of the workflow a mail asks for, and its subject without the tag."""
        ...

    def workflow_name(self, doc: Document, language: str) -> str: ...

    def stage_name(self, doc: Document, language: str) -> str | None: ...

    async def on_new_version(
        self, conn: BaseDBAsyncClient, doc: Document, version: int, source: str = "mail"
    ) -> None: ...

    async def withdraw(
        self, conn: BaseDBAsyncClient, doc: Document, actor: str, source: str = "mail"
    ) -> None: ...


class Drafts:
    """Turns a mail whose headers have been read into its outcome."""

    def __init__(
        self,
        clock: Clock,
        spool: Spool,
        analyser: Analyser,
        addresses: IntakeAddresses,
        senders: Senders,
        documents: DocumentService,
        composer: MailComposer,
        mailer: ThreadedMailer,
        outbox: Outbox,
        flow: DraftFlow,
        status_url: Callable[[str], str],
    ) -> None:
        self.clock = clock
        self.spool = spool
        self.analyser = analyser
        self.addresses = addresses
        self.senders = senders
        self.documents = documents
        self.composer = composer
        self.mailer = mailer
        self.outbox = outbox
        self.flow = flow
        self.status_url = status_url

    async def handle(self, row: InboundMessage, mail: ParsedMail) -> Outcome:
        """Decide on the headers first; only mail that may become a version is read whole."""
        row.message_id = mail.message_id[:998]
        row.from_addr = (mail.from_addr or row.mail_from.lower())[:320]
        row.subject = mail.subject[:1000]
        author: User | None = None
        try:
            author = await self.senders.author(row, mail)
            # past the sender's limit: taken all the same, only never answered (a loop ends)
            answer = await self.senders.may_answer(row, author)
            return await self._accept(row, mail, author, answer)
        except Refused as refusal:
            return await self._quarantine(row, mail, refusal, author)

    async def _accept(
        self, row: InboundMessage, head: ParsedMail, author: User, answer: bool = True
    ) -> Outcome:
        # the same sender and Message-ID is the same message (without one: the same bytes)
        key = f"{author.email}\n{head.message_id}" if head.message_id else f"sha256:{row.sha256}"
        source_key = hashlib.sha256(key.encode()).hexdigest()
        existing = await self.documents.version_exists(source_key)
        if existing is not None:
            return await self._duplicate(row, existing.document.code, existing.number)
        doc = await self._thread_target(head)
        if doc is not None:
            await doc.fetch_related("author")
            if doc.author.email != author.email:
                raise Refused("not_author", doc.code)
            if doc.status not in OPEN_STATUSES:
                raise Refused("document_closed", doc.code)
            if is_withdraw_command(head.subject):
                return await self._withdraw(row, doc, author)
        # a mail without a file may be a draft typed in its body: only as a new document
        # (a reply in a document's thread without a file is not a new version)
        analysis = await self.analyser.run(self.spool.path_of(row.spool_name), doc is None)
        if analysis.refusal:
            raise Refused(*analysis.refusal)
        mail, files = analysis.mail, list(analysis.files)
        new = NewVersion(
            message_id=mail.message_id,
            source_key=source_key,
            inbound_id=row.id,
            subject=mail.subject,
            body_text=mail.body_text,
            files=files,
        )
        workflow, subject = self.flow.pick(self.addresses.plus_tag_of(row.rcpt_tos), mail.subject)
        try:
            async with in_transaction() as conn:
                doc, version = await self.store(
                    conn, doc, author, workflow, subject, new, list(mail.references), answer=answer
                )
                row.state = InboundState.ACCEPTED
                row.document_code = doc.code
                row.version_number = version.number
                row.processed_at = self.clock.now()
                await row.save(using_db=conn)
        except IntegrityError:
            # a concurrent worker stored the same message first
            again = await self.documents.version_exists(source_key)
            if again is None:
                raise
            return await self._duplicate(row, again.document.code, again.number)
        self.outbox.poke()
        log.info(
            "version stored",
            extra={
                "code": doc.code,
                "version": version.number,
                "inbound_id": row.id,
                "files": len(files),
                "author": author.email,
                "answered": answer,
            },
        )
        return Outcome(InboundState.ACCEPTED, doc.code, version.number, row.reason)

    async def store(
        self,
        conn: BaseDBAsyncClient,
        doc: Document | None,
        author: User,
        workflow: str,
        subject: str,
        new: NewVersion,
        references: list[str],
        source: str = "mail",
        answer: bool = True,
    ) -> tuple[Document, Version]:
        """A new document, or a new version of `doc` (checked already: its author's, still
        open): stored, its stage entered or restarted, its receipt queued (unless `answer`
        is False: its sender is past the rate limit). A mailed draft and a browser upload
        (intake/uploads.py) both come through here."""
        if doc is None:
            title = clean_title(subject) or new.files[0].name or "(không có tiêu đề)"
            doc, version = await self.documents.create(conn, author, title[:1000], workflow, new)
        else:
            version = await self.documents.add_version(conn, doc, new)
        await self.flow.on_new_version(conn, doc, version.number, source)
        if answer:
            await self._receipt(conn, doc, version.number, author, new, references)
        return doc, version

    async def _withdraw(self, row: InboundMessage, doc: Document, author: User) -> Outcome:
        async with in_transaction() as conn:
            await self.flow.withdraw(conn, doc, author.email)
            row.state = InboundState.ACCEPTED
            row.document_code = doc.code
            row.processed_at = self.clock.now()
            await row.save(using_db=conn)
        self.outbox.poke()
        log.info("document withdrawn", extra={"code": doc.code, "inbound_id": row.id})
        return Outcome(InboundState.ACCEPTED, doc.code)

    async def _receipt(
        self,
        conn: BaseDBAsyncClient,
        doc: Document,
        version: int,
        author: User,
        new: NewVersion,
        references: list[str],
    ) -> None:
        """The answer to the draft: which document and version it became, where it stands."""
        msg = self.composer.receipt(
            Recipient.of(author),
            DocumentRef(doc.code, doc.title, version),
            workflow=self.flow.workflow_name(doc, author.language),
            status=doc.status,
            stage=self.flow.stage_name(doc, author.language),
            files=[
                (f.name, "main" if i == 0 else "annex", f.size) for i, f in enumerate(new.files)
            ],
            status_url=self.status_url(doc.code),
            in_reply_to=new.message_id,
            references=references,
        )
        await self.mailer.send(conn, doc, msg, "receipt")

    async def _thread_target(self, mail: ParsedMail) -> Document | None:
        """The document this mail continues: tracking code in the subject, else the thread."""
        for code in tracking_codes(mail.subject):
            doc = await self.documents.by_code(code)
            if doc is None:
                raise Refused("unknown_document", code)
            return doc
        return await self.documents.by_message_ids([*mail.in_reply_to, *mail.references])

    async def _duplicate(self, row: InboundMessage, code: str, number: int) -> Outcome:
        row.state = InboundState.DUPLICATE
        row.document_code = code
        row.version_number = number
        row.processed_at = self.clock.now()
        await row.save()
        log.info(
            "duplicate message ignored",
            extra={
                "code": code,
                "version": number,
                "inbound_id": row.id,
                "message_id": row.message_id,
            },
        )
        return Outcome(InboundState.DUPLICATE, code, number)

    async def _quarantine(
        self, row: InboundMessage, mail: ParsedMail, refusal: Refused, author: User | None
    ) -> Outcome:
        code = (
            refusal.detail
            if refusal.reason in ("not_author", "document_closed", "unknown_document")
            else None
        )
        silenced = row.reason == RATE_LIMITED  # past the limit (Senders.may_answer)
        async with in_transaction() as conn:
            row.state = InboundState.QUARANTINED
            if silenced:  # the reason stays: it is why no one was told what was wrong
                row.detail = f"{refusal.reason} ({refusal.detail}); {row.detail}"
            else:
                row.reason, row.detail = refusal.reason, refusal.detail
            row.processed_at = self.clock.now()
            await row.save(using_db=conn)
            if author is not None and not silenced and refusal.reason not in SILENT_REASONS:
                reply = self.composer.refused(
                    Recipient.of(author),
                    subject=mail.subject,
                    reason=refusal.reason,
                    detail=refusal.detail,
                    inbound_id=row.id,
                    code=code if refusal.reason != "unknown_document" else None,
                    in_reply_to=mail.message_id,
                    references=list(mail.references),
                )
                await self.outbox.enqueue(conn, reply, "refused", code)
        self.outbox.poke()
        log.info(
            "message quarantined",
            extra={
                "inbound_id": row.id,
                "reason": row.reason,
                "detail": row.detail,
                "from": row.from_addr,
                "code": code,
            },
        )
        return Outcome(InboundState.QUARANTINED, reason=row.reason)
