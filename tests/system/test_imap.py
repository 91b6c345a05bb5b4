"""docflow reading drafts from a real Dovecot mailbox over IMAP (intake/imap.py).

Drafts are dropped into a mailbox with `doveadm save`, as a delivery would; docflow
reads them (IDLE or polling), and `doveadm fetch` shows what was marked (no IMAP
session of the test's own in Dovecot's log). Dovecot logs, at each logout, how many
message bodies the session fetched (`body_count=`): that is how a test sees that a
later poll downloads nothing again. The stack is started once for the module; each
test has a mailbox user of its own.
"""

from __future__ import annotations

import asyncio
import re
import ssl
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import aioimaplib
import asyncpg
import pytest

from docflow.clock import Clock
from docflow.config import PACKAGE_ROOT, ImapSettings, load_settings
from docflow.intake.imap import ImapIntake
from docflow.intake.imap_client import ImapSession, _Client
from docflow.intake.models import ImapMessage, InboundMessage
from docflow.users.models import User
from docflow.workflow.models import Task
from tests import mails
from tests.conftest import PG_ADMIN_URL, Relay, Stack, _truncate_pg, make_settings, wait_for
from tests.filebuilders import make_docx_python_docx
from tests.integration.test_bounces import dsn
from tests.integration.test_reply_decisions import MX, answer
from tests.integration.test_workflow_links import REVIEWER, SIGNER, task_mails
from tests.mailstack import DEFAULT_USERS, Mailstack, free_port, running
from tests.system.conftest import (
    AUTHOR,
    AUTHOR_NAME,
    DOCX,
    Server,
    cli_ok,
    docflow_env,
    draft,
    wait_until,
)
from tests.system.test_database_outage import postgresql_stopped, terminate_connections
from tests.system.test_mailstack import Spawn

MAILBOXES = [f"hopthu{i}@bandantoc.gov.vn" for i in range(26)]  # one a test: fresh, empty
PROCESSED = "Đã xử lý"
FLAG = "$DocflowProcessed"
# what two sessions of one mailbox may hear differently: \Recent (the first session's
# only) and Dovecot's timings ("Select completed (0.001 + 0.000 secs).")
VARIES = re.compile(rb" ?\\Recent|^\d+ RECENT$| \([0-9.+ ]+ secs\)")


@pytest.fixture(scope="module")
def mailstack() -> Iterator[Mailstack]:
    with running(users=[*DEFAULT_USERS, *MAILBOXES], tls=True) as stack:
        yield stack


@pytest.fixture(scope="module")
def unused_mailboxes() -> list[str]:
    return list(MAILBOXES)


@pytest.fixture
def box(unused_mailboxes: list[str]) -> str:
    """A mailbox no other test has touched (the intake address docflow reads)."""
    return unused_mailboxes.pop(0)


def imap_vars(stack: Mailstack, box: str, **extra: str) -> dict[str, str]:
    """DOCFLOW_* of a docflow whose intake address is `box`, read over IMAP from Dovecot."""
    return {
        "DOCFLOW_INTAKE_ADDRESS": box,
        "DOCFLOW_IMAP_HOST": "127.0.0.1",
        "DOCFLOW_IMAP_PORT": str(stack.imap_port),
        "DOCFLOW_IMAP_TLS": "none",
        "DOCFLOW_IMAP_USER": box,
        "DOCFLOW_IMAP_PASSWORD": stack.password,
        "DOCFLOW_IMAP_POLL_SECONDS": "1",
        "DOCFLOW_IMAP_LEASE_SECONDS": "3",
        **extra,
    }


def a_draft(box: str, title: str, attach: bool = True, tag: str = "") -> bytes:
    """A draft from the author to the mailbox (`tag`: a plus tag on the address)."""
    local, _, domain = box.partition("@")
    to = f"{local}+{tag}@{domain}" if tag else box
    if attach:
        data = make_docx_python_docx([f"Nội dung {title}."])
        msg = draft(title, "Dự thảo.docx", data, DOCX)
        msg.replace_header("To", to)
    else:
        msg = mails.draft(title, to=to, body="Quên đính kèm.")
    return msg.as_bytes()


