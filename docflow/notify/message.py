"""Who a mail goes to and which document it is about: the values every mail is built from."""

from __future__ import annotations

from dataclasses import dataclass

from docflow.users.models import User


@dataclass(frozen=True)
class Recipient:
    """An address, the name to greet, and the language to write in (vi or en)."""

    address: str
    name: str = ""
    language: str = "vi"

    @classmethod
    def of(cls, user: User) -> Recipient:
        return cls(user.email, user.name, user.language)

    @property
    def en(self) -> bool:
        return self.language == "en"


@dataclass(frozen=True)
class DocumentRef:
    """A document as its mails name it; `thread`: the Message-IDs a new mail continues."""

    code: str
    title: str
    version: int | None = None
    thread: tuple[str, ...] = ()


@dataclass(frozen=True)
class Attachment:
    name: str
    mime: str
    data: bytes
