"""Adding, listing and looking up users; who may send drafts."""

from __future__ import annotations

from dataclasses import dataclass

from tortoise.exceptions import IntegrityError

from docflow.clock import Clock
from docflow.errors import DocflowError
from docflow.users.models import User

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
