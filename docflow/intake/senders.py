"""Who wrote a mail, and whether docflow takes mail from them now.

Mail written by programs (auto-replies, lists, bounces) is never a draft and never
answered; with `intake.require_authenticated_sender` the From: must be vouched
for (the trusted MTA's Authentication-Results, or DKIM checked here); only users
(or senders of an allowed domain) may send; and a sender over the rate limit is
quarantined unanswered, which is what stops a mail loop.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from tortoise.transactions import in_transaction

from docflow.clock import Clock
from docflow.config import IntakeSettings
from docflow.errors import Refused
from docflow.intake import authres
from docflow.intake.models import InboundMessage, InboundState
from docflow.intake.parse import ParsedMail
from docflow.intake.spool import Spool
from docflow.users.models import User
from docflow.users.service import UserService

log = logging.getLogger("docflow.intake")
# sources whose envelope sender is known (an empty one is a bounce: RFC 5321 section 4.5.5)
ENVELOPE_SOURCES = ("smtp", "lmtp")


class Senders:
    """Checks a mail's sender before anything of the mail is stored as a version."""

    def __init__(
        self, config: IntakeSettings, clock: Clock, spool: Spool, users: UserService
    ) -> None:
        self.config = config
        self.clock = clock
        self.spool = spool
        self.users = users
        # dkimpy's TXT lookup for `verify_dkim`; None: the system's resolver
        self.dkim_dns: authres.DnsTxt | None = None

    async def author(self, row: InboundMessage, mail: ParsedMail) -> User:
        """The user the mail is from; Refused when it is automatic, unauthenticated or from
        someone who may not send."""
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
        return author

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

    async def within_rate_limit(self, row: InboundMessage, author: User) -> bool:
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
