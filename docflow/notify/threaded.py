"""Mail about a document, in the document's thread: queued and remembered together.

Whatever mails about a document (the workflow's notices, intake's receipts,
bounces, reminders, issuing) sends through here, inside its own transaction: the
mail is queued in the outbox and its Message-ID remembered in the document's
journal, so a reply to it finds the document, and both commit with the change
that caused the mail or not at all.
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from email.message import Message

from tortoise.backends.base.client import BaseDBAsyncClient

from docflow.documents.journal import Journal
from docflow.documents.models import Document
from docflow.notify.message import DocumentRef
from docflow.notify.outbox import Outbox


class ThreadedMailer:
    """Queues a document's mail and keeps its thread; shows times as the office's clocks."""

    def __init__(self, outbox: Outbox, journal: Journal, timezone: tzinfo) -> None:
        self.outbox = outbox
        self.journal = journal
        self.timezone = timezone

    async def send(self, conn: BaseDBAsyncClient, doc: Document, msg: Message, kind: str) -> None:
        """Queue `msg` (an outbox `kind`) and remember it as part of the document's thread."""
        await self.outbox.enqueue(conn, msg, kind, doc.code)
        await self.journal.remember(conn, doc, str(msg["Message-ID"]).strip("<>"), "out")

    async def ref(
        self, conn: BaseDBAsyncClient | None, doc: Document, version: int | None = None
    ) -> DocumentRef:
        """The document as its mails name it, with the thread a new mail continues."""
        return DocumentRef(
            doc.code, doc.title, version, tuple(await self.journal.thread(conn, doc))
        )

    def local_time(self, t: datetime) -> str:
        """As the office's clocks show it (org.timezone)."""
        return t.astimezone(self.timezone).strftime("%d/%m/%Y %H:%M")