async def folder(stack: Mailstack, user: str, name: str = "INBOX") -> dict[int, set[str]]:
    """UID → flags of the messages in one of `user`'s folders (doveadm: no IMAP session)."""
    return await asyncio.to_thread(stack.flags, user, name)


def fetched_bodies(stack: Mailstack, user: str) -> list[int]:
    """Bodies fetched by each finished IMAP session of `user`, from Dovecot's log."""
    text = stack.dovecot_log.read_text(errors="replace")
    pattern = rf"imap\({re.escape(user)}\).*Logged out .*body_count=(\d+)"
    return [int(n) for n in re.findall(pattern, text)]


async def rows(model: Any, **filters: Any) -> list[Any]:
    return list(await model.filter(**filters).order_by("id"))


def reader_settings(stack: Mailstack, box: str, **env: str) -> ImapSettings:
    """The `[imap]` settings of a polling reader of `box` (its own env on top)."""
    base = {"DOCFLOW_CONFIG": str(PACKAGE_ROOT / "config" / "docflow.toml")}
    return load_settings({**base, **imap_vars(stack, box, DOCFLOW_IMAP_IDLE="0", **env)}).imap


def a_reader(stack: Stack, settings: ImapSettings) -> ImapIntake:
    """A mailbox reader outside the app's scheduler: the test ticks it."""
    limit = stack.settings.smtp.max_message_size
    return ImapIntake(settings, stack.services.intake, Clock(), max_size=limit)


@pytest.fixture
async def imap_stack(
    database_url: str, relay: Relay, tmp_path: Path, mailstack: Mailstack, box: str
) -> AsyncIterator[Stack]:
    """docflow in this process reading `box` by polling (IDLE off), flagging what it read."""
    s = await polling_stack(database_url, relay, tmp_path, mailstack, box)
    yield s
    await s.stop()


async def polling_stack(
    database_url: str, relay: Relay, tmp_path: Path, mailstack: Mailstack, box: str, **env: str
) -> Stack:
    """A started in-process docflow reading `box` by polling, with the author as a user."""
    settings = make_settings(
        tmp_path / "data",
        database_url,
        relay.port,
        **imap_vars(mailstack, box, DOCFLOW_IMAP_IDLE="0", **env),
    )
    s = Stack(settings, relay)
    await s.start()
    await s.add_user(AUTHOR, AUTHOR_NAME)
    return s


# --- the tests ------------------------------------------------------------------------------


async def test_drafts_in_the_mailbox_are_ingested_once_flagged_and_not_fetched_again(
    imap_stack: Stack, mailstack: Mailstack, box: str, relay: Relay
) -> None:
    tag = uuid.uuid4().hex[:6]
    await asyncio.to_thread(mailstack.save, box, a_draft(box, f"Kế hoạch {tag}", tag="ke-hoach"))
    await asyncio.to_thread(mailstack.save, box, a_draft(box, f"Quên tệp {tag}", attach=False))

    async def all_flagged() -> bool:
        flags = await folder(mailstack, box)
        return len(flags) == 2 and all(FLAG in f for f in flags.values())

    await wait_for(all_flagged, 30, "both messages flagged")
    await imap_stack.settled()

    docs = await imap_stack.documents()
    assert [(d["title"], d["workflow"]) for d in docs] == [(f"Kế hoạch {tag}", "ke-hoach")]
    inbound = await rows(InboundMessage)
    assert sorted((m.state, m.source) for m in inbound) == [
        ("accepted", "imap"),
        ("quarantined", "imap"),
    ]  # with or without an attachment, each stored once and marked
    assert all(m.rcpt_tos for m in inbound)
    read = await rows(ImapMessage)
    assert sorted(r.inbound_id for r in read) == sorted(m.id for m in inbound)
    assert all(r.marked_at is not None for r in read)
    subjects = [str(m["Subject"]) for m in relay.to(AUTHOR)]
    assert sum(docs[0]["code"] in s for s in subjects) == 1, subjects  # one receipt
    assert len(subjects) == 2, subjects  # and the reply saying the file was missing

    # Later polls download nothing: each later session of the mailbox fetched no body.
    await wait_for(  # the sessions that fetched the two have logged out
        lambda: asyncio.to_thread(lambda: sum(fetched_bodies(mailstack, box)) == 2),
        20,
        "the fetching sessions' logout",
    )
    sessions = len(fetched_bodies(mailstack, box))
    await wait_for(
        lambda: asyncio.to_thread(lambda: len(fetched_bodies(mailstack, box)) >= sessions + 3),
        20,
        "three more polls",
    )
    later = fetched_bodies(mailstack, box)
    assert later[sessions:] == [0] * len(later[sessions:]) and sum(later) == 2
    assert len(await rows(InboundMessage)) == 2


