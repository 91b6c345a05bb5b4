"""`docflow serve` on PostgreSQL while the database goes away: connections terminated
under load, the server stopped and started again, SIGTERM during a burst of decisions.

What an operator checks afterwards: every draft that got its 250 is exactly one
version with one receipt, decision links acted once, nothing in the quarantine,
serve never restarted and said so in a few log lines, not thousands.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import re
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import aiosmtplib
import asyncpg
import pytest

from tests.conftest import PG_ADMIN_URL, Relay, _truncate_pg
from tests.filebuilders import make_docx_python_docx
from tests.mails import numbered_draft
from tests.system.conftest import (
    AUTHOR,
    AUTHOR_NAME,
    DOCX,
    INTAKE,
    Server,
    cli_ok,
    docflow_env,
    draft,
    wait_until,
)

Spawn = Callable[[dict[str, str]], Awaitable[Server]]
REVIEWER = "hung.nv@bandantoc.gov.vn"  # chanh-van-phong: the default workflow's review
SIGNER = "minh.td@bandantoc.gov.vn"  # truong-ban: sign-off
OPEN_LINK = re.compile(r"http://127\.0\.0\.1:\d+/t/[A-Za-z0-9_-]+(?![/A-Za-z0-9_-])")
CSRF = re.compile(r'name="csrf" value="([0-9a-f]+)"')
CODE = re.compile(r"DF-\d{4}-\d{6}")
OUTAGE_LINE = "database unreachable"


@pytest.fixture
async def pg_url(pg_database: str) -> AsyncIterator[str]:
    await _truncate_pg(pg_database)
    yield pg_database


def env_for(tmp_path: Path, pg_url: str, relay: Relay, **extra: str) -> dict[str, str]:
    # many drafts of one author here are no mail loop
    return docflow_env(tmp_path, pg_url, relay.port, DOCFLOW_RATE_LIMIT="0", **extra)


async def add_people(env: dict[str, str]) -> None:
    people = [
        (AUTHOR, AUTHOR_NAME, "staff"),
        (REVIEWER, "Nguyễn Văn Hùng", "chanh-van-phong"),
        (SIGNER, "Trần Đức Minh", "truong-ban"),
    ]
    for email, name, role in people:
        await cli_ok(env, "user", "add", email, "--name", name, "--role", role)


async def terminate_connections(url: str) -> int:
    """What an administrator (or a failover) does: end every session of docflow's database."""
    conn = await asyncpg.connect(url)
    try:
        return int(
            await conn.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        )
    finally:
        await conn.close()


def series_draft(i: int, tag: str) -> tuple[str, bytes]:
    """Draft `i` of the series `tag` (ASCII: it is part of the Message-ID)."""
    return numbered_draft(i, f"{tag}{i:03d}", f"Báo cáo {tag} số {i:03d} về công tác dân tộc")


class Mta:
    """Sending servers in front of docflow: a message without its 250 is sent again later,
    a 4xx is remembered, a 5xx is a failure of the test."""

    def __init__(self, port: int, drafts: list[tuple[str, bytes]], rng: random.Random) -> None:
        self.port = port
        self.drafts = drafts
        self.rng = rng
        self.todo: asyncio.Queue[int] = asyncio.Queue()
        for i in range(len(drafts)):
            self.todo.put_nowait(i)
        self.acked: set[int] = set()
        self.temporary: Counter[int] = Counter()  # 4xx answers by code
        self.permanent: list[str] = []

    async def connection(self) -> None:
        client: aiosmtplib.SMTP | None = None
        while not self.todo.empty():
            i = self.todo.get_nowait()
            while True:
                try:
                    if client is None:
                        client = aiosmtplib.SMTP(hostname="127.0.0.1", port=self.port, timeout=30)
                        await client.connect()
                    await client.sendmail(AUTHOR, [INTAKE], self.drafts[i][1])
                    self.acked.add(i)
                    break
                except (aiosmtplib.SMTPException, OSError) as e:
                    code = getattr(e, "code", 0)
                    if isinstance(e, aiosmtplib.SMTPRecipientsRefused):
                        code = min(r.code for r in e.recipients)
                    if code >= 500:
                        self.permanent.append(f"{i}: {e}")
                        break
                    self.temporary[code] += 1
                    if client is not None:
                        client.close()
                        client = None
                    await asyncio.sleep(self.rng.uniform(0.1, 0.4))
        if client is not None:
            try:
                await client.quit()
            except (aiosmtplib.SMTPException, OSError):
                client.close()


