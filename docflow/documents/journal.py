"""A document's journal: its audit trail and the Message-IDs of its mail thread.

Everything that acts on a document writes here (intake, the workflow stages,
bounces, reminders, issuing, the archive), always inside the caller's
transaction, so an event commits with the change it records or not at all.
"""

from __future__ import annotations

from tortoise.backends.base.client import BaseDBAsyncClient

from docflow.clock import Clock
from docflow.documents.models import AuditEvent, Document, ThreadMessage, Version, VersionFile

THREAD_DEPTH = 10  # Message-IDs a new mail of the thread refers to (the latest ones)


class Journal:
    """Writes and reads a document's audit events and thread."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock

    async def record(
        self,
        conn: BaseDBAsyncClient | None,
        doc: Document,
        actor: str,
        action: str,
        source: str,
        version: int | None = None,
        stage: str | None = None,
        detail: dict[str, object] | None = None,
        on_behalf_of: str | None = None,
    ) -> None:
        """One audit event: who did what to the document, from where (mail, link, cli…)."""
        await AuditEvent.create(
            document=doc,
            at=self.clock.now(),
            actor=actor,
            on_behalf_of=on_behalf_of,
            action=action,
            source=source,
            version_number=version,
            stage_key=stage,
            detail=detail or {},
            using_db=conn,
        )

    async def remember(
        self, conn: BaseDBAsyncClient | None, doc: Document, message_id: str, direction: str
    ) -> None:
        """Mail naming this Message-ID in In-Reply-To/References belongs to `doc`."""
        await ThreadMessage.create(
            document=doc, message_id=message_id[:255], direction=direction, using_db=conn
        )

    async def thread(self, conn: BaseDBAsyncClient | None, doc: Document) -> list[str]:
        """The latest Message-IDs of the document's thread, oldest first."""
        rows = await ThreadMessage.filter(document=doc).using_db(conn).order_by("id")
        return [r.message_id for r in rows][-THREAD_DEPTH:]

    async def files(
        self, conn: BaseDBAsyncClient | None, doc: Document, version: int
    ) -> list[tuple[int, str, int]]:
        """A version's files as (position, name, size), in order."""
        v = await Version.filter(document=doc, number=version).using_db(conn).get()
        rows = await VersionFile.filter(version=v).using_db(conn).order_by("position")
        return [(f.position, f.name, f.size) for f in rows]

    async def events(self, document_id: int) -> list[dict[str, object]]:
        """The audit trail of a document, oldest first, as the API and pages show it."""
        rows = await AuditEvent.filter(document_id=document_id).order_by("id")
        return [audit_view(e) for e in rows]


def audit_view(e: AuditEvent) -> dict[str, object]:
    return {
        "at": e.at.isoformat(),
        "actor": e.actor,
        "on_behalf_of": e.on_behalf_of,
        "action": e.action,
        "source": e.source,
        "version": e.version_number,
        "stage": e.stage_key,
        "detail": e.detail,
    }
