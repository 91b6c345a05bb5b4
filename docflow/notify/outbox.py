"""The outbox: mail is queued in the caller's transaction and sent after it commits.

Sending claims a row with a lease (an atomic conditional UPDATE, so several
`serve` processes on one PostgreSQL never send the same row at once), hands it
to the relay with aiosmtplib, and marks it sent. A relay that refuses (4xx) or
is down means another try later, backing off exponentially; a permanent
refusal (5xx) marks the row failed and is reported to `on_refused` (notify.bounces records
it like a bounce).

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
from datetime import timedelta
from email.message import Message
from email.policy import compat32
from email.utils import getaddresses

import aiosmtplib
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import Q

from docflow.clock import Clock
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
        claimed = await OutboxMessage.filter(
            Q(lease_until__isnull=True) | Q(lease_until__lt=now),
            id=row_id,
            state=OutboxState.QUEUED,
        ).update(lease_until=now + LEASE)
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
        claimed = [row["id"] for row in due if await self._claim(row["id"])]
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
            return 0
        sent = 0
        try:
            for row in rows:  # one connection for the whole batch
                if not client.is_connected:
                    try:
                        await client.connect()
                    except (TimeoutError, aiosmtplib.SMTPException, OSError) as e:
                        await self._failed(row, e)
                        continue
                sent += await self._deliver(client, row)
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
        row.state = OutboxState.SENT
        row.sent_at = self.clock.now()
        row.attempts += 1
        row.lease_until = None
        await row.save(update_fields=["state", "sent_at", "attempts", "lease_until"])
        # some recipients refused, the others taken: the refused ones are not retried
        await self._refused(row, {a: (r.code, r.message) for a, r in refused.items()})
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
            code = min(c for c, _ in refused.values()) if refused else None
        if isinstance(code, int) and 500 <= code < 600:
            row.state = OutboxState.FAILED
            log.error(
                "mail refused for good",
                extra={"code": row.document_code, "outbox_id": row.id, "error": row.last_error},
            )
        else:
            delay = min(self.max_backoff, 2.0 ** min(row.attempts, 20))
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
        await row.save(
            update_fields=["attempts", "last_error", "lease_until", "state", "next_attempt_at"]
        )
        if row.state == OutboxState.FAILED:
            await self._refused(row, refused)

    async def run(self, stop: asyncio.Event, idle_seconds: float = 5.0) -> None:
        """Send until `stop` is set; woken early by `poke()`."""
        while not stop.is_set():
            # cleared before sending, not after: mail queued while a batch is being sent
            # (a refused recipient's notice to the author) goes in the next round at once
            self.wakeup.clear()
            try:
                await self.send_due()
            except Exception:
                log.exception("outbox sweep failed")
            try:
                await asyncio.wait_for(self.wakeup.wait(), idle_seconds)
            except TimeoutError:
                pass
