"""Intake: a received message is stored durably, then becomes a version or a quarantine entry.

`receive` is all that happens before the SMTP 250: the raw bytes go to the
spool (fsynced) and a pending row records them. `process` runs afterwards, on
a worker; if docflow dies in between, pending rows are processed on start-up.
A message whose processing keeps failing is quarantined after a bounded number
of tries so that it never blocks the rest.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from docflow.clock import Clock
from docflow.config import IntakeSettings
from docflow.db.outage import DatabaseWatch, unavailable
from docflow.errors import InvalidRequestError
from docflow.intake.analysis import Analyser
from docflow.intake.drafts import Drafts, Outcome
from docflow.intake.models import InboundMessage, InboundState
from docflow.intake.replies import Replies
from docflow.intake.routing import IntakeAddresses
from docflow.intake.spool import Spool, SpoolEntry, SpoolWriter
from docflow.notify.bounces import Bounces

# in the detail of a quarantined IMAP message of which only a note was kept (intake/imap.py)
NOT_DOWNLOADED = "not downloaded"
log = logging.getLogger("docflow.intake")
ARRIVING_SECONDS = 1.0  # mail stored this recently is "arriving"
LEASE = timedelta(seconds=30)
# Written with the inbound row, in its transaction (the IMAP adapter records the UID).
Recorder = Callable[[BaseDBAsyncClient, int], Awaitable[None]]


@dataclass(frozen=True)
class _Envelope:
    """How a message came: when, from and to whom (SMTP envelope), by which way."""

    received_at: datetime
    mail_from: str
    rcpt_tos: list[str]
    source: str


class IntakeService:
    """Turns received mail into documents and versions, or quarantine entries."""

    def __init__(
        self,
        config: IntakeSettings,
        clock: Clock,
        spool: Spool,
        analyser: Analyser,
        addresses: IntakeAddresses,
        drafts: Drafts,
        bounces: Bounces | None = None,
        database: DatabaseWatch | None = None,
        replies: Replies | None = None,
    ) -> None:
        self.config = config
        self.clock = clock
        self.spool = spool
        self.analyser = analyser
        self.addresses = addresses
        self.drafts = drafts
        self.bounces = bounces
        self.database = database or DatabaseWatch()
        self.replies = replies  # mail to a task's reply address (decisions by reply)
        self.queue: asyncio.Queue[int] = asyncio.Queue()
        # inbound id → the lease this process's worker holds on it (handed back after an outage)
        self._leases: dict[int, datetime] = {}
        # spooled messages whose row may or may not exist: the database went away while it
        # was written (the INSERT may have committed unseen); settled once it is back
        self._unsure: set[str] = set()
        self.last_arrival = float("-inf")  # time.monotonic() of the latest message stored

    # --- before the 250 ---------------------------------------------------------

    def accepts(self, address: str) -> bool:
        """A recipient the listener takes: an intake address, or the bounce address."""
        return self.addresses.is_intake_address(address) or (
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
        return await self._insert_or_remove(
            entry, _Envelope(now, mail_from, rcpt_tos, source), queue, also
        )

    async def receive_written(
        self, writer: SpoolWriter, mail_from: str, rcpt_tos: list[str], source: str
    ) -> int:
        """The same for a message streamed to the spool while it arrived."""
        now = self.clock.now()
        entry = await asyncio.to_thread(writer.finish_sync, now)
        return await self._insert_or_remove(
            entry, _Envelope(now, mail_from, rcpt_tos, source), True, None
        )

    def arriving(self) -> bool:
        """Whether mail is arriving: a message stored in the last `ARRIVING_SECONDS`. OCR
        pauses meanwhile (`documents.ocr.Ocr.arriving`, wired in services.py), so that
        acknowledging mail never competes with it for the CPU."""
        return time.monotonic() - self.last_arrival < ARRIVING_SECONDS

    async def _insert_or_remove(
        self, entry: SpoolEntry, envelope: _Envelope, queue: bool, also: Recorder | None
    ) -> int:
        """Record the spooled message; if that fails, it was never received: remove it.

        When the database went away during the INSERT, whether the row was written is
        unknown: the file stays until the database can say (`settle_unsure`), so a row
        that did commit never points at a removed file. The sender got no 250 either way
        and sends again; a second copy of a stored message is a duplicate.
        """
        self.last_arrival = time.monotonic()
        try:
            return await self._insert(entry, envelope, queue, also)
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

    async def _insert(
        self, entry: SpoolEntry, envelope: _Envelope, queue: bool, also: Recorder | None
    ) -> int:
        """The pending row of a spooled message (with the caller's own, in one transaction)."""
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
                token = self.replies.token_of(row.rcpt_tos) if self.replies else None
                if self.replies is not None and token is not None:
                    outcome = await self.replies.handle(row, head, token)  # never a draft
                else:
                    outcome = await self.drafts.handle(row, head)
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