async def test_idle_reads_a_new_draft_at_once_and_moves_it_to_the_processed_folder(
    database_url: str, relay: Relay, tmp_path: Path, mailstack: Mailstack, box: str
) -> None:
    """Polling every 60 s: a draft read within seconds was announced by IDLE."""
    env = imap_vars(
        mailstack,
        box,
        DOCFLOW_IMAP_POLL_SECONDS="60",
        DOCFLOW_IMAP_LEASE_SECONDS="120",
        DOCFLOW_IMAP_PROCESSED_FOLDER=PROCESSED,
    )
    stack = Stack(make_settings(tmp_path / "data", database_url, relay.port, **env), relay)
    await stack.start()
    try:
        await stack.add_user(AUTHOR, AUTHOR_NAME)
        tag = uuid.uuid4().hex[:6]
        for n in (1, 2):  # the second arrives while docflow idles on the mailbox
            await asyncio.to_thread(mailstack.save, box, a_draft(box, f"Tờ trình {n} {tag}"))
            loop = asyncio.get_running_loop()
            start = loop.time()

            async def moved(n: int = n) -> bool:
                return len(await folder(mailstack, box, PROCESSED)) == n

            await wait_for(moved, 15, f"draft {n} moved to {PROCESSED}")
            assert loop.time() - start < 15
        assert await folder(mailstack, box) == {}  # nothing left in INBOX
        await stack.settled()
        titles = sorted(d["title"] for d in await stack.documents())
        assert titles == [f"Tờ trình 1 {tag}", f"Tờ trình 2 {tag}"]
        assert sum(fetched_bodies(mailstack, box)) == 0  # still connected: one session
    finally:
        await stack.stop()
    await wait_for(  # its logout: two bodies, once each
        lambda: asyncio.to_thread(lambda: fetched_bodies(mailstack, box) == [2]), 10, "logout"
    )


