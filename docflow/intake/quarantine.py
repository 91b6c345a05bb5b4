"""Reading the quarantine: refused messages with their reason, raw bytes kept in the spool."""

from __future__ import annotations

from typing import Any

from docflow.errors import NotFoundError
from docflow.intake.models import InboundMessage, InboundState


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
