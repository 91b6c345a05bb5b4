"""The IMAP reader when things go wrong: a connection lost or a server gone silent in
the middle of a command.

A real Dovecot (as in test_imap.py); what it will not do on request (drop or go
silent on a given command, hide a capability) a small proxy in front of it does
(tests/system/imap_proxy.py).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from docflow.intake import imap_client
from docflow.intake.imap import ImapIntake
from docflow.intake.models import ImapLease, ImapMessage, InboundMessage
from tests.conftest import Stack, wait_for
from tests.mailstack import DEFAULT_USERS, Mailstack, free_port
from tests.system.conftest import AUTHOR, AUTHOR_NAME
from tests.system.imap_proxy import ImapProxy
from tests.system.test_imap import (
    FLAG,
    a_draft,
    a_reader,
    folder,
    reader_settings,
    rows,
)

BOXES = [f"loi{i}@bandantoc.gov.vn" for i in range(16)]  # one a test: fresh, empty


@pytest.fixture(scope="module")
def mailstack() -> Iterator[Mailstack]:
    root = Path("/tmp") / f"docflow-mailstack-{uuid.uuid4().hex[:8]}"
    stack = Mailstack(root, docflow_lmtp_port=free_port(), users=[*DEFAULT_USERS, *BOXES])
    try:
        stack.start()
        yield stack
    finally:
        stack.cleanup()


@pytest.fixture(scope="module")
def unused_boxes() -> list[str]:
    return list(BOXES)


@pytest.fixture
def box(unused_boxes: list[str]) -> str:
    return unused_boxes.pop(0)


@pytest.fixture
async def proxies() -> AsyncIterator[Callable[..., Awaitable[ImapProxy]]]:
    """Starts proxies (ImapProxy's arguments); all are stopped after the test."""
    started: list[ImapProxy] = []

    async def start(upstream: int, **kw: Any) -> ImapProxy:
        proxy = await ImapProxy(upstream, **kw).start()
        started.append(proxy)
        return proxy

    yield start
    for proxy in started:
        await proxy.stop()


async def tick_until(
    reader: ImapIntake, probe: Callable[[], Awaitable[Any]], seconds: float, what: str
) -> Any:
    """Tick `reader` as the scheduler would, only faster, until `probe` holds."""

    async def ticked() -> Any:
        await reader.tick()
        return await probe()

    return await wait_for(ticked, seconds, what)


def logged(caplog: pytest.LogCaptureFixture, message: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.getMessage() == message]


async def flagged(mailstack: Mailstack, box: str, n: int) -> bool:
    flags = await folder(mailstack, box)
    return len(flags) == n and all(FLAG in f for f in flags.values())


# --- the connection ---------------------------------------------------------------------


@pytest.mark.parametrize("fault", ["drop", "silent"])
async def test_a_connection_lost_or_silent_while_marking_ends_the_reader_and_the_next_marks(
    stack: Stack,
    mailstack: Mailstack,
    box: str,
    fault: str,
    proxies: Callable[..., Awaitable[ImapProxy]],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """aioimaplib leaves a command waiting for ever when the connection drops or the
    server stops answering; the reader (and the lease with it) would hang for good.
    Here it ends within the timeout (1 s here), and the message, stored already, is
    only marked by the next connection: stored once, downloaded once."""
    monkeypatch.setattr(imap_client, "TIMEOUT", 1.0)
    await stack.add_user(AUTHOR, AUTHOR_NAME)
    proxy = await proxies(mailstack.imap_port, fault=fault, on="UID STORE")
    reader = a_reader(stack, replace(reader_settings(mailstack, box), port=proxy.port))
    await asyncio.to_thread(mailstack.save, box, a_draft(box, "Công văn"))
    loop = asyncio.get_running_loop()
    start = loop.time()
    try:
        await tick_until(reader, lambda: _true(reader.failures == 1), 10, "the reader's end")
        assert loop.time() - start < 5
        [failed] = logged(caplog, "imap reading failed, will retry")
        why = "the connection was lost" if fault == "drop" else "no answer within 1 s"
        assert f"UID STORE: {why}" in failed.error  # type: ignore[attr-defined]
        assert [FLAG in f for f in (await folder(mailstack, box)).values()] == [False]
        await tick_until(reader, lambda: flagged(mailstack, box, 1), 15, "the draft flagged")
    finally:
        await reader.close()
    assert proxy.faults == 1
    assert sum("BODY.PEEK[]" in c for c in proxy.commands) == 1  # not downloaded again
    assert len(await rows(InboundMessage)) == 1
    assert [r.marked_at is not None for r in await rows(ImapMessage)] == [True]


async def _true(value: bool) -> bool:
    return value


async def test_a_reader_stuck_longer_than_the_lease_is_cancelled_and_its_lease_not_renewed(
    stack: Stack,
    mailstack: Mailstack,
    box: str,
    proxies: Callable[..., Awaitable[ImapProxy]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A reader waiting on something slower than `lease_seconds` (2 s here; the server's
    30 s timeout has not run out) is cancelled by the tick, which then renews nothing;
    a new reader marks the message long before that timeout."""
    await stack.add_user(AUTHOR, AUTHOR_NAME)
    proxy = await proxies(mailstack.imap_port, fault="silent", on="UID STORE")
    settings = replace(reader_settings(mailstack, box), port=proxy.port, lease_seconds=2)
    reader = a_reader(stack, settings)
    await asyncio.to_thread(mailstack.save, box, a_draft(box, "Thông báo"))
    loop = asyncio.get_running_loop()
    start = loop.time()

    async def lease_until() -> datetime:
        return (await ImapLease.get(mailbox=reader.key)).lease_until

    async def stall_seen() -> bool:
        before = await lease_until() if await ImapLease.exists() else None
        await reader.tick()
        if not logged(caplog, "imap reader made no progress, cancelled"):
            return False
        assert await lease_until() == before  # that tick did not renew it
        return True

    try:
        await wait_for(stall_seen, 10, "the stalled reader cancelled")
        assert 2 < loop.time() - start < 5
        await tick_until(reader, lambda: flagged(mailstack, box, 1), 15, "the draft flagged")
        assert loop.time() - start < imap_client.TIMEOUT
    finally:
        await reader.close()
    [failed] = logged(caplog, "imap reading failed, will retry")
    assert "ReaderStalled" in failed.error  # type: ignore[attr-defined]
    assert len(await rows(InboundMessage)) == 1
    assert sum("BODY.PEEK[]" in c for c in proxy.commands) == 1

