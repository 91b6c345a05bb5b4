"""Delegations: while one runs, a user's new tasks go to their delegate."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

from docflow.clock import Clock
from docflow.errors import DocflowError
from docflow.users.models import User
from docflow.workflow.models import Delegation

CAPACITIES = ("KT", "TUQ", "TL")


class DelegationService:
    """Adding, listing and finding the delegations in force."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock

    async def add(
        self, email: str, delegate_email: str, starts: datetime, ends: datetime, capacity: str
    ) -> Delegation:
        capacity = capacity.strip().upper().rstrip(".")
        if capacity not in CAPACITIES:
            raise DocflowError(f"capacity must be one of {', '.join(CAPACITIES)}")
        if ends <= starts:
            raise DocflowError("a delegation must end after it starts")
        user = await User.get_or_none(email=email.strip().lower())
        delegate = await User.get_or_none(email=delegate_email.strip().lower())
        if user is None or delegate is None:
            raise DocflowError(f"no user {email if user is None else delegate_email}")
        if user.id == delegate.id:
            raise DocflowError("a user cannot delegate to themselves")
        return await Delegation.create(
            user=user,
            delegate=delegate,
            capacity=capacity,
            starts_at=starts,
            ends_at=ends,
            created_at=self.clock.now(),
        )

    async def all(self) -> list[dict[str, Any]]:
        rows = await Delegation.all().order_by("starts_at").prefetch_related("user", "delegate")
        return [
            {
                "user": d.user.email,
                "delegate": d.delegate.email,
                "capacity": d.capacity,
                "from": d.starts_at.isoformat(),
                "until": d.ends_at.isoformat(),
            }
            for d in rows
        ]

    async def in_force(self, conn: BaseDBAsyncClient, users: list[User]) -> dict[int, Delegation]:
        """The delegation running now for each of `users` that has one (the latest made)."""
        now = self.clock.now()
        rows = (
            await Delegation.filter(
                user_id__in=[u.id for u in users], starts_at__lte=now, ends_at__gt=now
            )
            .using_db(conn)
            .order_by("created_at")
            .prefetch_related("delegate")
        )
        return {d.user_id: d for d in rows if d.delegate.active}
