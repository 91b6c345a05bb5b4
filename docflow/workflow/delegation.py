"""Delegations: while one runs, a user's new tasks go to their delegate."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

from docflow.clock import Clock
from docflow.errors import DocflowError, NotFoundError
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
        if not delegate.active:
            raise DocflowError(f"{delegate.email} is not an active user")
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

    async def of(self, email: str) -> list[Delegation]:
        """`email`'s delegations running now or to come, soonest first, with the delegate
        (not those ended early, before they began)."""
        rows = (
            await Delegation.filter(user__email=email.strip().lower(), ends_at__gt=self.clock.now())
            .order_by("starts_at", "id")
            .prefetch_related("delegate")
        )
        return [d for d in rows if d.ends_at > d.starts_at]

    async def to(self, email: str) -> list[Delegation]:
        """The delegations made to `email`, running now or to come, with whose they are."""
        rows = (
            await Delegation.filter(
                delegate__email=email.strip().lower(), ends_at__gt=self.clock.now()
            )
            .order_by("starts_at", "id")
            .prefetch_related("user")
        )
        return [d for d in rows if d.ends_at > d.starts_at]

    async def end(self, delegation_id: int, email: str) -> Delegation:
        """End `email`'s delegation now: a running one stops here, one to come never runs.
        Tasks it already routed stay with the delegate."""
        now = self.clock.now()
        found = await Delegation.get_or_none(
            id=delegation_id, user__email=email.strip().lower(), ends_at__gt=now
        ).prefetch_related("delegate")
        if found is None or found.ends_at <= found.starts_at:
            raise NotFoundError(f"no delegation {delegation_id} of {email} in force or to come")
        found.ends_at = max(now, found.starts_at)
        await found.save(update_fields=["ends_at"])
        return found

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