async def test_killed_between_storing_and_marking_nothing_is_lost_or_doubled(
    env: dict[str, str], mailstack: Mailstack, box: str, relay: Relay, spawn: Spawn
) -> None:
    """A real `serve`, SIGKILLed while it pauses between the store and the mark (the
    DOCFLOW_TEST_IMAP_PAUSE_BEFORE_MARK hook: the window is microseconds otherwise)."""
    env.update(imap_vars(mailstack, box, DOCFLOW_IMAP_IDLE="0"))
    await cli_ok(env, "user", "add", AUTHOR, "--name", AUTHOR_NAME)
    tag = uuid.uuid4().hex[:6]
    for n in (1, 2):
        await asyncio.to_thread(mailstack.save, box, a_draft(box, f"Báo cáo {n} {tag}"))
    server = await spawn({**env, "DOCFLOW_TEST_IMAP_PAUSE_BEFORE_MARK": "300"})

    async def receipts() -> list[str]:
        return [str(m["Subject"]) for m in relay.to(AUTHOR) if tag in str(m["Subject"])]

    first = await wait_until(receipts, what="the first draft's receipt")
    await server.kill()
    flags = await folder(mailstack, box)
    assert len(flags) == 2 and not any(FLAG in f for f in flags.values())  # none marked
    assert fetched_bodies(mailstack, box) == []  # the session died holding the first

    server.env = env  # restarted without the pause
    await server.start()

    async def all_flagged() -> bool:
        flags = await folder(mailstack, box)
        return len(flags) == 2 and all(FLAG in f for f in flags.values())

    await wait_until(all_flagged, what="both drafts marked")
    await wait_until(lambda: _settled(server), what="intake to settle")
    docs = await server.documents()
    assert sorted(d["title"] for d in docs) == [f"Báo cáo 1 {tag}", f"Báo cáo 2 {tag}"]
    for d in docs:
        status, view = await server.api(f"/api/v1/documents/{d['code']}")
        assert status == 200 and len(view["versions"]) == 1, view
    states = ("pending", "accepted", "duplicate", "quarantined")
    assert [await server.inbound(s) for s in states] == [0, 2, 0, 0]  # stored once each
    await wait_until(lambda: _receipts_for(receipts, docs), what="the second receipt")
    assert len(await receipts()) == 2 and first[0] in await receipts()
    # After the restart only the second body was fetched; the first was recognised by UID.
    await wait_until(
        lambda: asyncio.to_thread(lambda: len(fetched_bodies(mailstack, box)) >= 2),
        what="a finished poll session",
    )
    assert sum(fetched_bodies(mailstack, box)) == 1


async def _settled(server: Server) -> bool:
    return await server.inbound("pending") == 0


async def _receipts_for(receipts: Any, docs: list[dict[str, Any]]) -> bool:
    subjects = await receipts()
    return all(any(d["code"] in s for s in subjects) for d in docs)


@pytest.fixture
async def pg_url(pg_database: str) -> AsyncIterator[str]:
    await _truncate_pg(pg_database)
    yield pg_database


async def test_two_serve_processes_read_one_mailbox_one_at_a_time(
    pg_url: str, relay: Relay, tmp_path: Path, mailstack: Mailstack, box: str, spawn: Spawn
) -> None:
    """The lease row: one holder reads; when it dies, the other takes over once it lapses.
    (Over STARTTLS, checked against the stack's own certificate.)"""
    envs = []
    for d in ("a", "b"):
        (tmp_path / d).mkdir()
        tls = {"DOCFLOW_IMAP_TLS": "starttls", "DOCFLOW_IMAP_CA_FILE": str(mailstack.tls_cert)}
        envs.append(
            docflow_env(tmp_path / d, pg_url, relay.port, **imap_vars(mailstack, box, **tls))
        )
    await cli_ok(envs[0], "user", "add", AUTHOR, "--name", AUTHOR_NAME)
    servers = [await spawn(e) for e in envs]
    tag = uuid.uuid4().hex[:6]

    async def stored(n: int) -> list[dict[str, Any]]:
        docs = [d for d in await servers[1].documents() if tag in d["title"]]
        return docs if len(docs) == n else []

    async def holders() -> list[tuple[str, str]]:
        conn = await asyncpg.connect(pg_url)
        try:
            lease = await conn.fetch("SELECT holder FROM imap_leases")
            read = await conn.fetch("SELECT fetched_by FROM imap_messages ORDER BY id")
        finally:
            await conn.close()
        return [("lease", r["holder"]) for r in lease] + [("read", r["fetched_by"]) for r in read]

    for n in range(3):
        await asyncio.to_thread(mailstack.save, box, a_draft(box, f"Công văn {n} {tag}"))
    await wait_until(lambda: stored(3), what="three documents")
    seen = await holders()
    first = seen[0][1]
    assert {h for _, h in seen} == {first}  # the lease's holder read every message
    held_by = next(s for s in servers if s.proc and f":{s.proc.pid}:" in first)
    other = next(s for s in servers if s is not held_by)
    assert "imap connected" in held_by.log_tail(100_000)
    assert "imap connected" not in other.log_tail(100_000)  # never touched the mailbox

    await held_by.kill()
    for n in range(3, 5):
        await asyncio.to_thread(mailstack.save, box, a_draft(box, f"Công văn {n} {tag}"))
    servers = [other, other]  # stored() asks the one still running
    await wait_until(lambda: stored(5), within=30, what="the other process taking over")
    seen = await holders()
    second = seen[0][1]
    assert other.proc is not None
    assert second != first and f":{other.proc.pid}:" in second
    assert [h for k, h in seen if k == "read"] == [first] * 3 + [second] * 2
    states = ("pending", "accepted", "duplicate", "quarantined")
    await wait_until(lambda: _settled(other), what="intake to settle")
    assert [await other.inbound(s) for s in states] == [0, 5, 0, 0]


