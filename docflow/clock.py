"""Time from one injectable place, so tests can move it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class Clock:
    """The real clock (UTC, aware datetimes)."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class FrozenClock(Clock):
    """A clock that stands still until a test moves it."""

    def __init__(self, start: datetime) -> None:
        self.current = start

    def now(self) -> datetime:
        return self.current

    def advance(self, delta: timedelta) -> datetime:
        self.current += delta
        return self.current
