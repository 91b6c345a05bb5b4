"""Reply addresses of task mails: `LOCAL+t-TOKEN@DOMAIN` of the intake address, the
token random and handed out once (in the task mail's `Reply-To`), the database keeping
only its hash, bound to the task and to whom it was mailed (as decision links are)."""

from __future__ import annotations

import base64
import secrets

from tortoise.backends.base.client import BaseDBAsyncClient

from docflow.clock import Clock
from docflow.intake.routing import IntakeAddresses
from docflow.workflow.links import token_hash
from docflow.workflow.models import ReplyToken, Task


def new_token() -> str:
    """128 random bits as 26 lowercase base32 letters and digits: an address's local part
    may be lowercased on the way, and must stay short (64 characters at most)."""
    return base64.b32encode(secrets.token_bytes(16)).decode("ascii").rstrip("=").lower()


class ReplyAddresses:
    """Issues and finds reply addresses; `enabled` only when a reply can be authenticated
    (`intake.trusted_authserv_id` or `intake.verify_dkim`): otherwise no reply could
    count, and a task mail offering one would mislead its reader."""

    def __init__(self, clock: Clock, addresses: IntakeAddresses, enabled: bool) -> None:
        self.clock = clock
        self.addresses = addresses
        self.enabled = enabled

    async def issue(self, conn: BaseDBAsyncClient, task: Task) -> str | None:
        """A fresh reply address for the task's assignee; None when replies are off.

        The token exists only in what this returns and the mail it goes into.
        """
        if not self.enabled:
            return None
        token = new_token()
        await ReplyToken.create(
            token_hash=token_hash(token),
            task=task,
            recipient_id=task.assignee_id,
            created_at=self.clock.now(),
            using_db=conn,
        )
        return self.address(token)

    def address(self, token: str) -> str:
        return self.addresses.reply_address(token)

    async def find(self, token: str) -> ReplyToken | None:
        """The reply address of `token`, with its task (and the task's document, its
        author and assignee) and its recipient."""
        return (
            await ReplyToken.filter(token_hash=token_hash(token.strip().lower()))
            .select_related("task__document__author", "task__assignee", "recipient")
            .first()
        )