async def settled(server: Server, expected: int, within: float = 90) -> list[dict[str, Any]]:
    """The documents once nothing is pending and the list stopped changing."""
    seen: list[list[str]] = []

    async def done() -> bool:
        titles = sorted(d["title"] for d in await server.documents())
        seen.append(titles)
        if await server.inbound("pending") or len(titles) < expected:
            return False
        return len(seen) >= 3 and seen[-3] == seen[-2] == titles

    await wait_until(done, within=within, what=f"{expected} documents, nothing pending")
    return await server.documents()


def receipts_per_code(relay: Relay) -> Counter[str]:
    codes = (CODE.search(str(m["Subject"])) for m in relay.to(AUTHOR))
    return Counter(c.group(0) for c in codes if c)


def log_lines(server: Server, event: str) -> list[dict[str, Any]]:
    out = []
    for line in server.log_path.read_text(errors="replace").splitlines():
        with contextlib.suppress(ValueError):
            record = json.loads(line)
            if isinstance(record, dict) and event in str(record.get("event", "")):
                out.append(record)
    return out


def assert_quiet_log(server: Server) -> None:
    """No traceback, no 'released back to the pool', no failure counted against a message."""
    text = server.log_path.read_text(errors="replace")
    for words in ("released back to the pool", "processing failed", "intake worker error",
                  "periodic job failed", "outbox sweep failed", "unhandled error"):  # fmt: skip
        assert words not in text, f"{words!r} in the log:\n{server.log_tail()}"


async def assert_nothing_lost_or_doubled(
    server: Server, env: dict[str, str], relay: Relay, mta: Mta, where: str
) -> None:
    docs = await settled(server, len(mta.acked))
    titles = Counter(d["title"] for d in docs)
    expected = {mta.drafts[i][0] for i in mta.acked}
    assert {t: n for t, n in titles.items() if n > 1} == {}, f"stored twice; {where}"
    assert sorted(expected - set(titles)) == [], f"acknowledged but missing; {where}"
    assert {d["version_count"] for d in docs} == {1}, where
    quarantine = json.loads((await cli_ok(env, "quarantine", "list", "--json")).stdout)
    assert quarantine == [], where

    async def every_receipt_sent() -> bool:
        return len(receipts_per_code(relay)) == len(docs)

    await wait_until(every_receipt_sent, within=60, what=f"a receipt per document ({where})")
    doubled = {c: n for c, n in receipts_per_code(relay).items() if n > 1}
    assert doubled == {}, f"receipts sent twice; {where}"


# --- connections terminated under load -------------------------------------------------

DRAFTS = 200
CONNECTIONS = 4
WAVES = 3


async def test_drafts_streamed_while_connections_are_terminated_each_become_one_version(
    pg_url: str, relay: Relay, tmp_path: Path, spawn: Spawn
) -> None:
    seed = int.from_bytes(random.randbytes(4), "big")
    rng = random.Random(seed)
    env = env_for(tmp_path, pg_url, relay)
    await cli_ok(env, "user", "add", AUTHOR, "--name", AUTHOR_NAME, "--role", "staff")
    server = await spawn(env)
    mta = Mta(server.smtp_port, [series_draft(i, "nhanh") for i in range(DRAFTS)], rng)
    killed: list[int] = []

    async def killer() -> None:
        async def under_way() -> bool:
            return len(mta.acked) >= DRAFTS // 6

        await wait_until(under_way, within=60, what="the first drafts to be acknowledged")
        for _ in range(WAVES):
            killed.append(await terminate_connections(pg_url))
            await asyncio.sleep(1.5)

    async with asyncio.timeout(120), asyncio.TaskGroup() as tasks:
        tasks.create_task(killer())
        for _ in range(CONNECTIONS):
            tasks.create_task(mta.connection())
    where = f"seed {seed}, sessions ended per wave {killed}, 4xx {dict(mta.temporary)}"
    assert mta.permanent == [], where
    assert len(mta.acked) == DRAFTS and sum(killed) > 0, where
    await assert_nothing_lost_or_doubled(server, env, relay, mta, where)

    assert server.proc is not None and server.proc.returncode is None, "serve kept running"
    assert_quiet_log(server)
    outages = log_lines(server, OUTAGE_LINE)
    assert len(outages) <= 2 * WAVES, f"not one line per outage: {len(outages)}; {where}"
    assert len(log_lines(server, "database reachable again")) == len(outages), where


