"""The audit of what happens outside any one document: sign-ins and sign-outs, and what
admins do to users, tokens and the quarantine. Per-document events stay in the journal."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from docflow.clock import Clock
from docflow.users.models import AccessEvent

SEARCH_LIMIT = 200


class AccessLog:
    """Appends access events and finds them again."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock

    async def record(
        self,
        actor: str,
        action: str,
        *,
        source: str,
        client: str = "",
        subject: str = "",
        **detail: object,
    ) -> None:
        await AccessEvent.create(
            at=self.clock.now(),
            actor=actor,
            action=action,
            source=source,
            client=client[:100],
            subject=subject[:320],
            detail=detail,
        )

    async def search(
        self,
        *,
        actor: str = "",
        action: str = "",
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = SEARCH_LIMIT,
    ) -> list[dict[str, Any]]:
        """The latest events first, filtered by who (part of an address), what, and when."""
        query = AccessEvent.all()
        if actor:
            query = query.filter(actor__icontains=actor.strip())
        if action:
            query = query.filter(action=action.strip())
        if since is not None:
            query = query.filter(at__gte=since)
        if until is not None:
            query = query.filter(at__lt=until)
        rows = await query.order_by("-id").limit(limit)
        return [
            {
                "id": e.id,
                "at": e.at.isoformat(),
                "actor": e.actor,
                "action": e.action,
                "source": e.source,
                "client": e.client,
                "subject": e.subject,
                "detail": e.detail,
            }
            for e in rows
        ]
