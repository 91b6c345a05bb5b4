"""Accounts for the people who sign in to the web app: passwords, sessions, API tokens.

Everyone with an account may sign in (by password where one is set, or by a mailed
link: users/signin_links.py); what a page shows depends on the roles. Approvers still
need no account to decide: their decision links act on one task and grant nothing else.
Passwords are kept as argon2id hashes (argon2-cffi's defaults), hashed and checked
in a thread since each costs tens of milliseconds of CPU. After MAX_FAILURES wrong
passwords in a row an account is locked for LOCK_TIME, whatever the password.
Session cookies and API tokens are random; the database keeps their SHA-256 only.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from docflow.clock import Clock
from docflow.errors import DocflowError, NotFoundError
from docflow.users.models import ApiToken, User, WebSession

MAX_FAILURES = 5
LOCK_TIME = timedelta(minutes=15)
SESSION_TIME = timedelta(hours=12)
MIN_PASSWORD = 10
SEARCH_ROLES = frozenset({"archivist", "admin"})  # who may search and read the archive
CLERK_ROLES = frozenset({"van-thu", "admin"})  # who keeps the register books
LEADER_ROLES = frozenset({"lanh-dao", "admin"})  # who reads the office's reports
_HASHER = PasswordHasher()


@cache
def _dummy() -> str:
    """Checked against when the e-mail is unknown, so that both answers take as long."""
    return _HASHER.hash("docflow: no such user")


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class LoginRefused(DocflowError):
    """Why a sign-in failed: `locked` (too many failures), `invalid` (anything else about a
    password), or `link_unknown` / `link_used` / `link_expired` (a sign-in link)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Principal:
    """Who is asking, after a session cookie or a bearer token was checked."""

    email: str
    name: str
    roles: frozenset[str]
    language: str

    @property
    def may_search(self) -> bool:
        return bool(self.roles & SEARCH_ROLES)

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles

    @property
    def is_clerk(self) -> bool:
        """Keeps the register books (văn thư)."""
        return bool(self.roles & CLERK_ROLES)

    @property
    def is_leader(self) -> bool:
        """Reads the office's reports (paper saved, timeliness)."""
        return bool(self.roles & LEADER_ROLES)


def principal_of(user: User) -> Principal:
    return Principal(user.email, user.name, frozenset(user.roles), user.language)


@dataclass(frozen=True)
class NewSession:
    token: str  # for the cookie, shown nowhere else
    csrf: str
    principal: Principal


class AccountService:
    """Passwords, log-in with lock-out, sessions and API tokens."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock

    async def set_password(self, email: str, password: str) -> None:
        if len(password) < MIN_PASSWORD:
            raise DocflowError(f"a password needs at least {MIN_PASSWORD} characters")
        user = await self._user(email)
        user.password_hash = await asyncio.to_thread(_HASHER.hash, password)
        user.failed_logins, user.locked_until = 0, None
        await user.save(update_fields=["password_hash", "failed_logins", "locked_until"])

    async def log_in(self, email: str, password: str) -> NewSession:
        """A new session, or LoginRefused."""
        now = self.clock.now()
        user = await User.get_or_none(email=email.strip().lower(), active=True)
        if user is None or not user.password_hash:
            await asyncio.to_thread(_verify, _dummy(), password)
            raise LoginRefused("invalid")
        if user.locked_until is not None and user.locked_until > now:
            raise LoginRefused("locked")
        if not await asyncio.to_thread(_verify, user.password_hash, password):
            failures = user.failed_logins + 1
            locked = now + LOCK_TIME if failures >= MAX_FAILURES else None
            await User.filter(id=user.id).update(
                failed_logins=0 if locked else failures, locked_until=locked
            )
            raise LoginRefused("locked" if locked else "invalid")
        await User.filter(id=user.id).update(failed_logins=0, locked_until=None)
        return await self.open_session(user)

    async def open_session(self, user: User) -> NewSession:
        """A new browser session for a user whose password or sign-in link was checked."""
        now = self.clock.now()
        token, csrf = secrets.token_urlsafe(32), secrets.token_hex(16)
        await WebSession.create(
            token_hash=digest(token),
            user=user,
            csrf=csrf,
            created_at=now,
            expires_at=now + SESSION_TIME,
        )
        return NewSession(token, csrf, principal_of(user))

    async def session(self, token: str) -> tuple[Principal, str] | None:
        """The principal and CSRF value of a live session, or None."""
        if not token:
            return None
        found = (
            await WebSession.filter(token_hash=digest(token), expires_at__gt=self.clock.now())
            .select_related("user")
            .first()
        )
        if found is None or not found.user.active:
            return None
        return principal_of(found.user), found.csrf

    async def set_language(self, email: str, language: str) -> None:
        """The language a user's pages and mails are written in (vi or en)."""
        if language not in ("vi", "en"):
            raise DocflowError(f"not a language docflow writes: {language!r} (vi or en)")
        await User.filter(email=email.strip().lower()).update(language=language)

    async def log_out(self, token: str) -> None:
        await WebSession.filter(token_hash=digest(token)).delete()

    async def add_token(self, name: str, email: str) -> str:
        """A new API token acting as `email`; the token is returned once and kept hashed."""
        user = await self._user(email)
        token = "dft_" + secrets.token_urlsafe(32)
        await ApiToken.create(
            token_hash=digest(token), name=name, user=user, created_at=self.clock.now()
        )
        return token

    async def tokens(self) -> list[dict[str, object]]:
        rows = await ApiToken.all().order_by("id").select_related("user")
        return [
            {
                "id": t.id,
                "name": t.name,
                "user": t.user.email,
                "created_at": t.created_at.isoformat(),
                "last_used_at": t.last_used_at.isoformat() if t.last_used_at else None,
                "revoked": t.revoked_at is not None,
            }
            for t in rows
        ]

    async def revoke_token(self, token_id: int) -> None:
        if not await ApiToken.filter(id=token_id).update(revoked_at=self.clock.now()):
            raise NotFoundError(f"no API token {token_id}")

    async def token_principal(self, token: str) -> Principal | None:
        found = (
            await ApiToken.filter(token_hash=digest(token), revoked_at__isnull=True)
            .select_related("user")
            .first()
        )
        if found is None or not found.user.active:
            return None
        await ApiToken.filter(id=found.id).update(last_used_at=self.clock.now())
        return principal_of(found.user)

    async def _user(self, email: str) -> User:
        user = await User.get_or_none(email=email.strip().lower())
        if user is None:
            raise NotFoundError(f"no user {email}")
        return user


def _verify(password_hash: str, password: str) -> bool:
    try:
        return bool(_HASHER.verify(password_hash, password))
    except (VerificationError, InvalidHashError):
        return False
