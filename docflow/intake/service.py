"""Intake: a received message is stored durably, then becomes a version or a quarantine entry.

`receive` is all that happens before the SMTP 250: the raw bytes go to the
spool (fsynced) and a pending row records them. `process` runs afterwards, on
a worker; if docflow dies in between, pending rows are processed on start-up.
A message whose processing keeps failing is quarantined after a bounded number
of tries so that it never blocks the rest.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from docflow.clock import Clock
from docflow.config import IntakeSettings
from docflow.db.outage import DatabaseWatch, unavailable
from docflow.documents.models import Document
from docflow.documents.service import OPEN_STATUSES, DocumentService, NewVersion
from docflow.errors import InvalidRequestError, Refused
from docflow.intake import authres
from docflow.intake.analysis import Analyser
from docflow.intake.models import InboundMessage, InboundState
from docflow.intake.parse import ParsedMail, clean_title, tracking_codes
from docflow.intake.spool import Spool, SpoolEntry, SpoolWriter
from docflow.notify.bounces import Bounces
from docflow.notify.mails import MailComposer
from docflow.notify.outbox import Outbox
from docflow.users.models import User
from docflow.users.service import UserService
from docflow.workflow.definitions import WorkflowCatalog
from docflow.workflow.engine import WorkflowEngine

# in the detail of a quarantined IMAP message of which only a note was kept (intake/imap.py)
NOT_DOWNLOADED = "not downloaded"
log = logging.getLogger("docflow.intake")
WITHDRAW_WORDS = ("WITHDRAW", "RÚT", "RÚT VĂN BẢN", "RUT", "RUT VAN BAN")


def is_withdraw_command(subject: str) -> bool:
    """`[DF-2026-000042] WITHDRAW` (or `RÚT`, `RÚT VĂN BẢN`): the author takes it back."""
    return clean_title(subject).strip().upper() in WITHDRAW_WORDS


LEASE = timedelta(seconds=30)
# no reply for these: the sender is unknown, a program, possibly forged, or looping
SILENT_REASONS = ("unknown_sender", "auto_submitted", "unauthenticated_sender", "rate_limited")
# sources whose envelope sender is known (an empty one is a bounce: RFC 5321 section 4.5.5)
ENVELOPE_SOURCES = ("smtp", "lmtp")
# Written with the inbound row, in its transaction (the IMAP adapter records the UID).
Recorder = Callable[[BaseDBAsyncClient, int], Awaitable[None]]


@dataclass(frozen=True)
class _Envelope:
    """How a message came: when, from and to whom (SMTP envelope), by which way."""

    received_at: datetime
    mail_from: str
    rcpt_tos: list[str]
    source: str


@dataclass(frozen=True)
class Outcome:
    """What became of one message."""

    state: str
    code: str | None = None
    version: int | None = None
    reason: str | None = None


class IntakeService:
    """Turns received mail into documents and versions, or quarantine entries."""

    def __init__(
        self,
        config: IntakeSettings,
        clock: Clock,
        spool: Spool,
        analyser: Analyser,
        documents: DocumentService,
        users: UserService,
        outbox: Outbox,
        composer: MailComposer,
        workflows: WorkflowCatalog,
        engine: WorkflowEngine,
        status_url: Callable[[str], str],
        bounces: Bounces | None = None,
        database: DatabaseWatch | None = None,
    ) -> None:
        self.config = config
        self.clock = clock
        self.spool = spool
        self.analyser = analyser
        self.documents = documents
        self.users = users
        self.outbox = outbox
        self.composer = composer
        self.workflows = workflows
        self.engine = engine
        self.status_url = status_url
        self.bounces = bounces
        self.database = database or DatabaseWatch()
        self.queue: asyncio.Queue[int] = asyncio.Queue()
        # inbound id → the lease this process's worker holds on it (handed back after an outage)
        self._leases: dict[int, datetime] = {}
        # spooled messages whose row may or may not exist: the database went away while it
        # was written (the INSERT may have committed unseen); settled once it is back
        self._unsure: set[str] = set()
        # dkimpy's TXT lookup for `verify_dkim`; None: the system's resolver
        self.dkim_dns: authres.DnsTxt | None = None
        self._locals = {a.partition("@")[0]: a.partition("@")[2] for a in config.addresses}

    # --- before the 250 ---------------------------------------------------------

    def plus_tag(self, address: str) -> str | None:
        """`vanban+ke-hoach@…` → `ke-hoach`; None when the address has no tag."""
        local, _, domain = address.strip().lower().partition("@")
        base, plus, tag = local.partition("+")
        return tag if plus and self._locals.get(base) == domain else None

    def is_intake_address(self, address: str) -> bool:
        local, _, domain = address.strip().lower().partition("@")
        return self._locals.get(local.partition("+")[0]) == domain

    def accepts(self, address: str) -> bool:
        """A recipient the listener takes: an intake address, or the bounce address."""
        return self.is_intake_address(address) or (
            self.bounces is not None and self.bounces.accepts(address)
        )

    async def receive(
        self,
        raw: bytes,
        mail_from: str,
        rcpt_tos: list[str],
        source: str,
        *,
        queue: bool = True,
        also: Recorder | None = None,
    ) -> int:
        """Store the message durably and record it; after this returns it cannot be lost.

        `queue=False`: the caller processes it itself (`docflow ingest`). `also` writes
        the caller's own row in the same transaction as the inbound row; if it fails,
        nothing was received.
        """
        now = self.clock.now()
        entry = await self.spool.write(raw, now)
        return await self._record_or_remove(
            entry, _Envelope(now, mail_from, rcpt_tos, source), queue, also
        )

    async def receive_written(
        self, writer: SpoolWriter, mail_from: str, rcpt_tos: list[str], source: str
    ) -> int:
        """The same for a message streamed to the spool while it arrived."""
        now = self.clock.now()
        entry = await asyncio.to_thread(writer.finish_sync, now)
        return await self._record_or_remove(
            entry, _Envelope(now, mail_from, rcpt_tos, source), True, None
        )

    async def _record_or_remove(
        self, entry: SpoolEntry, envelope: _Envelope, queue: bool, also: Recorder | None
    ) -> int:
        """Record the spooled message; if that fails, it was never received: remove it.

        When the database went away during the INSERT, whether the row was written is
        unknown: the file stays until the database can say (`settle_unsure`), so a row
        that did commit never points at a removed file. The sender got no 250 either way
        and sends again; a second copy of a stored message is a duplicate.
        """
        try:
            return await self._record(entry, envelope, queue, also)
        except Exception as e:
            if unavailable(e):
                self.database.failed(e, "intake.receive")
                self._unsure.add(entry.name)
            else:
                await asyncio.to_thread(self.spool.remove, entry.name)
            raise
        except BaseException:  # cancelled (the client went away): the INSERT may be done
            self._unsure.add(entry.name)
            raise

    async def settle_unsure(self) -> None:
        """Remove the spool files of messages that turned out never to have been recorded."""
        for name in sorted(self._unsure):
            if not await InboundMessage.filter(spool_name=name).exists():
                await asyncio.to_thread(self.spool.remove, name)
            self._unsure.discard(name)

    async def _record(
        self, entry: SpoolEntry, envelope: _Envelope, queue: bool, also: Recorder | None
    ) -> int:
        fields: dict[str, Any] = {
            "spool_name": entry.name,
            "sha256": entry.sha256,
            "size": entry.size,
            "source": envelope.source,
            "mail_from": envelope.mail_from[:998],
            "rcpt_tos": envelope.rcpt_tos,
            "received_at": envelope.received_at,
        }
        if also is None:  # one INSERT: the listener's path, no transaction round trips
            row = await InboundMessage.create(**fields)
        else:
            async with in_transaction() as conn:
                row = await InboundMessage.create(**fields, using_db=conn)
                await also(conn, row.id)
        if queue:
            self.queue.put_nowait(row.id)
        return row.id

    # --- after the 250 ----------------------------------------------------------

    async def _claim(self, inbound_id: int) -> bool:
        now = self.clock.now()
        lease = now + LEASE
        n = await InboundMessage.filter(
            Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now),
            id=inbound_id,
            state=InboundState.PENDING,
        ).update(next_attempt_at=lease)
        if n == 1:
            self._leases[inbound_id] = lease
        return n == 1

    async def process(self, inbound_id: int) -> Outcome | None:
        """Process one pending message; None when another worker has it or it is done.

        When the database goes away meanwhile, the error is raised as it is (it is not
        the message's fault: no attempt is counted) and the lease stays in `_leases`
        for `hand_back`.
        """
        if not await self._claim(inbound_id):
            return None
        row = await InboundMessage.get(id=inbound_id)
        try:
            if self.bounces is not None and self.bounces.is_bounce(row.rcpt_tos):
                outcome = await self._bounce(row, self.bounces)  # before anything else
            else:
                head = await self.analyser.headers(self.spool.path_of(row.spool_name))
                outcome = await self._handle(row, head)
        except Exception as e:
            if unavailable(e):
                raise
            outcome = await self._failed(row, e)
        self._leases.pop(inbound_id, None)
        return outcome

    async def hand_back(self, inbound_id: int, lease: datetime) -> None:
        """Give up a lease on a message (after an outage, or at shutdown), so that it is due
        again at once rather than when the lease runs out. Only that lease: if it ran out
        meanwhile and another worker claimed the message, its claim stays."""
        await InboundMessage.filter(
            id=inbound_id, state=InboundState.PENDING, next_attempt_at=lease
        ).update(next_attempt_at=None)
        if self._leases.get(inbound_id) == lease:
            del self._leases[inbound_id]

    async def _failed(self, row: InboundMessage, error: Exception) -> Outcome:
        row.attempts += 1
        row.last_error = f"{type(error).__name__}: {error}"[:4000]
        log.exception("processing failed", extra={"inbound_id": row.id, "attempt": row.attempts})
        if row.attempts >= self.config.max_attempts:
            row.state = InboundState.QUARANTINED
            row.reason = "processing_failed"
            row.detail = row.last_error
            row.processed_at = self.clock.now()
        else:
            delay = self.config.retry_seconds * 2 ** (row.attempts - 1)
            row.next_attempt_at = self.clock.now() + timedelta(seconds=delay)
        await row.save()
        return Outcome(row.state, reason=row.reason)

    async def _bounce(self, row: InboundMessage, bounces: Bounces) -> Outcome:
        """A bounce of docflow's own mail: recorded, never a document, never answered."""
        raw = await asyncio.to_thread(self._read_bounce, row.spool_name)
        outcome = await bounces.receive(raw, list(row.rcpt_tos), row.id)
        head = await self.analyser.headers(self.spool.path_of(row.spool_name))
        row.message_id = head.message_id[:998]
        row.from_addr = (head.from_addr or row.mail_from.lower())[:320]
        row.subject = head.subject[:1000]
        row.state = InboundState.BOUNCE
        row.reason = "delivery_failed" if outcome.failed else "bounce"
        row.detail = outcome.detail
        row.document_code = outcome.code
        row.processed_at = self.clock.now()
        await row.save()
        log.info(
            "bounce received",
            extra={"inbound_id": row.id, "code": outcome.code, "failed": list(outcome.failed)},
        )
        return Outcome(InboundState.BOUNCE, outcome.code, reason=row.reason)

    def _read_bounce(self, spool_name: str, limit: int = 4 * 1024 * 1024) -> bytes:
        """A DSN's report comes before the returned message: the start of a large one will do."""
        with self.spool.path_of(spool_name).open("rb") as f:
            return f.read(limit)

    async def _handle(self, row: InboundMessage, mail: ParsedMail) -> Outcome:
        """Decide on the headers first; only mail that may become a version is read whole."""
        row.message_id = mail.message_id[:998]
        row.from_addr = (mail.from_addr or row.mail_from.lower())[:320]
        row.subject = mail.subject[:1000]
        author: User | None = None
        try:
            automatic = mail.automatic or self._null_sender(row)
            if automatic:
                raise Refused("auto_submitted", automatic)
            if self.config.require_authenticated_sender:
                # before the sender lookup, which makes users of allowed domains
                verdict = await self._authenticate(row, mail)
                if not verdict.passed:
                    raise Refused("unauthenticated_sender", verdict.detail)
            author = await self.users.sender(row.from_addr, mail.from_name)
            if author is None:
                raise Refused("unknown_sender", f"{row.from_addr or '(no sender)'} may not send")
            if not await self._within_rate_limit(row, author):
                return Outcome(InboundState.QUARANTINED, reason="rate_limited")
            return await self._accept(row, mail, author)
        except Refused as refusal:
            return await self._quarantine(row, mail, refusal, author)

    @staticmethod
    def _null_sender(row: InboundMessage) -> str:
        """A bounce: the envelope sender is empty (`MAIL FROM:<>`)."""
        if row.source in ENVELOPE_SOURCES and row.mail_from.strip() in ("", "<>"):
            return "MAIL FROM:<>"
        return ""

    async def _authenticate(self, row: InboundMessage, mail: ParsedMail) -> authres.Verdict:
        """Is the From: vouched for? The trusted MTA's header decides; else DKIM, if enabled."""
        if mail.ambiguous_from:  # which From a signature or the MTA vouched for is unknown
            detail = f"{mail.ambiguous_from}: the author must be one mailbox in one From header"
            return authres.Verdict(False, detail, False)
        verdict = authres.judge(row.from_addr, mail.trace, self.config.trusted_authserv_ids)
        if verdict.trusted_header or not self.config.verify_dkim:
            return verdict
        raw = await asyncio.to_thread(self.spool.path_of(row.spool_name).read_bytes)
        # blocking DNS and hashing: in a thread, with the lookup the service was given
        return await asyncio.to_thread(authres.verify_dkim, raw, row.from_addr, self.dkim_dns)

    async def _within_rate_limit(self, row: InboundMessage, author: User) -> bool:
        """Count the message against its sender; over the limit it is quarantined here.

        Runaway loops (an auto-responder nobody marked as one, answering every receipt)
        are stopped by not answering: the message is quarantined silently. The count is
        of rows in the database, under a lock on the sender's user row, so it holds
        with any number of workers and processes; the limit is logged once a window.
        `docflow ingest` (an administrator's files) and a retried or released message
        that was counted already are not counted again.
        """
        limit = self.config.rate_limit
        if limit == 0 or row.source == "ingest" or row.counted_at is not None:
            return True
        now = self.clock.now()
        since = now - timedelta(seconds=self.config.rate_window_seconds)
        async with in_transaction() as conn:
            # one sender's messages pass this gate one at a time (SQLite: one writer anyway)
            await User.filter(id=author.id).select_for_update().using_db(conn).first()
            recent = InboundMessage.filter(from_addr=row.from_addr).using_db(conn)
            if await recent.filter(counted_at__gte=since).count() < limit:
                await (
                    InboundMessage.filter(id=row.id)
                    .using_db(conn)
                    .update(counted_at=now, from_addr=row.from_addr)
                )
                row.counted_at = now
                return True
            first = not await recent.filter(reason="rate_limited", processed_at__gte=since).exists()
            row.state = InboundState.QUARANTINED
            row.reason = "rate_limited"
            row.detail = f"over {limit} messages in {self.config.rate_window_seconds} s"
            row.processed_at = now
            await row.save(using_db=conn)
        if first:  # not one line per message: a loop would flood the log too
            log.warning(
                "sender over the rate limit: further messages quarantined unanswered",
                extra={
                    "from": row.from_addr,
                    "limit": limit,
                    "window_seconds": self.config.rate_window_seconds,
                    "inbound_id": row.id,
                    "reason": "rate_limited",
                },
            )
        return False

    async def _accept(self, row: InboundMessage, head: ParsedMail, author: User) -> Outcome:
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
        analysis = await self.analyser.run(self.spool.path_of(row.spool_name))
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
        workflow, subject = self.workflows.pick(self._plus_tag_of(row), mail.subject)
        try:
            async with in_transaction() as conn:
                if doc is None:
                    title = clean_title(subject) or files[0].name or "(không có tiêu đề)"
                    doc, version = await self.documents.create(
                        conn, author, title[:1000], workflow.key, new
                    )
                else:
                    version = await self.documents.add_version(conn, doc, new)
                row.state = InboundState.ACCEPTED
                row.document_code = doc.code
                row.version_number = version.number
                row.processed_at = self.clock.now()
                await row.save(using_db=conn)
                await self.engine.on_new_version(conn, doc, version.number)
                receipt = self.composer.receipt(  # says where the version now stands
                    to=author.email,
                    name=author.name,
                    language=author.language,
                    code=doc.code,
                    title=doc.title,
                    version=version.number,
                    workflow=self.workflows.by_key.get(doc.workflow, workflow).name(
                        author.language
                    ),
                    status=doc.status,
                    stage=self.engine.stage_name(doc, author.language),
                    files=[
                        (f.name, "main" if i == 0 else "annex", f.size) for i, f in enumerate(files)
                    ],
                    status_url=self.status_url(doc.code),
                    in_reply_to=mail.message_id,
                    references=list(mail.references),
                )
                await self.outbox.enqueue(conn, receipt, "receipt", doc.code)
                await self.documents.remember_message(
                    conn, doc, str(receipt["Message-ID"]).strip("<>"), "out"
                )
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
            },
        )
        return Outcome(InboundState.ACCEPTED, doc.code, version.number)

    async def _withdraw(self, row: InboundMessage, doc: Document, author: User) -> Outcome:
        async with in_transaction() as conn:
            await self.engine.withdraw(conn, doc, author.email)
            row.state = InboundState.ACCEPTED
            row.document_code = doc.code
            row.processed_at = self.clock.now()
            await row.save(using_db=conn)
        self.outbox.poke()
        log.info("document withdrawn", extra={"code": doc.code, "inbound_id": row.id})
        return Outcome(InboundState.ACCEPTED, doc.code)

    def _plus_tag_of(self, row: InboundMessage) -> str | None:
        for rcpt in row.rcpt_tos:
            tag = self.plus_tag(rcpt)
            if tag:
                return tag
        return None

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
        async with in_transaction() as conn:
            row.state = InboundState.QUARANTINED
            row.reason = refusal.reason
            row.detail = refusal.detail
            row.processed_at = self.clock.now()
            await row.save(using_db=conn)
            if author is not None and refusal.reason not in SILENT_REASONS:
                reply = self.composer.refused(
                    to=author.email,
                    name=author.name,
                    language=author.language,
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
                "reason": refusal.reason,
                "detail": refusal.detail,
                "from": row.from_addr,
                "code": code,
            },
        )
        return Outcome(InboundState.QUARANTINED, reason=refusal.reason)

    # --- workers ------------------------------------------------------------------

    async def due_ids(self) -> list[int]:
        now = self.clock.now()
        rows = (
            await InboundMessage.filter(
                Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now),
                state=InboundState.PENDING,
            )
            .order_by("id")
            .limit(1000)
            .values("id")
        )
        return [int(r["id"]) for r in rows]

    async def sweep(self) -> None:
        """Queue every pending message that is due (start-up recovery and retries)."""
        await self.settle_unsure()
        for inbound_id in await self.due_ids():
            self.queue.put_nowait(inbound_id)

    async def run_worker(self, stop: asyncio.Event | None = None) -> None:
        """Process queued messages until `stop` is set (the one in hand is finished)."""
        stop = stop or asyncio.Event()
        while not stop.is_set():
            inbound_id = await self._next(stop)
            if inbound_id is None:
                return
            try:
                await self.process(inbound_id)
            except Exception as e:
                # this worker's lease (the dict is the process's: read it before anyone waits)
                lease = self._leases.pop(inbound_id, None)
                if not unavailable(e):
                    log.exception("intake worker error", extra={"inbound_id": inbound_id})
                    continue
                self.database.failed(e, "intake.process")
                await self._after_outage(inbound_id, lease)

    async def _next(self, stop: asyncio.Event) -> int | None:
        """The next queued message, or None once `stop` is set."""
        if not self.queue.empty():
            return self.queue.get_nowait()
        getter = asyncio.ensure_future(self.queue.get())
        stopper = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({getter, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopper.cancel()
            if not getter.done():
                getter.cancel()
        if getter.done() and not getter.cancelled():
            return getter.result()  # taken, so processed even when stop came at once
        return None

    async def hand_back_all(self, within: float = 2.0) -> None:
        """At shutdown: every message a worker still held is due again at once (for another
        process, or this one's next start); best effort, the leases run out anyway."""
        held = dict(self._leases)
        if not held or not self.database.available:  # nothing to do, or nobody to tell
            return

        async def all_back() -> None:
            for inbound_id, lease in held.items():
                await self.hand_back(inbound_id, lease)

        try:
            await asyncio.wait_for(all_back(), within)
        except Exception as e:
            log.info(
                "messages left to their leases at shutdown",
                extra={"inbound_ids": sorted(held), "error": repr(e)[:200]},
            )

    async def _after_outage(self, inbound_id: int, lease: datetime | None) -> None:
        """Wait for the database, hand the message's lease back and queue it again."""
        while True:
            await self.database.wait_until_back()
            try:
                if lease is not None:
                    await self.hand_back(inbound_id, lease)
            except Exception as e:
                if unavailable(e):
                    self.database.failed(e, "intake.hand_back")
                    continue
                # the lease runs out by itself; the sweep queues the message then
                log.exception("handing a message back failed", extra={"inbound_id": inbound_id})
                return
            self.queue.put_nowait(inbound_id)
            return

    async def release(self, inbound_id: int) -> Outcome | None:
        """Run a quarantined message through again (e.g. after its sender became a user)."""
        row = await InboundMessage.get_or_none(id=inbound_id, state=InboundState.QUARANTINED)
        if row is None:
            return None
        if NOT_DOWNLOADED in (row.detail or ""):  # only a note was kept: nothing to run
            raise InvalidRequestError(
                f"Q-{inbound_id} was never downloaded ({row.detail}); ask for a smaller "
                "copy, or save it from the mailbox and run `docflow ingest` on the file"
            )
        # an administrator releasing a rate-limited message lets it past the limit
        counted = {"counted_at": self.clock.now()} if row.reason == "rate_limited" else {}
        n = await InboundMessage.filter(id=inbound_id, state=InboundState.QUARANTINED).update(
            state=InboundState.PENDING,
            attempts=0,
            next_attempt_at=None,
            reason=None,
            detail=None,
            **counted,
        )
        if n != 1:
            return None
        return await self.process(inbound_id)
