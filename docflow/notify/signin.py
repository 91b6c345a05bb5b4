"""Mailing a one-time sign-in link to someone who asked for one on the sign-in page."""

from __future__ import annotations

from docflow.notify.mails import MailComposer
from docflow.notify.message import Recipient
from docflow.notify.outbox import Outbox
from docflow.users.signin_links import LINK_TIME, SignInLinks


class SignInMail:
    """Makes a link (users/signin_links.py) and queues the mail that carries it."""

    def __init__(
        self, links: SignInLinks, composer: MailComposer, outbox: Outbox, base_url: str
    ) -> None:
        self.links = links
        self.composer = composer
        self.outbox = outbox
        self.base_url = base_url.rstrip("/")

    async def send(self, email: str) -> bool:
        """True when a link went out; False for an address with no active account."""
        made = await self.links.new(email)
        if made is None:
            return False
        token, user = made
        msg = self.composer.signin_link(
            Recipient.of(user),
            url=f"{self.base_url}/login/link/{token}",
            minutes=int(LINK_TIME.total_seconds() // 60),
        )
        await self.outbox.enqueue(None, msg, "signin")
        self.outbox.poke()
        return True
