"""Alerts to the admins about no one document: what only an admin can look into.

Queued in the caller's transaction, one mail per active admin in their language
(`notify/templates`), like the workflow's notices to admins (workflow/notices.py),
which are about a document and go in its thread; these start a thread of their own.
"""

from __future__ import annotations

from tortoise.backends.base.client import BaseDBAsyncClient

from docflow.notify.mails import MailComposer
from docflow.notify.message import Recipient
from docflow.notify.outbox import Outbox
from docflow.users.models import User
from docflow.users.service import ADMIN


class AdminAlerts:
    """Tells every active admin; `poke()` after the caller's transaction commits."""

    def __init__(self, composer: MailComposer, outbox: Outbox, quarantine_url: str) -> None:
        self.composer = composer
        self.outbox = outbox
        self.quarantine_url = quarantine_url

    async def sender_over_limit(
        self, conn: BaseDBAsyncClient, sender: str, limit: int, window_seconds: int, inbound_id: int
    ) -> int:
        """A sender passed `intake.rate_limit`: docflow stops answering it for the window
        (a mail loop, or a clerk with a busy hour). How many admins were told."""
        admins = await self._admins(conn)
        for admin in admins:
            to = Recipient.of(admin)
            subject = (
                f"docflow: {sender} sent over {limit} messages, no more answers for now"
                if to.en
                else f"docflow: {sender} gửi quá {limit} thư, tạm ngừng trả lời"
            )
            msg = self.composer.standalone(
                "rate_limited",
                to,
                subject,
                sender=sender,
                limit=limit,
                window=_duration(window_seconds, to.en),
                inbound_id=inbound_id,
                quarantine_url=self.quarantine_url,
            )
            await self.outbox.enqueue(conn, msg, "alert")
        return len(admins)

    def poke(self) -> None:
        self.outbox.poke()

    @staticmethod
    async def _admins(conn: BaseDBAsyncClient) -> list[User]:
        active = await User.filter(active=True).using_db(conn).order_by("email")
        return [u for u in active if ADMIN in u.roles]


def _duration(seconds: int, en: bool) -> str:
    """3600 → "1 giờ" / "1 hour"; whole minutes, else seconds."""
    for size, vi, one, many in ((3600, "giờ", "hour", "hours"), (60, "phút", "minute", "minutes")):
        if seconds % size == 0:
            n = seconds // size
            return f"{n} {(one if n == 1 else many) if en else vi}"
    return f"{seconds} {'seconds' if en else 'giây'}"
