"""Decision links: random tokens handed out once, in mail; the database keeps only hashes."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta

from tortoise.backends.base.client import BaseDBAsyncClient

from docflow.clock import Clock
from docflow.workflow.models import LinkToken, Task, TaskState
from docflow.workflow.queries import link_by_hash

OPEN = "open"
APPROVE = "approve"
CHANGES = "changes"
REJECT = "reject"
DECISIONS = (APPROVE, CHANGES, REJECT)
LIFETIME = timedelta(days=14)
CODE_ATTEMPTS = 5  # guesses at a one-time code before it is locked


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class LinkProblem(Exception):
    """Why a link cannot act: `reason` is a key of the decision pages' PROBLEMS."""

    def __init__(self, reason: str, link: LinkToken | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.link = link


class Links:
    """Issues and checks links; `csrf` binds a form to the link that showed it."""

    def __init__(self, clock: Clock, secret: bytes, base_url: str) -> None:
        self.clock = clock
        self.secret = secret
        self.base_url = base_url

    def url(self, token: str) -> str:
        return f"{self.base_url}/t/{token}"

    async def issue(
        self, conn: BaseDBAsyncClient, task: Task, lifetime: timedelta = LIFETIME
    ) -> dict[str, str]:
        """One link per action (open, approve, changes, reject) → its URL.

        The tokens exist only in what this returns and the mail it goes into.
        """
        now = self.clock.now()
        urls: dict[str, str] = {}
        for name, actions in (
            (OPEN, ",".join(DECISIONS)),
            (APPROVE, APPROVE),
            (CHANGES, CHANGES),
            (REJECT, REJECT),
        ):
            token = secrets.token_urlsafe(32)
            await LinkToken.create(
                token_hash=token_hash(token),
                task=task,
                recipient_id=task.assignee_id,
                actions=actions,
                created_at=now,
                expires_at=now + lifetime,
                using_db=conn,
            )
            urls[name] = self.url(token)
        return urls

    async def find(self, token: str, conn: BaseDBAsyncClient | None = None) -> LinkToken:
        """The link for `token` if it may still act, else LinkProblem saying why.

        The task, its document and the document's author, the assignee and the
        recipient come with it, in one joined query.
        """
        link = await link_by_hash(conn, token_hash(token))
        if link is None:
            raise LinkProblem("unknown")
        if link.task.state == TaskState.SUPERSEDED or link.task.state == TaskState.CANCELLED:
            raise LinkProblem("superseded", link)
        if link.used_at is not None or link.task.state != TaskState.OPEN:
            raise LinkProblem("used", link)
        if link.expires_at <= self.clock.now():
            raise LinkProblem("expired", link)
        return link

    @staticmethod
    def hash(token: str) -> str:
        return token_hash(token)

    def csrf(self, token: str) -> str:
        return hmac.new(
            self.secret, b"csrf:" + token_hash(token).encode(), hashlib.sha256
        ).hexdigest()

    def csrf_ok(self, token: str, value: str) -> bool:
        return hmac.compare_digest(self.csrf(token), value)

    @staticmethod
    def new_code() -> str:
        """A six-digit one-time code, for stages that ask for one (`require_code`)."""
        return f"{secrets.randbelow(10**6):06d}"

    def code_digest(self, task_id: int, code: str) -> str:
        """What the database keeps of a task's code: keyed, so a copy of the table
        does not give the code away by trying all million."""
        message = f"code:{task_id}:{code.strip()}".encode()
        return hmac.new(self.secret, message, hashlib.sha256).hexdigest()
