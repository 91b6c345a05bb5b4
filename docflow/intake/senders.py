"""Who wrote a mail, and whether docflow takes mail from them now.

Mail written by programs (auto-replies, lists, bounces) is never a draft and never
answered; with `intake.require_authenticated_sender` the From: must be vouched
for (the trusted MTA's Authentication-Results, or DKIM checked here); only users
(or senders of an allowed domain) may send; and a sender over the rate limit is no
longer answered, which is what stops a mail loop (its drafts are still taken).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from docflow.clock import Clock
from docflow.config import IntakeSettings
from docflow.errors import Refused
from docflow.intake import authres
from docflow.intake.models import InboundMessage
from docflow.intake.parse import ParsedMail
from docflow.intake.spool import Spool
from docflow.notify.alerts import AdminAlerts
from docflow.users.models import User
from docflow.users.service import UserService

log = logging.getLogger("docflow.intake")
RATE_LIMITED = "rate_limited"  # the reason a message past its sender's limit carries
# sources whose envelope sender is known (an empty one is a bounce: RFC 5321 section 4.5.5)
ENVELOPE_SOURCES = ("smtp", "lmtp")


class Senders:
    """Checks a mail's sender before anything of the mail is stored as a version."""

    def __init__(
        self,
        config: IntakeSettings,
        clock: Clock,
        spool: Spool,
        users: UserService,
        alerts: AdminAlerts | None = None,
    ) -> None:
        self.config = config
        self.clock = clock
        self.spool = spool
        self.users = users
        self.alerts = alerts  # who hears that a sender passed the limit (the admins)
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
            verdict = await self.authenticate(row, mail)
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

    async def authenticate(self, row: InboundMessage, mail: ParsedMail) -> authres.Verdict:
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

    async def may_answer(self, row: InboundMessage, author: User) -> bool:
        """Count the message against its sender; False past the limit: docflow says nothing.

        Runaway loops (an auto-responder nobody marked as one, answering every receipt or
        refusal) end when docflow stops answering; the message itself is still taken (a
        draft becomes its document or version, the rest is quarantined: `Drafts`). Every
        message from a user is counted (`counted_at`); those past the limit carry the
        reason `rate_limited` from here on, and only the others count towards it. The
        count is of rows in the database, under a lock on the sender's user row, so it
        holds with any number of workers and processes; the first message past the limit
        in a window is logged and told to the admins, once (the same transaction marks
        it). `docflow ingest` (an administrator's files) is not counted, and a retried or
        released message that was counted already is not counted again.
        """
        limit = self.config.rate_limit
        if row.counted_at is not None:  # counted already: answered then, answered now
            return row.reason != RATE_LIMITED
        if limit == 0 or row.source == "ingest":
            return True
        now = self.clock.now()
        window = self.config.rate_window_seconds
        since = now - timedelta(seconds=window)
        async with in_transaction() as conn:
            # one sender's messages pass this gate one at a time (SQLite: one writer anyway)
            await User.filter(id=author.id).select_for_update().using_db(conn).first()
            recent = InboundMessage.filter(from_addr=row.from_addr, counted_at__gte=since)
            answered = recent.filter(Q(reason__isnull=True) | ~Q(reason=RATE_LIMITED))
            answer = await answered.using_db(conn).count() < limit
            told = True
            if not answer:
                told = await recent.filter(reason=RATE_LIMITED).using_db(conn).exists()
                row.reason = RATE_LIMITED
                row.detail = f"over {limit} messages in {window} s: not answered"
            row.counted_at = now
            await (
                InboundMessage.filter(id=row.id)
                .using_db(conn)
                .update(
                    counted_at=now, from_addr=row.from_addr, reason=row.reason, detail=row.detail
                )
            )
            if not told and self.alerts is not None:
                await self.alerts.sender_over_limit(conn, row.from_addr, limit, window, row.id)
        if not told:  # not one line per message: a loop would flood the log too
            if self.alerts is not None:
                self.alerts.poke()
            log.warning(
                "sender over the rate limit: not answered until the window allows",
                extra={
                    "from": row.from_addr,
                    "limit": limit,
                    "window_seconds": window,
                    "inbound_id": row.id,
                    "reason": RATE_LIMITED,
                },
            )
        return answer