# --- PostgreSQL stopped, then started ----------------------------------------------------


def cluster_of(url: str) -> tuple[str, str]:
    """The Debian cluster (version, name) listening on the test server's port."""
    import subprocess

    port = str(urlsplit(url).port or 5432)
    try:
        out = subprocess.run(
            ["pg_lsclusters", "--no-header"], capture_output=True, text=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        pytest.fail(f"pg_lsclusters failed ({e}): the test restarts this machine's PostgreSQL")
    for line in out.splitlines():
        cols = line.split()
        if len(cols) >= 3 and cols[2] == port:
            return cols[0], cols[1]
    pytest.fail(f"no PostgreSQL cluster on port {port} in pg_lsclusters:\n{out}")


async def pg_ctl(cluster: tuple[str, str], action: str) -> None:
    args = ["pg_ctlcluster", "--skip-systemctl-redirect", *cluster, action]
    if action == "stop":
        args += ["-m", "fast"]
    proc = await asyncio.create_subprocess_exec(
        *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, f"{' '.join(args)}: {out.decode()}"


@contextlib.asynccontextmanager
async def postgresql_stopped(url: str) -> AsyncIterator[Callable[[], Awaitable[None]]]:
    """Stop this machine's PostgreSQL; the body starts it again (it is started in any case)."""
    cluster = cluster_of(url)
    running = True

    async def start() -> None:
        nonlocal running
        if not running:
            await pg_ctl(cluster, "start")
            running = True

    await pg_ctl(cluster, "stop")
    running = False
    try:
        yield start
    finally:
        await start()


async def get(http: aiohttp.ClientSession, url: str, token: str | None = None) -> tuple[int, str]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with http.get(url, headers=headers) as r:
        return r.status, f"{r.headers.get('Content-Type', '')}\n{await r.text()}"


async def test_postgresql_stopped_and_started_answers_451_and_503_then_resumes_losing_nothing(
    pg_url: str, relay: Relay, tmp_path: Path, spawn: Spawn
) -> None:
    rng = random.Random(0)
    env = env_for(tmp_path, pg_url, relay, DOCFLOW_SWEEP_SECONDS="0.5")
    await add_people(env)
    server = await spawn(env)
    drafts = [series_draft(i, "truoc") for i in range(12)]
    before = Mta(server.smtp_port, drafts, rng)
    await before.connection()  # all acknowledged; some still being processed at the stop
    http = await server.session()

    async with postgresql_stopped(PG_ADMIN_URL) as start_again:
        stopped_at = time.monotonic()
        # a mail server keeps trying its draft through the outage
        during = Mta(server.smtp_port, [series_draft(0, "trongluc")], rng)
        sender = asyncio.create_task(during.connection())

        status, body = await get(http, server.base + "/healthz")
        assert status == 503 and json.loads(body.split("\n", 1)[1]) == {
            "status": "unavailable",
            "database": "unreachable",
        }, body
        status, body = await get(http, server.base + "/api/v1/documents", token=env[
            "DOCFLOW_ADMIN_TOKEN"])  # fmt: skip
        assert status == 503 and body.startswith("application/json"), body
        assert "try again" in json.loads(body.split("\n", 1)[1])["error"]["message"]
        status, body = await get(http, server.base + "/t/" + "x" * 43)  # a link's page
        assert status == 503 and body.startswith("text/html"), body
        assert "thử lại" in body and "Traceback" not in body
        status, body = await get(http, server.base + "/metrics")
        assert status == 200 and "docflow_database_up 0.0" in body, body

        async def told_twice() -> bool:
            return sum(during.temporary.values()) >= 2

        await wait_until(told_twice, within=20, what="the sender to be told 451 twice")
        assert set(during.temporary) == {451} and not during.acked
        await asyncio.sleep(max(0.0, 8 - (time.monotonic() - stopped_at)))
        await start_again()
        back_at = time.monotonic()

    await wait_until(server.healthy, within=20, what="/healthz to answer 200 again")
    recovered_in = time.monotonic() - back_at
    async with asyncio.timeout(30):
        await sender
    assert during.acked == {0} and during.permanent == []

    everything = Mta(server.smtp_port, drafts + during.drafts, rng)
    everything.acked = set(range(len(drafts) + 1))
    await assert_nothing_lost_or_doubled(server, env, relay, everything, "after the restart")
    status, body = await get(http, server.base + "/metrics")
    assert "docflow_database_up 1.0" in body and "docflow_database_outages_total" in body

    # the reminder sweep goes on: a task moved past its reminder time is reminded
    conn = await asyncpg.connect(pg_url)
    try:
        await conn.execute(
            "UPDATE tasks SET created_at = created_at - interval '3 days' WHERE id = "
            "(SELECT min(id) FROM tasks WHERE state = 'open')"
        )
    finally:
        await conn.close()

    async def reminded() -> bool:
        return any("Nhắc việc" in str(m["Subject"]) for m in relay.to(REVIEWER))

    await wait_until(reminded, within=20, what="a reminder after the restart")
    assert_quiet_log(server)
    assert len(log_lines(server, OUTAGE_LINE)) == 1, server.log_tail()
    assert len(log_lines(server, "database reachable again")) == 1
    print(f"restart test: healthy again {recovered_in:.1f} s after PostgreSQL started")


# --- decision links --------------------------------------------------------------------


async def task_links(relay: Relay, to: str, count: int) -> dict[str, str]:
    """Tracking code → the open link of the task mail `to` got for it."""

    async def mailed() -> dict[str, str] | None:
        links: dict[str, str] = {}
        for m in relay.to(to):
            code = CODE.search(str(m["Subject"]))
            found = [u for u in OPEN_LINK.findall(m.get_content()) if "/files/" not in u]
            if code and found:
                links[code.group(0)] = found[0]
        return links if len(links) >= count else None

    links = await wait_until(mailed, within=60, what=f"{count} task mails to {to}")
    assert isinstance(links, dict)
    return links


async def forms(http: aiohttp.ClientSession, links: dict[str, str]) -> dict[str, dict[str, str]]:
    out = {}
    for code, url in links.items():
        async with http.get(url) as r:
            page = await r.text()
            assert r.status == 200, page[:500]
        csrf = CSRF.search(page)
        assert csrf is not None, page[:500]
        out[code] = {"csrf": csrf.group(1), "action": "approve", "comment": "Đồng ý."}
    return out


async def post(http: aiohttp.ClientSession, url: str, form: dict[str, str]) -> tuple[int, str]:
    try:
        async with http.post(url, data=form) as r:
            return r.status, await r.text()
    except (aiohttp.ClientError, TimeoutError) as e:  # the server went away mid-answer
        return 0, repr(e)


RECORDED = ("đã được ghi nhận", "has been recorded")


async def review_states(url: str) -> dict[str, list[str]]:
    """Tracking code → the states of its tasks, review first."""
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            "SELECT d.code, t.stage_key, t.state FROM tasks t JOIN documents d "
            "ON d.id = t.document_id ORDER BY d.code, t.stage_index, t.id"
        )
    finally:
        await conn.close()
    out: dict[str, list[str]] = {}
    for r in rows:
        out.setdefault(r["code"], []).append(f"{r['stage_key']}:{r['state']}")
    return out


async def send_drafts(server: Server, count: int, tag: str) -> None:
    data = make_docx_python_docx([f"Công văn {tag}."])
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=server.smtp_port, timeout=30)
    await client.connect()
    try:
        for n in range(count):
            await client.send_message(draft(f"Công văn {tag} số {n}", "Công văn.docx", data, DOCX))
    finally:
        await client.quit()