@pytest.mark.parametrize("mode", ["starttls", "tls"])
async def test_tls_modes_check_the_server_certificate(
    mailstack: Mailstack, box: str, mode: str
) -> None:
    port = mailstack.imaps_port if mode == "tls" else mailstack.imap_port
    settings = ImapSettings(
        host="127.0.0.1",
        port=port,
        tls=mode,
        ca_file=str(mailstack.tls_cert),
        user=box,
        password=mailstack.password,
    )
    await asyncio.to_thread(mailstack.save, box, a_draft(box, "Thư", attach=False))
    session = await ImapSession.open(settings)
    try:
        assert session.client.protocol.transport.get_extra_info("ssl_object") is not None
        assert await session.unmarked() == [1]
    finally:
        await session.close()
    untrusted = ImapSettings(**{**settings.__dict__, "ca_file": ""})  # the system's CAs
    with pytest.raises(ssl.SSLCertVerificationError):
        await ImapSession.open(untrusted)


def doveadm(stack: Mailstack, *args: str) -> str:
    result = subprocess.run(
        ["doveadm", "-c", str(stack.dovecot_conf), *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return result.stdout


async def test_a_rebuilt_folder_is_recognised_by_message_id_and_not_stored_again(
    database_url: str, relay: Relay, tmp_path: Path, mailstack: Mailstack, box: str
) -> None:
    """Restored from a backup into a new folder (new UIDVALIDITY): marked, not stored."""
    name = "Văn bản đến"
    await asyncio.to_thread(doveadm, mailstack, "mailbox", "create", "-u", box, name)
    env = imap_vars(mailstack, box, DOCFLOW_IMAP_IDLE="0", DOCFLOW_IMAP_FOLDER=name)
    stack = Stack(make_settings(tmp_path / "data", database_url, relay.port, **env), relay)
    await stack.start()
    try:
        await stack.add_user(AUTHOR, AUTHOR_NAME)
        raw = a_draft(box, f"Quyết định {uuid.uuid4().hex[:6]}")

        async def uidvalidity() -> str:
            out = await asyncio.to_thread(
                doveadm, mailstack, "mailbox", "status", "-u", box, "uidvalidity", name
            )
            return out.strip()

        async def flagged() -> bool:
            flags = await folder(mailstack, box, name)
            return len(flags) == 1 and all(FLAG in f for f in flags.values())

        await asyncio.to_thread(mailstack.save, box, raw, name)
        await wait_for(flagged, 30, "the draft flagged")
        await stack.settled()
        before = await uidvalidity()
        await asyncio.sleep(1.1)  # Dovecot's UIDVALIDITY is a time in seconds
        await asyncio.to_thread(doveadm, mailstack, "mailbox", "delete", "-u", box, name)
        await asyncio.to_thread(doveadm, mailstack, "mailbox", "create", "-u", box, name)
        await asyncio.to_thread(mailstack.save, box, raw, name)
        assert await uidvalidity() != before
        await wait_for(flagged, 30, "the restored draft flagged")
        await stack.settled()
        assert len(await rows(InboundMessage)) == 1
        assert len(await rows(ImapMessage)) == 1
        assert len(await stack.documents()) == 1
        assert len(relay.to(AUTHOR)) == 1  # one receipt
    finally:
        await stack.stop()
    await wait_for(  # read again (to see whose it was), not stored
        lambda: asyncio.to_thread(lambda: sum(fetched_bodies(mailstack, box)) == 2), 10, "logout"
    )


@pytest.mark.parametrize("flag", [FLAG, "\\Seen"])
async def test_two_readers_at_once_store_a_message_once(
    stack: Stack, mailstack: Mailstack, box: str, flag: str
) -> None:
    """The UID's unique key: a reader that loses the race stores nothing, only marks.
    (With a keyword, and with \\Seen, which works though start-up warns against it.)"""
    await stack.add_user(AUTHOR, AUTHOR_NAME)
    settings = reader_settings(mailstack, box, DOCFLOW_IMAP_PROCESSED_FLAG=flag)
    await asyncio.to_thread(mailstack.save, box, a_draft(box, "Thông báo"))
    readers = [a_reader(stack, settings) for _ in range(2)]
    sessions = [await ImapSession.open(settings) for _ in readers]
    try:
        for reader in readers:
            reader.lease.until = float("inf")  # as if each held the lease (a stalled holder)
        stored = await asyncio.gather(*(r.cycle(s) for r, s in zip(readers, sessions, strict=True)))
    finally:
        for session in sessions:
            await session.close()
    assert sorted(stored) == [0, 1]
    assert len(await rows(InboundMessage)) == 1
    assert len(await rows(ImapMessage)) == 1
    assert [flag in f for f in (await folder(mailstack, box)).values()] == [True]
    assert await _unmarked(settings) == []  # the next search finds nothing
    spooled = [p for p in stack.services.spool.root.rglob("*.eml")]
    assert len(spooled) == 1  # the loser's spool file was removed


async def _unmarked(settings: ImapSettings) -> list[int]:
    session = await ImapSession.open(settings)
    try:
        return await session.unmarked()
    finally:
        await session.close()


async def test_an_unreachable_server_is_retried_with_back_off_then_the_mailbox_is_read(
    stack: Stack, mailstack: Mailstack, box: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Ticks every 0.1 s, but after a failed connection the next try waits 2 s, then 4 s."""
    await stack.add_user(AUTHOR, AUTHOR_NAME)
    good = reader_settings(mailstack, box)
    reader = a_reader(stack, replace(good, port=free_port()))
    await asyncio.to_thread(mailstack.save, box, a_draft(box, "Giấy mời"))
    loop = asyncio.get_running_loop()
    try:
        end = loop.time() + 3.5
        while loop.time() < end:  # nothing listens on that port: refused at once
            await reader.tick()
            await asyncio.sleep(0.1)
        assert reader.failures == 2  # tried at 0 s and 2 s, not at every tick
        retries = [r for r in caplog.records if r.getMessage() == "imap reading failed, will retry"]
        assert [getattr(r, "retry_in_s", None) for r in retries] == [2.0, 4.0]
        reader.settings = good  # the server is back

        async def read() -> bool:
            await reader.tick()
            return len(await rows(InboundMessage)) == 1

        await wait_for(read, 10, "the mailbox read after the back-off")
    finally:
        await reader.close()
    assert reader.failures == 0
    assert [FLAG in f for f in (await folder(mailstack, box)).values()] == [True]


async def test_a_bounce_in_the_mailbox_marks_the_delivery_failed_and_is_no_draft(
    database_url: str, relay: Relay, tmp_path: Path, mailstack: Mailstack, box: str
) -> None:
    """An office without a listener: its bounce address is an alias of the mailbox, so a
    DSN of docflow's own mail arrives there, and goes the bounce path, not the draft one."""
    local, _, domain = box.partition("@")
    bounce_base = f"{local}-bounce@{domain}"
    s = await polling_stack(
        database_url, relay, tmp_path, mailstack, box, DOCFLOW_BOUNCE_ADDRESS=bounce_base
    )
    try:
        title = f"Báo cáo {uuid.uuid4().hex[:6]}"
        await asyncio.to_thread(mailstack.save, box, a_draft(box, title))
        await wait_for(lambda: _mails_to(relay, AUTHOR, 1), 30, "the receipt")
        receipt = relay.to(AUTHOR)[0]
        verp = relay.envelope_from[str(receipt["Message-ID"])]
        assert verp.startswith(f"{local}-bounce+") and verp.endswith(f"@{domain}")

        raw = dsn(verp, AUTHOR, str(receipt["Message-ID"]))  # as the mail server files it
        await asyncio.to_thread(mailstack.save, box, raw)

        async def both_flagged() -> bool:
            flags = await folder(mailstack, box)
            return len(flags) == 2 and all(FLAG in f for f in flags.values())

        await wait_for(both_flagged, 30, "the draft and the DSN flagged")
        await s.settled()
        docs = await s.documents()
        assert [d["title"] for d in docs] == [title]  # the DSN made no document
        doc = await s.document(docs[0]["code"])
        failed = doc["deliveries_failed"]
        assert [(f["to"], f["kind"], f["status"]) for f in failed] == [(AUTHOR, "receipt", "5.1.1")]
        states = sorted(m.state for m in await rows(InboundMessage))
        assert states == ["accepted", "bounce"]
        assert len(relay.to(AUTHOR)) == 1  # the bounce was not answered
    finally:
        await s.stop()


async def _mails_to(relay: Relay, address: str, n: int) -> bool:
    return len(relay.to(address)) >= n


async def test_the_reader_goes_on_while_database_connections_are_terminated(
    pg_url: str, relay: Relay, tmp_path: Path, mailstack: Mailstack, box: str, spawn: Spawn
) -> None:
    """A PostgreSQL failover or restart under the reader: no message counted as failing
    (none quarantined `imap_failed`), each stored once and marked, reading goes on."""
    env = docflow_env(tmp_path, pg_url, relay.port, **imap_vars(mailstack, box))
    await cli_ok(env, "user", "add", AUTHOR, "--name", AUTHOR_NAME)
    server = await spawn(env)
    tag = uuid.uuid4().hex[:6]
    count = 16
    for n in range(count):
        await asyncio.to_thread(mailstack.save, box, a_draft(box, f"Tờ trình {n} {tag}"))
        if n % 4 == 3:
            await terminate_connections(pg_url)
            await asyncio.sleep(0.3)
    await terminate_connections(pg_url)
    async with postgresql_stopped(PG_ADMIN_URL):  # and a restart: mail waits in the mailbox
        for n in range(count, count + 3):
            await asyncio.to_thread(mailstack.save, box, a_draft(box, f"Tờ trình {n} {tag}"))
        await asyncio.sleep(3)  # a few polls' worth (every second)
    count += 3

    async def stored() -> bool:
        docs = [d for d in await server.documents() if tag in d["title"]]
        return len(docs) == count

    await wait_until(stored, within=60, what=f"{count} documents read over IMAP")
    await wait_until(lambda: _settled(server), what="intake to settle")
    flags = await folder(mailstack, box)
    assert len(flags) == count and all(FLAG in f for f in flags.values()), flags
    states = ("pending", "accepted", "duplicate", "quarantined")
    assert [await server.inbound(s) for s in states] == [0, count, 0, 0]
    log = server.log_tail(1_000_000)
    assert "imap message not stored" not in log and "released back to the pool" not in log
    assert "database reachable again" in log  # the restart was noticed, and its end


async def _conversation(client_class: type[Any], stack: Mailstack, box: str) -> list[Any]:
    """The commands docflow's reader sends, through `client_class`, and what came back
    (tags, which differ per client, left out)."""
    client = client_class(host="127.0.0.1", port=stack.imap_port, timeout=10)
    await client.wait_hello_from_server()
    said: list[Any] = [sorted(client.protocol.capabilities)]

    def heard(response: Any) -> None:
        lines = [bytes(x) if isinstance(x, bytes | bytearray) else str(x) for x in response.lines]
        lines = [VARIES.sub(b"", x) if isinstance(x, bytes) else x for x in lines]
        said.append((response.result, lines))

    heard(await client.login(box, stack.password))
    heard(await client.select("INBOX"))
    heard(await client.uid_search("ALL"))
    heard(await client.uid("fetch", "1:*", "(UID FLAGS RFC822.SIZE)"))
    heard(await client.uid("fetch", "1", "(BODY.PEEK[])"))
    idle = await client.idle_start(timeout=5)
    await asyncio.sleep(0.2)
    client.idle_done()
    heard(await asyncio.wait_for(idle, 5))
    heard(await client.logout())
    return said


async def test_the_overridden_imap_client_hears_exactly_what_aioimaplibs_own_does(
    mailstack: Mailstack, box: str
) -> None:
    """A guard of `imap_client._Client` (its own `create_client` and protocol class, copied
    from aioimaplib's to note when the server last spoke): the same conversation with the
    same mailbox gives the same answers through it as through aioimaplib's IMAP4."""
    for n in range(2):
        await asyncio.to_thread(mailstack.save, box, a_draft(box, f"Dự thảo {n}"))
    ours = await _conversation(_Client, mailstack, box)
    theirs = await _conversation(aioimaplib.IMAP4, mailstack, box)
    assert ours == theirs
    assert any(b"Content-Type: multipart/mixed" in line for _, lines in ours[5:6] for line in lines)
    client = _Client(host="127.0.0.1", port=mailstack.imap_port, timeout=10)
    await client.wait_hello_from_server()
    assert client.protocol.received_at > 0  # what the override is for
    await client.logout()


async def test_a_reply_to_a_task_mail_read_from_the_mailbox_decides(
    database_url: str, relay: Relay, tmp_path: Path, mailstack: Mailstack, box: str
) -> None:
    """An office without a listener: the task mail's reply address is the mailbox's plus
    address, so the approver's reply lands in the mailbox, and the reader decides with it."""
    s = await polling_stack(
        database_url, relay, tmp_path, mailstack, box, DOCFLOW_TRUSTED_AUTHSERV_ID=MX
    )
    try:
        await s.add_user(REVIEWER, "Người xem xét", ["chanh-van-phong"])
        await s.add_user(SIGNER, "Trần Đức Minh", ["truong-ban"], language="en")
        await asyncio.to_thread(mailstack.save, box, a_draft(box, "Công văn trả lời"))
        [task_mail] = await task_mails(s, REVIEWER)
        local, _, domain = box.partition("@")
        assert str(task_mail["Reply-To"]).startswith(f"{local}+t-")
        assert str(task_mail["Reply-To"]).endswith(f"@{domain}")

        reply = answer(task_mail, "Đồng ý: đề nghị trình ký", "thunderbird")
        await asyncio.to_thread(mailstack.save, box, reply.as_bytes())
        await task_mails(s, SIGNER)  # the review approved: the sign-off's task mail went
        task = (await rows(Task))[0]
        assert (task.state, task.comment, task.assignee_id) == (
            "approved",
            "đề nghị trình ký",
            (await User.get(email=REVIEWER)).id,
        )
        states = sorted(m.state for m in await rows(InboundMessage))
        assert states == ["accepted", "reply"]
    finally:
        await s.stop()
