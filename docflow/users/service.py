"""Adding, listing and looking up users; who may send drafts."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from docflow.clock import Clock
from docflow.errors import DocflowError, NotFoundError
from docflow.users.models import User
from docflow.users.roles import role_name

LANGUAGES = ("vi", "en")


@dataclass(frozen=True)
class UserView:
    email: str
    name: str
    roles: list[str]
    language: str
    active: bool


def view(user: User) -> UserView:
    return UserView(user.email, user.name, list(user.roles), user.language, user.active)


class UserService:
    """Users are keyed by lowercased e-mail address."""

    def __init__(self, clock: Clock, allowed_domains: tuple[str, ...] = ()) -> None:
        self.clock = clock
        self.allowed_domains = allowed_domains

    async def add(self, email: str, name: str, roles: list[str], language: str = "vi") -> UserView:
        email = email.strip().lower()
        if "@" not in email or email.startswith("@") or email.endswith("@"):
            raise DocflowError(f"not an e-mail address: {email!r}")
        if language not in LANGUAGES:
            raise DocflowError(f"language must be one of {LANGUAGES}")
        roles = [role_name(r) for r in roles]
        try:
            user = await User.create(
                email=email,
                name=name.strip(),
                roles=sorted(set(roles)),
                language=language,
                created_at=self.clock.now(),
            )
        except IntegrityError:
            raise DocflowError(f"a user {email} exists already") from None
        return view(user)

    # --- roles: what `role:NAME` in a workflow stage resolves to ------------------------

    async def add_role(self, email: str, role: str) -> UserView:
        """Give a user a role (nothing changes when they hold it already)."""
        role = role_name(role)
        return await self._change_roles(email, lambda roles: roles | {role})

    async def remove_role(self, email: str, role: str) -> UserView:
        """Take a role away; an error when the user does not hold it (likely a typo)."""
        role = role.strip()

        def without(roles: set[str]) -> set[str]:
            if role not in roles:
                raise DocflowError(f"{email.strip().lower()} does not have the role {role!r}")
            return roles - {role}

        return await self._change_roles(email, without)

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
                user.roles = roles
                await user.save(update_fields=["roles"])
        return view(user)

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
                    "name": display_name or email,
                    "roles": ["staff"],
                    "created_at": self.clock.now(),
                },
            )
            return user
        return None