DECISIONS = 30


async def test_decision_links_posted_while_connections_are_terminated_act_once_or_answer_503(
    pg_url: str, relay: Relay, tmp_path: Path, spawn: Spawn
) -> None:
    env = env_for(tmp_path, pg_url, relay)
    await add_people(env)
    server = await spawn(env)
    await send_drafts(server, DECISIONS, "góp ý")
    links = await task_links(relay, REVIEWER, DECISIONS)
    http = await server.session()
    filled = await forms(http, links)

    async def killer() -> None:
        for _ in range(WAVES):
            await asyncio.sleep(0.05)
            await terminate_connections(pg_url)

    first: dict[str, tuple[int, str]] = {}

    async def decide(code: str) -> None:
        first[code] = await post(http, links[code], filled[code])

    async with asyncio.timeout(60), asyncio.TaskGroup() as tasks:
        tasks.create_task(killer())
        for code in links:
            tasks.create_task(decide(code))
    statuses = Counter(status for status, _ in first.values())
    assert set(statuses) <= {200, 503}, {c: a[:300] for c, (s, a) in first.items() if s != 200}
    for status, answer in first.values():
        if status == 200:
            assert any(w in answer for w in RECORDED), answer[:500]
        else:
            assert "thử lại" in answer and "Traceback" not in answer, answer[:500]

    await wait_until(server.healthy, within=20, what="serve healthy after the fault")
    for code, (status, _) in first.items():  # the approver tries again where told to
        if status == 503:  # (410: it did act, and only the answer was lost)
            again, answer = await post(http, links[code], filled[code])
            assert again == 410 or any(w in answer for w in RECORDED), answer[:500]

    async def signer_told() -> bool:
        return len(await task_links(relay, SIGNER, DECISIONS)) == DECISIONS

    await wait_until(signer_told, within=60, what="a sign-off task per document")
    states = await review_states(pg_url)
    assert states == {c: ["review:approved", "signoff:open"] for c in links}, states
    sign_mails = Counter(CODE.search(str(m["Subject"])).group(0)  # type: ignore[union-attr]
                         for m in relay.to(SIGNER))  # fmt: skip
    assert set(sign_mails.values()) == {1}, f"a task mailed twice: {sign_mails}"
    assert_quiet_log(server)
    print(f"decisions during the fault: {dict(statuses)}")


