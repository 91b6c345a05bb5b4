"""What an admin sees of outgoing mail: what waits, what was given up, the deliveries that
failed, and a retry of a mail given up (the admin's outbox page).

A retry puts the row back in the queue, due now, for the recipients whose delivery
failed (all of them when none is on record: the relay refused the whole message); the
caller pokes the outbox after. Recipients the relay only deferred have a row of their
own already (`Outbox._retry`), and a mail sent to some recipients is not sent again.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tortoise.transactions import in_transaction

from docflow.errors import InvalidRequestError, NotFoundError
from docflow.notify.models import DeliveryFailure, OutboxMessage, OutboxState

GIVEN_UP = (OutboxState.FAILED, OutboxState.BOUNCED)
LIMIT = 200


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def row_view(row: OutboxMessage) -> dict[str, Any]:
    return {
        "id": row.id,
        "state": row.state,
        "kind": row.kind,
        "document_code": row.document_code,
        "to": list(row.rcpt_to),
        "subject": row.subject,
        "created_at": row.created_at.isoformat(),
        "attempts": row.attempts,
        "next_attempt_at": _iso(row.next_attempt_at),
        "sent_at": _iso(row.sent_at),
        "last_error": row.last_error or "",
    }


async def counts() -> tuple[int, int]:
    """How many mails wait to be sent, and how many were given up."""
    waiting = await OutboxMessage.filter(state=OutboxState.QUEUED).count()
    return waiting, await OutboxMessage.filter(state__in=GIVEN_UP).count()


async def waiting(limit: int = LIMIT) -> list[dict[str, Any]]:
    """Mail queued (due now or retrying later), oldest first."""
    rows = await OutboxMessage.filter(state=OutboxState.QUEUED).order_by("id").limit(limit)
    return [row_view(r) for r in rows]


async def given_up(limit: int = LIMIT) -> list[dict[str, Any]]:
    """Mail the relay refused for good (failed) or whose every recipient bounced, newest first."""
    rows = await OutboxMessage.filter(state__in=GIVEN_UP).order_by("-id").limit(limit)
    return [row_view(r) for r in rows]


async def failures(limit: int = LIMIT) -> list[dict[str, Any]]:
    """Failed deliveries (bounces and relay refusals), newest first."""
    rows = await DeliveryFailure.all().order_by("-id").limit(limit)
    return [
        {
            "id": f.id,
            "outbox_id": f.outbox_id,
            "to": f.recipient,
            "document_code": f.document_code,
            "kind": f.kind,
            "at": f.at.isoformat(),
            "status": f.status,
            "diagnostic": f.diagnostic,
            "source": f.source,
        }
        for f in rows
    ]


async def retry(row_id: int, now: datetime) -> dict[str, Any]:
    """Queue a mail given up again, due `now`; InvalidRequestError for one not given up."""
    async with in_transaction() as conn:
        row = await OutboxMessage.filter(id=row_id).using_db(conn).select_for_update().first()
        if row is None:
            raise NotFoundError(f"no outgoing mail {row_id}")
        if row.state not in GIVEN_UP:
            raise InvalidRequestError(f"mail {row_id} is {row.state}, not failed: nothing to retry")
        failed = await (
            DeliveryFailure.filter(outbox_id=row.id)
            .using_db(conn)
            .values_list("recipient", flat=True)
        )
        lost = {str(a).lower() for a in failed}
        again = [a for a in row.rcpt_to if a.lower() in lost] or list(row.rcpt_to)
        row.state = OutboxState.QUEUED
        row.rcpt_to = again
        row.attempts = 0
        row.next_attempt_at = now
        row.lease_until = None
        await row.save(
            using_db=conn,
            update_fields=["state", "rcpt_to", "attempts", "next_attempt_at", "lease_until"],
        )
    return row_view(row)
