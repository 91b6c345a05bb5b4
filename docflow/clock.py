"""Time from one injectable place, so tests can move it."""

from __future__ import annotations

from datetime import UTC, datetime


class Clock:
    """The real clock (UTC, aware datetimes)."""

    def now(self) -> datetime:
        return datetime.now(UTC)
