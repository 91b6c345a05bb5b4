"""Adding, listing and looking up users; who may send drafts."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from docflow.clock import Clock
from docflow.errors import DocflowError, NotFoundError
from docflow.users.models import User
from docflow.users.roles import role_name

LANGUAGES = ("vi", "en")
ADMIN = "admin"


class UserProblem(DocflowError):
    """Why a change to a user was refused: `reason` names it for a page to say in its
    language (`not_an_address`, `language`, `exists`, `bad_role`, `role_not_held`,
    `last_admin`, `no_name`), `subject` is what it is about."""

    def __init__(self, reason: str, subject: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.subject = subject


def _role(role: str) -> str:
    try:
        return role_name(role)
    except DocflowError as e:
        raise UserProblem("bad_role", role.strip(), str(e)) from None


def _language(language: str) -> str:
    if language not in LANGUAGES:
        raise UserProblem("language", language, f"language must be one of {LANGUAGES}")
    return language


@dataclass(frozen=True)
class UserView:
    email: str
    name: str
    roles: list[str]
    language: str
    active: bool


def view(user: User) -> UserView:
    return UserView(user.email, user.name, list(user.roles), user.language, user.active)


def _nfc(text: str) -> str:
    """Names are stored composed (NFC): a name typed decomposed is the same name."""
    return unicodedata.normalize("NFC", text)


class UserService:
    """Users are keyed by lowercased e-mail address."""

    def __init__(self, clock: Clock, allowed_domains: tuple[str, ...] = ()) -> None:
        self.clock = clock
        self.allowed_domains = allowed_domains

    async def add(self, email: str, name: str, roles: list[str], language: str = "vi") -> UserView:
        email = _nfc(email).strip().lower()
        if "@" not in email or email.startswith("@") or email.endswith("@"):
            raise UserProblem("not_an_address", email, f"not an e-mail address: {email!r}")
        _language(language)
        roles = [_role(r) for r in roles]
        try:
            user = await User.create(
                email=email,
                name=_nfc(name).strip(),
                roles=sorted(set(roles)),
                language=language,
                created_at=self.clock.now(),
            )
        except IntegrityError:
            raise UserProblem("exists", email, f"a user {email} exists already") from None
        return view(user)

    # --- roles: what `role:NAME` in a workflow stage resolves to ------------------------

    async def add_role(self, email: str, role: str) -> UserView:
        """Give a user a role (nothing changes when they hold it already)."""
        role = _role(role)
        return await self._change_roles(email, lambda roles: roles | {role})

    async def remove_role(self, email: str, role: str) -> UserView:
        """Take a role away; an error when the user does not hold it (likely a typo)."""
        role = role.strip()

        def without(roles: set[str]) -> set[str]:
            if role not in roles:
                raise UserProblem(
                    "role_not_held",
                    role,
                    f"{email.strip().lower()} does not have the role {role!r}",
                )
            return roles - {role}

        return await self._change_roles(email, without)

    async def set_roles(self, email: str, roles: list[str]) -> UserView:
        """Replace a user's roles by `roles` (the API's PATCH)."""
        wanted = {_role(r) for r in roles}
        return await self._change_roles(email, lambda _: wanted)

    async def _change_roles(self, email: str, change: Callable[[set[str]], set[str]]) -> UserView:
        email = email.strip().lower()
        # roles are one JSON column: lock the row so that two changes at once both stick
        # (SQLite has no FOR UPDATE; its write transactions are serialised anyway)
        async with in_transaction():
            user = await User.select_for_update().get_or_none(email=email)
            if user is None:
                raise NotFoundError(f"no user {email}")
            roles = sorted(change(set(user.roles)))
            if roles != sorted(user.roles):
                if user.active and ADMIN in user.roles and ADMIN not in roles:
                    await self._another_admin(user)
                user.roles = roles
                await user.save(update_fields=["roles"])
        return view(user)

    # --- an account's state: active, language ---------------------------------------------

    async def set_active(self, email: str, active: bool) -> UserView:
        """Deactivate (no sign-in, no drafts, tokens stop working) or reactivate a user.

        The last active admin stays: docflow would have nobody to manage it on the web.
        """
        email = email.strip().lower()
        async with in_transaction():
            user = await User.select_for_update().get_or_none(email=email)
            if user is None:
                raise NotFoundError(f"no user {email}")
            if user.active != active:
                if not active and ADMIN in user.roles:
                    await self._another_admin(user)
                user.active = active
                await user.save(update_fields=["active"])
        return view(user)

    async def set_language(self, email: str, language: str) -> UserView:
        """The language of a user's pages and of the mail docflow sends them."""
        _language(language)
        user = await self._user(email)
        if user.language != language:
            user.language = language
            await user.save(update_fields=["language"])
        return view(user)

    async def set_name(self, email: str, name: str) -> UserView:
        """The full name, as mail and pages show it."""
        if not name.strip():
            raise UserProblem("no_name", email, "a user needs a name")
        user = await self._user(email)
        user.name = _nfc(name).strip()
        await user.save(update_fields=["name"])
        return view(user)

    async def find(self, email: str) -> UserView:
        """One user, or NotFoundError."""
        return view(await self._user(email))

    async def _user(self, email: str) -> User:
        user = await self.get(email)
        if user is None:
            raise NotFoundError(f"no user {email.strip().lower()}")
        return user

    async def _another_admin(self, user: User) -> None:
        others = await User.filter(active=True).exclude(id=user.id)
        if not any(ADMIN in u.roles for u in others):
            raise UserProblem(
                "last_admin",
                user.email,
                f"{user.email} is the last active admin; make someone else admin first",
            )

    async def roles(self) -> dict[str, list[str]]:
        """Each role held by an active user → those users' e-mail addresses, sorted."""
        out: dict[str, list[str]] = {}
        for user in await User.filter(active=True).order_by("email"):
            for role in user.roles:
                out.setdefault(role, []).append(user.email)
        return dict(sorted(out.items()))

    async def with_role(self, role: str) -> list[User]:
        """The active users holding `role`, by e-mail (whom a `role:NAME` stage assigns)."""
        # filtered here, not in SQL: JSON containment differs between SQLite and
        # PostgreSQL, and an organisation's staff is a few hundred rows at most
        users = await User.filter(active=True).order_by("email")
        return [u for u in users if role in u.roles]

    async def list(self) -> list[UserView]:
        return [view(u) for u in await User.all().order_by("email")]

    async def get(self, email: str) -> User | None:
        return await User.get_or_none(email=email.strip().lower())

    async def sender(self, email: str, display_name: str) -> User | None:
        """The user a mail from `email` is authored by, or None when they may not send.

        Active users may send; so may anyone of an allowed domain, who becomes a user
        on their first draft (so that documents always have an author record).
        """
        email = email.strip().lower()
        if not email:
            return None
        user = await User.get_or_none(email=email)
        if user is not None:
            return user if user.active else None
        domain = email.rpartition("@")[2]
        if domain in self.allowed_domains:
            user, _ = await User.get_or_create(
                email=email,
                defaults={
                    "name": _nfc(display_name) or email,
                    "roles": ["staff"],
                    "created_at": self.clock.now(),
                },
            )
            return user
        return None
