"""The IMAP reader when things go wrong: a connection lost or a server gone silent in
the middle of a command, a message that cannot be stored or is too large, a server
without MOVE or UIDPLUS, and a processed flag that people reading the mailbox set.

A real Dovecot (as in test_imap.py); what it will not do on request (drop or go
silent on a given command, hide a capability) a small proxy in front of it does
(tests/system/imap_proxy.py).
"""

from __future__ import annotations

import asyncio
import logging
import subprocess
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from docflow.errors import InvalidRequestError
from docflow.intake import imap_client, quarantine
from docflow.intake.imap import ImapIntake
from docflow.intake.imap_client import ImapSession
from docflow.intake.models import ImapLease, ImapMessage, InboundMessage
from tests.conftest import Relay, Stack, wait_for
from tests.mailstack import DEFAULT_USERS, Mailstack, running
from tests.system.conftest import AUTHOR, AUTHOR_NAME
from tests.system.imap_proxy import ImapProxy
from tests.system.test_imap import (
    FLAG,
    PROCESSED,
    a_draft,
    a_reader,
    fetched_bodies,
    folder,
    polling_stack,
    reader_settings,
    rows,
)

BOXES = [f"loi{i}@bandantoc.gov.vn" for i in range(16)]  # one a test: fresh, empty


@pytest.fixture(scope="module")
def mailstack() -> Iterator[Mailstack]:
    with running(users=[*DEFAULT_USERS, *BOXES]) as stack:
        yield stack


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


# --- servers without MOVE ---------------------------------------------------------------


def doveadm_flag_deleted(stack: Mailstack, user: str, uid: int) -> None:
    subprocess.run(
        ["doveadm", "-c", str(stack.dovecot_conf), "flags", "add", "-u", user, "\\Deleted",
         "mailbox", "INBOX", "uid", str(uid)],
        check=True, capture_output=True, timeout=30,
    )  # fmt: skip


@pytest.mark.parametrize("uidplus", [True, False])
async def test_without_move_a_handled_message_is_copied_and_no_one_elses_is_expunged(
    stack: Stack,
    mailstack: Mailstack,
    box: str,
    uidplus: bool,
    proxies: Callable[..., Awaitable[ImapProxy]],
) -> None:
    """COPY, \\Deleted, then UID EXPUNGE of that UID alone with UIDPLUS; without it no
    EXPUNGE at all (it would take a message someone else flagged \\Deleted along): the
    original stays flagged, and is not read again."""
    await stack.add_user(AUTHOR, AUTHOR_NAME)
    hide = ("MOVE",) if uidplus else ("MOVE", "UIDPLUS")
    proxy = await proxies(mailstack.imap_port, hide=hide)
    env = {"DOCFLOW_IMAP_PROCESSED_FOLDER": PROCESSED}
    settings = replace(reader_settings(mailstack, box, **env), port=proxy.port)
    await asyncio.to_thread(mailstack.save, box, a_draft(box, "Thư cũ", attach=False))
    await asyncio.to_thread(doveadm_flag_deleted, mailstack, box, 1)  # someone else's
    await asyncio.to_thread(mailstack.save, box, a_draft(box, "Tờ trình"))
    reader = a_reader(stack, settings)
    reader.lease.until = float("inf")
    session = await ImapSession.open(settings)
    try:
        assert not session.has("MOVE") and session.has("UIDPLUS") == uidplus
        await session.ensure_folder(PROCESSED)
        assert await reader.cycle(session) == 1
        assert await reader.cycle(session) == 0  # the flagged original is not read again
    finally:
        await session.close()
    assert len(await folder(mailstack, box, PROCESSED)) == 1
    inbox = await folder(mailstack, box)
    assert "\\Deleted" in inbox[1]  # the other message is still there
    if uidplus:
        assert list(inbox) == [1]
        assert "UID EXPUNGE 2" in [c.upper() for c in proxy.commands]
    else:
        assert list(inbox) == [1, 2] and "\\Deleted" in inbox[2]
        assert not any("EXPUNGE" in c.upper() for c in proxy.commands)
    assert len(await rows(InboundMessage)) == 1


# --- messages ---------------------------------------------------------------------------


