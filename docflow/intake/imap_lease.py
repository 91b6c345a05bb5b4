"""The right to read one IMAP mailbox, held by one `serve` process at a time.

A row of `imap_leases` per mailbox, claimed with a conditional UPDATE (ours, or lapsed)
and renewed by the scheduler's tick; the others do not connect. A holder that dies
loses it when it lapses; one that stops gives it up at once.
"""

from __future__ import annotations

import os
import secrets
import socket
import time
from datetime import timedelta

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q

from docflow.clock import Clock
from docflow.intake.models import ImapLease


class MailboxLease:
    """The right to read one mailbox, held by one process at a time, for a while."""

    def __init__(self, mailbox: str, clock: Clock, seconds: float) -> None:
        self.mailbox = mailbox
        self.clock = clock
        self.seconds = timedelta(seconds=seconds)
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self.until = 0.0  # monotonic end of the lease as this process last renewed it

    def held(self) -> bool:
        return time.monotonic() < self.until

    async def claim(self) -> bool:
        """Take or renew the lease: ours, or lapsed; a new row the first time."""
        now = self.clock.now()
        start = time.monotonic()
        n = await ImapLease.filter(
            Q(lease_until__lt=now) | Q(holder=self.holder), mailbox=self.mailbox
        ).update(holder=self.holder, lease_until=now + self.seconds)
        if n == 0:
            try:
                await ImapLease.create(
                    mailbox=self.mailbox, holder=self.holder, lease_until=now + self.seconds
                )
            except IntegrityError:  # another process holds it
                self.until = 0.0
                return False
        self.until = start + self.seconds.total_seconds()
        return True

    async def release(self) -> None:
        """Give the lease up at shutdown, so another process takes over at once."""
        self.until = 0.0
        past = self.clock.now() - timedelta(seconds=1)
        await ImapLease.filter(mailbox=self.mailbox, holder=self.holder).update(lease_until=past)
