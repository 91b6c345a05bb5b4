"""Fixtures for the integration tests: docflow with a clock the test moves."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from docflow.clock import FrozenClock
from docflow.config import Settings
from tests.conftest import Relay, Stack, make_settings

DAY = timedelta(days=1)


class ClockedStack(Stack):
    """The stack, with time from a clock the test moves."""

    clock: FrozenClock

    def __init__(self, settings: Settings, relay: Relay, clock: FrozenClock) -> None:
        super().__init__(settings, relay, clock)

    async def sweep(self) -> tuple[int, int]:
        result = await self.services.reminders.sweep()
        await self.settled()
        return result


@pytest.fixture
async def clocked(database_url: str, relay: Relay, tmp_path: Path) -> AsyncIterator[ClockedStack]:
    clock = FrozenClock(datetime.now(UTC).replace(microsecond=0))
    s = ClockedStack(make_settings(tmp_path / "data", database_url, relay.port), relay, clock=clock)
    await s.start()
    yield s
    await s.stop()