# --- SIGTERM during a burst of decisions --------------------------------------------------

BURST_DOCUMENTS = 50
POSTS_PER_LINK = 4  # 200 decisions: each sign-off link posted four times at once


async def test_sigterm_during_a_burst_of_decisions_stops_serve_within_seconds_losing_nothing(
    pg_url: str, relay: Relay, tmp_path: Path, spawn: Spawn
) -> None:
    """Sign-offs are the heavy decisions (each issues its document, one at a time per
    register): a burst of them once kept serve running for half a minute after SIGTERM."""
    env = env_for(tmp_path, pg_url, relay)
    await add_people(env)
    server = await spawn(env)
    await send_drafts(server, BURST_DOCUMENTS, "khẩn")
    http = await server.session()
    reviews = await task_links(relay, REVIEWER, BURST_DOCUMENTS)
    for code, form in (await forms(http, reviews)).items():
        status, answer = await post(http, reviews[code], form)
        assert status == 200, answer[:500]
    links = await task_links(relay, SIGNER, BURST_DOCUMENTS)
    filled = await forms(http, links)
    answers: list[tuple[str, int, str]] = []
    enough = asyncio.Event()

    async def decide(code: str) -> None:
        status, answer = await post(http, links[code], filled[code])
        answers.append((code, status, answer))
        if len(answers) >= POSTS_PER_LINK:
            enough.set()

    burst = [asyncio.create_task(decide(code)) for _ in range(POSTS_PER_LINK) for code in links]
    await enough.wait()
    started = time.monotonic()
    exit_code = await server.terminate(grace=10)
    took = time.monotonic() - started
    await asyncio.gather(*burst)
    assert exit_code in (0, -15), f"exit {exit_code} after SIGTERM:\n{server.log_tail()}"
    assert took < 10

    await server.start()
    statuses = Counter(status for _, status, _ in answers)
    assert set(statuses) <= {200, 410, 503, 0}, statuses  # 0: cut off by the stop
    recorded = {c for c, status, a in answers if status == 200 and any(w in a for w in RECORDED)}
    for code in sorted(set(links) - recorded):  # not acted on before the stop: acts now
        status, answer = await post(http, links[code], filled[code])
        assert status == 410 or any(w in answer for w in RECORDED), answer[:500]
    states = await review_states(pg_url)
    assert states == {c: ["review:approved", "signoff:approved"] for c in links}, states
    docs = await server.documents()
    assert {d["status"] for d in docs} == {"issued"}, Counter(d["status"] for d in docs)
    conn = await asyncpg.connect(pg_url)
    try:
        numbers = [r["seq"] for r in await conn.fetch("SELECT seq FROM archive_records ORDER BY 1")]
    finally:
        await conn.close()
    assert numbers == list(range(1, BURST_DOCUMENTS + 1)), "official numbers lost or doubled"
    assert await server.inbound("pending") == 0
    assert "Traceback" not in server.log_tail(1_000_000)
    print(f"SIGTERM during the burst: stopped in {took:.1f} s, {len(recorded)} signed before")
