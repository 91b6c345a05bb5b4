"""The quarantine: refused messages with their reason, raw bytes kept in the spool.

Most entries are made by processing (`IntakeService`); `hold` puts a message there
directly, for what cannot go the normal way (IMAP: a message too large to download,
or one whose storing keeps failing), so that it is neither lost nor retried for ever.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from tortoise.transactions import in_transaction

from docflow.errors import NotFoundError
from docflow.intake.analysis import read_header_bytes
from docflow.intake.models import InboundMessage, InboundState
from docflow.intake.service import Recorder
from docflow.intake.spool import Spool


def entry_view(row: InboundMessage) -> dict[str, Any]:
    return {
        "id": row.id,
        "received_at": row.received_at.isoformat(),
        "from": row.from_addr or row.mail_from,
        "subject": row.subject,
        "message_id": row.message_id,
        "reason": row.reason,
        "detail": row.detail,
        "attempts": row.attempts,
        "size": row.size,
        "spool_name": row.spool_name,
    }


async def list_entries(limit: int = 100) -> list[dict[str, Any]]:
    rows = await InboundMessage.filter(state=InboundState.QUARANTINED).order_by("-id").limit(limit)
    return [entry_view(r) for r in rows]


async def get_entry(inbound_id: int) -> InboundMessage:
    row = await InboundMessage.get_or_none(id=inbound_id, state=InboundState.QUARANTINED)
    if row is None:
        raise NotFoundError(f"no quarantine entry {inbound_id}")
    return row


def _text(value: str, limit: int) -> str:
    """What any database's text column holds: no NUL, no lone surrogate (often why
    the message failed in the first place)."""
    return value.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")[:limit]


async def hold(
    spool: Spool,
    when: datetime,
    raw: bytes,
    *,
    source: str,
    reason: str,
    detail: str,
    mail_from: str = "",
    rcpt_tos: Sequence[str] = (),
    also: Recorder | None = None,
) -> int:
    """Store `raw` straight into the quarantine (never processed, never answered); its id.

    `also` writes the caller's row in the same transaction, as for `IntakeService.receive`.
    """
    entry = await spool.write(raw, when)
    try:
        head = await asyncio.to_thread(read_header_bytes, raw)
        async with in_transaction() as conn:
            row = await InboundMessage.create(
                spool_name=entry.name,
                sha256=entry.sha256,
                size=entry.size,
                source=source,
                mail_from=_text(mail_from, 998),
                rcpt_tos=[_text(a, 320) for a in rcpt_tos],
                received_at=when,
                state=InboundState.QUARANTINED,
                reason=reason,
                detail=_text(detail, 4000),
                message_id=_text(head.message_id, 998),
                from_addr=_text(head.from_addr, 320),
                subject=_text(head.subject, 1000),
                processed_at=when,
                using_db=conn,
            )
            if also is not None:
                await also(conn, row.id)
    except BaseException:
        await asyncio.to_thread(spool.remove, entry.name)
        raise
    return row.id
