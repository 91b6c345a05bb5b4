"""The outbox: mail is queued in the caller's transaction and sent after it commits.

Sending claims a row with a lease (an atomic conditional UPDATE, so several
`serve` processes on one PostgreSQL never send the same row at once), hands it
to the relay with aiosmtplib, and marks it sent. A relay that refuses (4xx) or
is down means another try later, backing off exponentially; a permanent
refusal (5xx) marks the row failed and is reported to `on_refused` (notify.bounces records
it like a bounce). A mail some of whose recipients the relay settles (takes, or refuses
for good) while it defers others (4xx) is done for the settled ones; the deferred ones
get a new row of their own (`_retry`: the same message, a new VERP token), retried with
the same back-off.

Each row is sent with its own envelope sender, a VERP address `LOCAL+TOKEN@DOMAIN` of
`relay.bounce_address` with a random token: a delivery status notification comes back
to it and names the row (and only a party that saw the mail knows the token).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from email.message import Message
from email.policy import compat32
from email.utils import getaddresses

import aiosmtplib
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from docflow.clock import Clock
from docflow.db.outage import DatabaseWatch, unavailable
from docflow.notify.models import OutboxMessage, OutboxState

log = logging.getLogger("docflow.outbox")
LEASE = timedelta(seconds=120)
_SMTP_COMPAT = compat32.clone(linesep="\r\n")

# (row, recipient, enhanced status, diagnostic): a recipient the relay refused for good
RefusalHook = Callable[[OutboxMessage, str, str, str], Awaitable[None]]


def verp_address(bounce_address: str, token: str) -> str:
    """`docflow-bounce@d` + token → `docflow-bounce+token@d`."""
    local, _, domain = bounce_address.partition("@")
    return f"{local}+{token}@{domain}"


def verp_token(bounce_address: str, address: str) -> str | None:
    """The token of a VERP address of `bounce_address`; "" for the bare address, None for
    any other address."""
    local, _, domain = address.strip().strip("<>").lower().partition("@")
    base_local, _, base_domain = bounce_address.lower().partition("@")
    base, plus, token = local.partition("+")
    if base != base_local or domain != base_domain:
        return None
    return token if plus else ""


def _status_of(code: int, message: str) -> str:
    """The enhanced status code of a reply (`550 5.1.1 …`), else one made of its class."""
    first = message.split(maxsplit=1)[0] if message.strip() else ""
    parts = first.split(".")
    if len(parts) == 3 and all(p.isdigit() for p in parts):
        return first
    return f"{code // 100}.0.0"


class Outbox:
    """Queue mail transactionally; deliver it to the relay."""

    def __init__(
        self,
        clock: Clock,
        relay_host: str,
        relay_port: int,
        mail_from: str,
        timeout: float = 30,
        max_backoff: float = 900,
        bounce_address: str = "",
        database: DatabaseWatch | None = None,
    ) -> None:
        self.clock = clock
        self.relay_host = relay_host
        self.relay_port = relay_port
        self.mail_from = mail_from
        self.bounce_address = bounce_address  # "": no VERP, the plain from address
        self.on_refused: list[RefusalHook] = []
        self.timeout = timeout
        self.max_backoff = max_backoff
        self.wakeup = asyncio.Event()
        self.queued = 0  # rows enqueued by this process: a caller pokes only if it moved
        self.database = database or DatabaseWatch()
        # after an outage: mail the relay took whose row could not be marked sent (marked
        # first when the database is back: sending it again would double it), and rows
        # claimed but not sent (their leases handed back, so they go at once)
        self._unrecorded: list[tuple[OutboxMessage, dict[str, tuple[int, str]]]] = []
        self._claimed: dict[int, datetime] = {}  # row id → the lease this process holds

    async def enqueue(
        self,
        conn: BaseDBAsyncClient | None,
        msg: Message,
        kind: str,
        document_code: str | None = None,
    ) -> OutboxMessage:
        """Store `msg` for sending; call `poke()` after the transaction commits."""
        rcpts = [addr for _, addr in getaddresses(msg.get_all("To", []) + msg.get_all("Cc", []))]
        now = self.clock.now()
        self.queued += 1
        token = secrets.token_hex(10) if self.bounce_address else None
        return await OutboxMessage.create(
            created_at=now,
            kind=kind,
            document_code=document_code,
            mail_from=verp_address(self.bounce_address, token) if token else self.mail_from,
            bounce_token=token,
            rcpt_to=rcpts,
            message_id=str(msg["Message-ID"]).strip("<> "),
            subject=str(msg["Subject"])[:1000],
            content=msg.as_bytes(policy=_SMTP_COMPAT),
            next_attempt_at=now,
            using_db=conn,
        )

    def poke(self) -> None:
        self.wakeup.set()

    async def _claim(self, row_id: int) -> bool:
        now = self.clock.now()
        lease = now + LEASE
        claimed = await OutboxMessage.filter(
            Q(lease_until__isnull=True) | Q(lease_until__lt=now),
            id=row_id,
            state=OutboxState.QUEUED,
        ).update(lease_until=lease)
        if claimed == 1:
            self._claimed[row_id] = lease
        return claimed == 1

    async def send_due(self, batch: int = 50) -> int:
        """Send what is due now; returns how many were sent."""
        now = self.clock.now()
        due = (
            await OutboxMessage.filter(
                Q(lease_until__isnull=True) | Q(lease_until__lt=now),
                state=OutboxState.QUEUED,
                next_attempt_at__lte=now,
            )
            .order_by("id")
            .limit(batch)
            .values("id")
        )
        claimed = []
        for due_row in due:
            if await self._claim(due_row["id"]):
                claimed.append(due_row["id"])
        if not claimed:
            return 0
        rows = await OutboxMessage.filter(id__in=claimed).order_by("id")
        client = aiosmtplib.SMTP(
            hostname=self.relay_host,
            port=self.relay_port,
            timeout=self.timeout,
            start_tls=False,
            use_tls=False,
        )
        try:
            await client.connect()
        except (TimeoutError, aiosmtplib.SMTPException, OSError) as e:
            for row in rows:  # the relay is down: every claimed row waits for its next try
                await self._failed(row, e)
                self._claimed.pop(row.id, None)
            return 0
        sent = 0
        try:
            for row in rows:  # one connection for the whole batch
                if not client.is_connected:
                    try:
                        await client.connect()
                    except (TimeoutError, aiosmtplib.SMTPException, OSError) as e:
                        await self._failed(row, e)
                        self._claimed.pop(row.id, None)
                        continue
                sent += await self._deliver(client, row)
                self._claimed.pop(row.id, None)
        finally:
            with contextlib.suppress(aiosmtplib.SMTPException, OSError, TimeoutError):
                await client.quit()
        return sent

    async def _deliver(self, client: aiosmtplib.SMTP, row: OutboxMessage) -> int:
        try:
            refused, _ = await client.sendmail(row.mail_from, list(row.rcpt_to), bytes(row.content))
        except (TimeoutError, aiosmtplib.SMTPException, OSError) as e:
            await self._failed(row, e)
            if client.is_connected:  # a refused message: clear the transaction, go on
                with contextlib.suppress(aiosmtplib.SMTPException, OSError, TimeoutError):
                    await client.rset()
            return 0
        # the relay has it: whatever happens next, its lease is never handed back early
        self._claimed.pop(row.id, None)
        row.state = OutboxState.SENT
        row.sent_at = self.clock.now()
        row.attempts += 1
        row.lease_until = None
        replies = {a: (r.code, r.message) for a, r in refused.items()}
        try:
            await self._record_sent(row, replies)
        except Exception as e:
            if unavailable(e):  # remember it, record it when the database is back
                self._unrecorded.append((row, replies))
            raise
        log.info(
            "mail sent",
            extra={
                "code": row.document_code,
                "kind": row.kind,
                "to": row.rcpt_to,
                "outbox_id": row.id,
            },
        )
        return 1

    async def _record_sent(self, row: OutboxMessage, replies: dict[str, tuple[int, str]]) -> None:
        """Mark the row sent; some recipients refused, the others taken: the deferred ones
        are retried apart, queued with the sent state or not at all. Once only: replayed
        after an outage whose COMMIT had gone through, it finds the row sent and stops."""
        async with in_transaction() as conn:
            marked = (
                await OutboxMessage.filter(id=row.id, state=OutboxState.QUEUED)
                .using_db(conn)
                .update(
                    state=row.state,
                    sent_at=row.sent_at,
                    attempts=row.attempts,
                    lease_until=None,
                )
            )
            if marked:
                await self._retry(conn, row, replies)
        if marked:
            await self._refused(row, replies)

    async def _after_outage(self) -> None:
        """Mark what the relay took during the outage, and free the rows claimed but not
        sent; raises (and keeps the rest) while the database is still away."""
        while self._unrecorded:
            row, replies = self._unrecorded[0]
            await self._record_sent(row, replies)
            self._unrecorded.pop(0)
        for row_id, lease in sorted(self._claimed.items()):  # only if still this process's
            await OutboxMessage.filter(
                id=row_id, state=OutboxState.QUEUED, lease_until=lease
            ).update(lease_until=None)
            del self._claimed[row_id]

    async def _retry(
        self, conn: BaseDBAsyncClient, row: OutboxMessage, refused: dict[str, tuple[int, str]]
    ) -> None:
        """Queue the message of `row`, which is done (sent to the others, or failed), again
        for the recipients the relay refused for now (not 5xx) alone."""
        deferred = {a: reply for a, reply in refused.items() if not 500 <= reply[0] < 600}
        if not deferred:
            return
        token = secrets.token_hex(10)
        verp = bool(self.bounce_address)
        now = self.clock.now()
        retry = await OutboxMessage.create(
            created_at=now,
            kind=row.kind,
            document_code=row.document_code,
            mail_from=verp_address(self.bounce_address, token) if verp else self.mail_from,
            bounce_token=token if verp else None,
            rcpt_to=list(deferred),
            # the column is unique; the message (and its Message-ID header) is the same
            message_id=f"{row.message_id[:220]}#retry-{token}",
            subject=row.subject,
            content=row.content,
            attempts=row.attempts,  # the back-off goes on where the row's left off
            last_error="; ".join(f"{a}: {c} {m}" for a, (c, m) in deferred.items())[:2000],
            next_attempt_at=now + timedelta(seconds=self._backoff(row.attempts)),
            using_db=conn,
        )
        log.warning(
            "relay deferred some recipients, retrying them apart",
            extra={
                "code": row.document_code,
                "outbox_id": row.id,
                "retry_outbox_id": retry.id,
                "to": retry.rcpt_to,
                "error": retry.last_error,
            },
        )

    def _backoff(self, attempts: int) -> float:
        return min(self.max_backoff, 2.0 ** min(attempts, 20))

    async def _refused(self, row: OutboxMessage, replies: dict[str, tuple[int, str]]) -> None:
        """Tell the hooks of each recipient refused with a 5xx."""
        for address, (code, message) in replies.items():
            if 500 <= code < 600:
                diagnostic = f"{code} {message}"[:2000]
                for hook in self.on_refused:
                    try:
                        await hook(row, address, _status_of(code, message), diagnostic)
                    except Exception:
                        log.exception("recording a refused recipient failed")

    async def _failed(self, row: OutboxMessage, error: BaseException) -> None:
        row.attempts += 1
        row.last_error = f"{type(error).__name__}: {error}"[:2000]
        row.lease_until = None
        code = getattr(error, "code", None)
        refused: dict[str, tuple[int, str]] = {}
        if isinstance(error, aiosmtplib.SMTPRecipientsRefused):  # every recipient refused
            refused = {r.recipient: (r.code, r.message) for r in error.recipients}
            # one refused for good settles the row (`_retry` queues the others apart)
            code = max(c for c, _ in refused.values()) if refused else None
        if isinstance(code, int) and 500 <= code < 600:
            row.state = OutboxState.FAILED
            log.error(
                "mail refused for good",
                extra={"code": row.document_code, "outbox_id": row.id, "error": row.last_error},
            )
        else:
            delay = self._backoff(row.attempts)
            row.next_attempt_at = self.clock.now() + timedelta(seconds=delay)
            log.warning(
                "relay did not take mail, will retry",
                extra={
                    "code": row.document_code,
                    "outbox_id": row.id,
                    "error": row.last_error,
                    "retry_in_s": delay,
                },
            )
        columns = ["attempts", "last_error", "lease_until", "state", "next_attempt_at"]
        async with in_transaction() as conn:
            await row.save(using_db=conn, update_fields=columns)
            if row.state == OutboxState.FAILED:
                await self._retry(conn, row, refused)
        if row.state == OutboxState.FAILED:
            await self._refused(row, refused)

    async def run(self, stop: asyncio.Event, idle_seconds: float = 5.0) -> None:
        """Send until `stop` is set; woken early by `poke()`."""
        while not stop.is_set():
            # cleared before sending, not after: mail queued while a batch is being sent
            # (a refused recipient's notice to the author) goes in the next round at once
            self.wakeup.clear()
            wake = self.wakeup
            try:
                await self._after_outage()
                await self.send_due()
            except Exception as e:
                if unavailable(e):  # logged once per outage by the watch; go on when back
                    self.database.failed(e, "outbox")
                    wake = self.database.back
                else:
                    log.exception("outbox sweep failed")
            try:
                await asyncio.wait_for(wake.wait(), idle_seconds)
            except TimeoutError:
                pass
        await self._at_stop()

    async def _at_stop(self, within: float = 2.0) -> None:
        """Record what can be, hand back what was claimed; say what is left to chance."""
        if self.database.available:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._after_outage(), within)
        if self._unrecorded:  # sent, not marked: sent again by whoever claims them next
            log.error(
                "stopping with mail sent but not marked sent: it may go out twice",
                extra={"outbox_ids": [row.id for row, _ in self._unrecorded]},
            )
