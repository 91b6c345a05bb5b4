"""One-time sign-in links: a mailed link instead of a password, for everyone who has an
account (authors and approvers included).

The token is random and the table keeps its SHA-256 only. A link lives 15 minutes and
signs in once; opening it (GET) changes nothing, only the form it shows (POST) uses it,
so that a mail scanner following the link cannot sign anyone in.
"""

from __future__ import annotations

import secrets
from datetime import timedelta

from docflow.clock import Clock
from docflow.users.accounts import AccountService, LoginRefused, NewSession, digest
from docflow.users.models import SignInLink, User

LINK_TIME = timedelta(minutes=15)


class SignInLinks:
    """Makes, checks and spends sign-in links; the session comes from the accounts."""

    def __init__(self, clock: Clock, accounts: AccountService) -> None:
        self.clock = clock
        self.accounts = accounts

    async def new(self, email: str) -> tuple[str, User] | None:
        """A fresh token for an active user, or None for an address docflow does not know
        (the caller answers the same either way: no list of accounts by probing)."""
        user = await User.get_or_none(email=email.strip().lower(), active=True)
        if user is None:
            return None
        token = secrets.token_urlsafe(32)
        now = self.clock.now()
        await SignInLink.create(
            token_hash=digest(token), user=user, created_at=now, expires_at=now + LINK_TIME
        )
        return token, user

    async def check(self, token: str) -> User:
        """The user a live link is for, or LoginRefused (`link_unknown`, `link_used`,
        `link_expired`). Changes nothing."""
        link = await SignInLink.filter(token_hash=digest(token)).select_related("user").first()
        if link is None or not link.user.active:
            raise LoginRefused("link_unknown")
        if link.used_at is not None:
            raise LoginRefused("link_used")
        if link.expires_at <= self.clock.now():
            raise LoginRefused("link_expired")
        return link.user

    async def use(self, token: str) -> NewSession:
        """Spends the link (once, even when two browsers post it at once) and opens a session."""
        user = await self.check(token)
        now = self.clock.now()
        spent = await SignInLink.filter(
            token_hash=digest(token), used_at__isnull=True, expires_at__gt=now
        ).update(used_at=now)
        if not spent:
            raise LoginRefused("link_used")
        return await self.accounts.open_session(user)
