"""IMAP intake: drafts read from a mailbox, for offices whose workflow address is one.

A cycle selects the folder, reads UIDVALIDITY and asks the server for the UIDs not
yet marked processed. For each: a UID already recorded (docflow stopped between
storing and marking) is only marked; otherwise its size is asked, it is fetched
(BODY.PEEK[]) and handed to `IntakeService.receive`, which writes the spool file,
the inbound row and the (mailbox, UIDVALIDITY, UID) row in one transaction; only
then is it marked, moved to `processed_folder` or flagged. Every message is marked
once stored, with or without attachments, accepted or quarantined later: no cycle
reads it again. A message whose sender and Message-ID were already read from this
mailbox (the mailbox was rebuilt: new UIDVALIDITY) is marked without being stored again.

No message stops the others (the lowest unmarked UID comes first in every cycle). One
larger than `smtp.max_message_size` is not downloaded: a note with its header fields
goes to the quarantine (`too_large`) and it is marked. One whose storing fails is
logged and tried again next cycle; after MAX_TRIES failures in a row it is stored in
the quarantine as it is (`imap_failed`) and marked. (The count is kept in memory: a
restart only gives it a few more tries.) A failure because the database was away is
not the message's: it is not counted, the reader stops and starts again once the
database answers (`DatabaseWatch`), without the back-off of a failing server.

Several `serve` processes: the mailbox has a lease (`imap_lease.py`), claimed and renewed
by the scheduler's tick; only its holder connects. The tick also runs the polling
(APScheduler interval), or keeps an IDLE reader running when the server offers IDLE.
Every IMAP exchange has a timeout (`imap_client.py`); a reader that still shows no sign
of progress for `lease_seconds` (stuck on something else) is cancelled, its lease not
renewed on that tick, and a new one started after the back-off.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from dataclasses import dataclass
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import getaddresses, parseaddr

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError

from docflow.clock import Clock
from docflow.config import ImapSettings
from docflow.db.outage import unavailable
from docflow.intake import quarantine
from docflow.intake.imap_client import ImapBroken, ImapError, ImapSession
from docflow.intake.imap_lease import MailboxLease
from docflow.intake.models import ImapMessage
from docflow.intake.service import NOT_DOWNLOADED, IntakeService, Recorder

log = logging.getLogger("docflow.imap")
IDLE_RENEW_SECONDS = 300.0  # IDLE is re-issued (and the folder read) this often anyway
MAX_BACKOFF_SECONDS = 300.0
MAX_TRIES = 3  # failures in a row before a message is quarantined as it is
RCPT_HEADERS = ("Delivered-To", "X-Original-To", "To", "Cc")


@dataclass(frozen=True)
class Head:
    """What the reader takes from a message's header block."""

    sender: str
    message_id: str
    rcpts: list[str]
    key: str  # sha256 of sender and Message-ID (without one: of the bytes)


class ReaderStalled(Exception):
    """The reader showed no progress for `lease_seconds` and was cancelled."""