async def test_a_message_that_cannot_be_stored_holds_up_no_other_and_is_quarantined_third_time(
    database_url: str,
    relay: Relay,
    tmp_path: Path,
    mailstack: Mailstack,
    box: str,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Storing fails for the first message (the lowest UID, first in every cycle): the
    second is stored and marked all the same; the first is tried in the next cycles and
    at the third failure stored in the quarantine as it is, and marked."""
    s = await polling_stack(database_url, relay, tmp_path, mailstack, box)
    try:
        intake = s.services.intake
        receive = intake.receive

        async def failing(raw: bytes, *args: Any, **kw: Any) -> int:
            if b"X-Test-Fault: yes" in raw:
                raise RuntimeError("the disk is on fire")
            return await receive(raw, *args, **kw)

        monkeypatch.setattr(intake, "receive", failing)
        tag = uuid.uuid4().hex[:6]
        bad = a_draft(box, f"Hỏng {tag}").replace(b"Subject:", b"X-Test-Fault: yes\nSubject:", 1)
        await asyncio.to_thread(mailstack.save, box, bad)
        assert list(await folder(mailstack, box)) == [1]  # (UID given before the next save)
        await asyncio.to_thread(mailstack.save, box, a_draft(box, f"Tốt {tag}"))

        async def second_flagged() -> bool:
            return FLAG in (await folder(mailstack, box)).get(2, set())

        await wait_for(second_flagged, 15, "the second message flagged")
        await wait_for(lambda: flagged(mailstack, box, 2), 15, "the first one flagged too")
        await s.settled()
        [held] = await rows(InboundMessage, reason="imap_failed")
        assert held.state == "quarantined" and "the disk is on fire" in (held.detail or "")
        assert held.subject == f"Hỏng {tag}" and held.from_addr == AUTHOR
        assert b"X-Test-Fault: yes" in await s.services.spool.read(held.spool_name)
        assert [d["title"] for d in await s.documents()] == [f"Tốt {tag}"]
        assert len(relay.to(AUTHOR)) == 1  # the receipt; the quarantined one is not answered
    finally:
        await s.stop()
    retries = logged(caplog, "imap message not stored, will retry")
    assert [(r.uid, r.attempt) for r in retries] == [(1, 1), (1, 2)]  # type: ignore[attr-defined]
    assert len(logged(caplog, "imap message quarantined")) == 1
    await wait_for(  # downloaded three times, the other once, and then never again
        lambda: asyncio.to_thread(lambda: sum(fetched_bodies(mailstack, box)) == 4), 10, "logout"
    )


async def test_a_message_over_the_size_limit_is_quarantined_undownloaded_and_marked(
    database_url: str, relay: Relay, tmp_path: Path, mailstack: Mailstack, box: str
) -> None:
    """smtp.max_message_size holds for IMAP too: RFC822.SIZE is asked first; a larger
    message leaves a note with its header fields in the quarantine (`too_large`)."""
    env = {"DOCFLOW_MAX_MESSAGE_SIZE": "20000"}
    s = await polling_stack(database_url, relay, tmp_path, mailstack, box, **env)
    try:
        tag = uuid.uuid4().hex[:6]
        big = a_draft(box, f"Lớn {tag}")  # a .docx: some 40 kB
        assert len(big) > 20000
        await asyncio.to_thread(mailstack.save, box, big)
        await asyncio.to_thread(mailstack.save, box, a_draft(box, f"Nhỏ {tag}", attach=False))
        await wait_for(lambda: flagged(mailstack, box, 2), 20, "both flagged")
        await s.settled()
        [held] = await rows(InboundMessage, reason="too_large")
        assert held.state == "quarantined" and held.source == "imap"
        assert held.subject == f"Lớn {tag}" and held.from_addr == AUTHOR
        assert "over smtp.max_message_size (20000)" in (held.detail or "")
        note = await s.services.spool.read(held.spool_name)
        assert b"did not download this message" in note and len(note) < 5000
        [small] = await rows(InboundMessage, reason="no_attachment")  # the other, processed
        assert small.subject == f"Nhỏ {tag}"
        with pytest.raises(InvalidRequestError, match="never downloaded"):
            await s.services.intake.release(held.id)  # the note is not the message
    finally:
        await s.stop()
    await wait_for(
        lambda: asyncio.to_thread(lambda: sum(fetched_bodies(mailstack, box)) >= 1), 10, "logout"
    )
    assert sum(fetched_bodies(mailstack, box)) == 1  # only the small one was downloaded


async def test_the_quarantine_holds_a_message_whose_header_fields_a_database_cannot(
    stack: Stack,
) -> None:
    """What made storing fail (here a NUL byte, which PostgreSQL text refuses) must not
    make the quarantine fail too: the fields shown are cleaned, the bytes kept as they are."""
    raw = (
        b"From: T\x00ac gia <thu.lt\x00@bandantoc.gov.vn>\r\nSubject: B\x00ao cao\r\n"
        b"Message-ID: <nul@bandantoc.gov.vn>\r\n\r\nN\x00oi dung\r\n"
    )
    inbound_id = await quarantine.hold(
        stack.services.spool, datetime.now(UTC), raw, source="imap", reason="imap_failed",
        detail="ValueError: \x00", mail_from="thu.lt\x00@bandantoc.gov.vn",
    )  # fmt: skip
    row = await InboundMessage.get(id=inbound_id)
    assert row.state == "quarantined" and row.reason == "imap_failed"
    shown = (row.from_addr, row.subject, row.mail_from, row.detail or "", row.message_id)
    assert not any("\x00" in f for f in shown)
    assert row.message_id == "nul@bandantoc.gov.vn"
    assert await stack.services.spool.read(row.spool_name) == raw


# --- settings -----------------------------------------------------------------------------


async def test_seen_as_the_processed_flag_is_warned_about_at_start_up(
    database_url: str,
    relay: Relay,
    tmp_path: Path,
    mailstack: Mailstack,
    box: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Someone opening a message in webmail before docflow polls marks it \\Seen: with
    \\Seen as the processed flag, docflow would never read it."""
    env = {"DOCFLOW_IMAP_PROCESSED_FLAG": "\\Seen"}
    s = await polling_stack(database_url, relay, tmp_path, mailstack, box, **env)
    try:  # it reads all the same (stopped once its first tick has claimed the lease)
        await wait_for(ImapLease.exists, 10, "the first tick")
    finally:
        await s.stop()
    [warning] = [r for r in caplog.records if r.getMessage().startswith("imap.processed_flag")]
    assert warning.levelno == logging.WARNING and "imap.processed_folder" in warning.getMessage()