class ImapIntake:
    """Reads the configured mailbox into intake while this process holds its lease."""

    def __init__(
        self, settings: ImapSettings, intake: IntakeService, clock: Clock, *, max_size: int
    ) -> None:
        self.settings = settings
        self.intake = intake
        self.clock = clock
        self.max_size = max_size  # smtp.max_message_size: larger ones are not downloaded
        self.key = settings.mailbox_key
        self.lease = MailboxLease(self.key, clock, settings.lease_seconds)
        self.stop = asyncio.Event()
        self.reader: asyncio.Task[None] | None = None
        self.session: ImapSession | None = None  # the reader's, while it is connected
        self.progress = 0.0  # monotonic: the reader's last step (a message, an IDLE wake-up)
        self.tries: dict[tuple[int, int], int] = {}  # (UIDVALIDITY, UID): failures in a row
        self.failures = 0
        self.not_before = 0.0  # monotonic: no reconnection before (back-off)
        self.last_poll = float("-inf")
        self.idle_offered: bool | None = None  # learnt at the first connection
        self.closed = False
        self.announced = False  # "imap connected" logged since the lease was taken

    # --- the scheduler's tick -----------------------------------------------------------

    async def tick(self) -> None:
        """Renew the lease; while held, poll when due, or keep the IDLE reader running."""
        if self.closed:
            return
        if self.reader is not None and self._stalled():
            # no renewal: a process whose reader is stuck must not keep the mailbox
            if not self.reader.cancelling():
                log.warning(
                    "imap reader made no progress, cancelled",
                    extra={"mailbox": self.key, "lease_s": self.settings.lease_seconds},
                )
                self.reader.cancel()
            return
        try:
            held = await self.lease.claim()
        except Exception as e:
            if unavailable(e):  # held until it runs out, as with any failed renewal
                self.intake.database.failed(e, "imap.lease")
            else:
                log.exception("imap lease could not be renewed", extra={"mailbox": self.key})
            held = self.lease.held()
        if not held or self.closed:  # (closed while the claim ran: serve is stopping)
            self.announced = False
            if self.reader is not None and not self.reader.done():
                log.warning("imap lease lost; reader stops", extra={"mailbox": self.key})
                self.stop.set()
            return
        if self.reader is not None and not self.reader.done():
            return
        self._collect()
        now = time.monotonic()
        if now < self.not_before:
            return
        idle = self.settings.idle and self.idle_offered is not False
        if not idle and now - self.last_poll < self.settings.poll_seconds - 0.5:
            return
        self.last_poll = self.progress = now
        self.stop.clear()
        self.reader = asyncio.create_task(self._read(), name="imap-reader")

    def _stalled(self) -> bool:
        """The reader runs but has neither stepped on nor heard from the server for too long."""
        if self.reader is None or self.reader.done():
            return False
        alive = max(self.progress, self.session.heard_at if self.session else 0.0)
        return time.monotonic() - alive > self.settings.lease_seconds

    def _collect(self) -> None:
        """The last reader's end: an error means back-off before the next connection."""
        if self.reader is None:
            return
        reader, self.reader = self.reader, None
        error: BaseException | None
        if reader.cancelled():  # only a stalled reader is cancelled while serve runs
            error = ReaderStalled(f"no progress for {self.settings.lease_seconds} s")
        else:
            error = reader.exception()
        if error is None:
            self.failures = 0
            return
        if unavailable(error):  # not the server's fault: again once the database is back
            self.intake.database.failed(error, "imap")
            return
        self.failures += 1
        self.announced = False
        delay = min(MAX_BACKOFF_SECONDS, 2.0**self.failures)
        self.not_before = time.monotonic() + delay
        log.warning(
            "imap reading failed, will retry",
            extra={"mailbox": self.key, "error": f"{type(error).__name__}: {error}"[:500],
                   "retry_in_s": delay},
        )  # fmt: skip

    async def close(self) -> None:
        """Stop reading (a message being stored is finished first) and free the lease."""
        self.closed = True
        self.stop.set()
        reader = self.reader
        if reader is not None and not reader.done():
            await asyncio.wait({reader}, timeout=10)
            if not reader.done():
                reader.cancel()
                await asyncio.wait({reader}, timeout=10)
        if reader is not None and reader.done() and not reader.cancelled():
            reader.exception()  # retrieved (an error at shutdown is of no interest)
        with contextlib.suppress(Exception):
            await self.lease.release()

    # --- reading ------------------------------------------------------------------------

    async def _read(self) -> None:
        """One connection: a cycle, then (IDLE) wait for news and go again until stopped."""
        session = self.session = await ImapSession.open(self.settings)
        try:
            self.idle_offered = session.has("IDLE")
            # said once a lease (and after a failure); each poll's connection is debug
            level = logging.DEBUG if self.announced else logging.INFO
            self.announced = True
            log.log(
                level,
                "imap connected",
                extra={"mailbox": self.key, "holder": self.lease.holder,
                       "idle": self.settings.idle and self.idle_offered},
            )  # fmt: skip
            if self.settings.processed_folder:
                await session.ensure_folder(self.settings.processed_folder)
            session.check_flag()
            # re-issued often enough that a healthy IDLE never looks stalled
            idle_s = min(IDLE_RENEW_SECONDS, self.settings.lease_seconds / 2)
            while not self.stop.is_set():
                await self.cycle(session)
                if not (self.settings.idle and self.idle_offered) or self.stop.is_set():
                    return
                await session.wait_for_news(idle_s, self.stop)
                self.progress = time.monotonic()
        finally:
            self.session = None
            await session.close()

    async def cycle(self, session: ImapSession) -> int:
        """Store (or quarantine) and mark every unmarked message of the folder; how many."""
        stored = 0
        for uid in await session.unmarked():
            if self.stop.is_set() or not self.lease.held():
                break
            self.progress = time.monotonic()
            try:
                stored += await self._one(session, uid)
            except ImapBroken:  # the connection: no use trying the next message on it
                raise
            except Exception as e:  # this message only (e.g. its mark refused): next cycle
                if unavailable(e):  # the database: no use trying the next message either
                    raise
                log.warning(
                    "imap message not handled, will retry",
                    extra={"mailbox": self.key, "uid": uid,
                           "error": f"{type(e).__name__}: {e}"[:500]},
                )  # fmt: skip
        return stored

    async def _one(self, session: ImapSession, uid: int) -> int:
        seen = await ImapMessage.filter(
            mailbox=self.key, uidvalidity=session.uidvalidity, uid=uid
        ).exists()
        stored = 0
        if not seen:  # a crash left it stored and unmarked: marked below, not stored again
            taken = await self._take(session, uid)
            if taken is None:  # failed: tried again next cycle
                return 0
            stored = taken
            # tests only: a window in which a test can SIGKILL a real `serve` between
            # storing and marking (it is microseconds otherwise); a pause, not a stall
            if pause := self.settings.test_pause_before_mark:
                self.progress = time.monotonic() + pause
                await asyncio.sleep(pause)
        await session.mark(uid)
        await ImapMessage.filter(
            mailbox=self.key, uidvalidity=session.uidvalidity, uid=uid, marked_at__isnull=True
        ).update(marked_at=self.clock.now())
        return stored

    async def _take(self, session: ImapSession, uid: int) -> int | None:
        """Store the message, or quarantine it; how many stored (0 or 1), None: not yet."""
        raw: bytes | None = None
        try:
            size = await session.size(uid)
            if size > self.max_size:
                detail = (
                    f"{size} bytes, over smtp.max_message_size ({self.max_size}): "
                    f"{NOT_DOWNLOADED}; it stays in the mailbox, {self._marked_where()}"
                )
                note = await self._note(session, uid, detail)
                return await self._quarantine(session, uid, note, "too_large", detail)
            raw = await session.fetch(uid, size)
            return await self._store(session, uid, raw)
        except ImapBroken:
            raise
        except Exception as e:
            if unavailable(e):  # not this message's failure: not counted
                raise
            error = f"{type(e).__name__}: {e}"[:1000]
            key = (session.uidvalidity, uid)
            tries = self.tries[key] = self.tries.get(key, 0) + 1
            extra = {"mailbox": self.key, "uid": uid, "attempt": tries, "error": error}
            if tries < MAX_TRIES:
                log.warning("imap message not stored, will retry", extra=extra, exc_info=True)
                return None
            log.error("imap message failed again: quarantined as it is", extra=extra)
            if raw is None:  # not downloaded: the note says where it is
                where = self._marked_where()
                error = f"{error}; {NOT_DOWNLOADED}: it stays in the mailbox, {where}"
                raw = await self._note(session, uid, error)
            return await self._quarantine(session, uid, raw, "imap_failed", error)

    def _marked_where(self) -> str:
        s = self.settings
        if s.processed_folder:
            return f"moved to {s.processed_folder}"
        return f"in {s.folder} with the flag {s.processed_flag}"

    async def _note(self, session: ImapSession, uid: int, detail: str) -> bytes:
        """What the quarantine keeps of a message not downloaded: its header fields and why."""
        fields = (await session.header_fields(uid)).rstrip(b"\r\n")
        text = (
            f"docflow did not download this message (UID {uid}, UIDVALIDITY "
            f"{session.uidvalidity} of {self.key}): {detail}.\r\n"
        )
        head = b"Content-Type: text/plain; charset=utf-8\r\nX-Docflow-Not-Downloaded: yes\r\n"
        return (fields + b"\r\n" if fields else b"") + head + b"\r\n" + text.encode()

    async def _store(self, session: ImapSession, uid: int, raw: bytes) -> int:
        head = await asyncio.to_thread(self._head, raw)  # parsing and hashing: off the loop
        if await self._known(uid, head):
            return 0
        try:
            inbound_id = await self.intake.receive(
                raw, head.sender, head.rcpts, "imap", also=self._recorder(session, uid, head)
            )
        except IntegrityError:  # another process stored this UID first: only mark it
            return 0
        self.tries.pop((session.uidvalidity, uid), None)
        log.info(
            "imap message stored",
            extra={"mailbox": self.key, "uid": uid, "uidvalidity": session.uidvalidity,
                   "inbound_id": inbound_id, "size": len(raw)},
        )  # fmt: skip
        return 1

    async def _quarantine(
        self, session: ImapSession, uid: int, raw: bytes, reason: str, detail: str
    ) -> int:
        head = await asyncio.to_thread(self._head, raw)
        if await self._known(uid, head):
            return 0
        try:
            inbound_id = await quarantine.hold(
                self.intake.spool, self.clock.now(), raw, source="imap", reason=reason,
                detail=detail, mail_from=head.sender, rcpt_tos=head.rcpts,
                also=self._recorder(session, uid, head),
            )  # fmt: skip
        except IntegrityError:  # another process recorded this UID first
            return 0
        self.tries.pop((session.uidvalidity, uid), None)
        log.warning(
            "imap message quarantined",
            extra={"mailbox": self.key, "uid": uid, "uidvalidity": session.uidvalidity,
                   "inbound_id": inbound_id, "reason": reason, "detail": detail[:500]},
        )  # fmt: skip
        return 1

    async def _known(self, uid: int, head: Head) -> bool:
        """Read before under another UID (the folder was rebuilt): only marked."""
        if not await ImapMessage.filter(mailbox=self.key, message_key=head.key).exists():
            return False
        log.info(
            "imap message read before under another UID: marked, not stored",
            extra={"mailbox": self.key, "uid": uid, "message_id": head.message_id},
        )
        return True

    def _recorder(self, session: ImapSession, uid: int, head: Head) -> Recorder:
        """Writes the UID's row in the inbound row's transaction."""
        uidvalidity = session.uidvalidity

        async def record(conn: BaseDBAsyncClient, inbound_id: int) -> None:
            await ImapMessage.create(
                mailbox=self.key,
                uidvalidity=uidvalidity,
                uid=uid,
                message_key=head.key,
                inbound_id=inbound_id,
                fetched_by=self.lease.holder,
                fetched_at=self.clock.now(),
                using_db=conn,
            )

        return record

    def _head(self, raw: bytes) -> Head:
        """Sender, recipients and dedupe key (blocking: run in a thread)."""
        head = BytesHeaderParser(policy=compat32).parsebytes(raw)
        sender = parseaddr(str(head.get("Return-Path") or head.get("From") or ""))[1]
        message_id = str(head.get("Message-ID") or "").strip()
        from_addr = parseaddr(str(head.get("From") or ""))[1].lower()
        # the same sender and Message-ID is the same message (without one: the same bytes)
        key = hashlib.sha256(f"{from_addr}\n{message_id}".encode() if message_id else raw)
        return Head(sender, message_id, self._rcpts(head.items()), key.hexdigest())

    def _rcpts(self, headers: list[tuple[str, str]]) -> list[str]:
        """The intake (or bounce) addresses the message was sent to (a plus tag picks the workflow);
        the mailbox's own address when none of them is one."""
        wanted = {h.lower() for h in RCPT_HEADERS}
        values = [str(v) for k, v in headers if k.lower() in wanted]
        found = [a.lower() for _, a in getaddresses(values) if self.intake.accepts(a)]
        return list(dict.fromkeys(found)) or [self.intake.config.addresses[0]]


__all__ = ["ImapError", "ImapIntake", "MailboxLease"]
