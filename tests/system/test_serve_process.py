"""`docflow serve` as a process: real mail clients in front, crashes and signals behind."""

from __future__ import annotations

import asyncio
import json
import os
import random
import smtplib
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from email import policy
from pathlib import Path

import aiosmtplib
import pytest

from tests.conftest import Relay
from tests.filebuilders import make_docx_python_docx
from tests.mails import numbered_draft
from tests.system.conftest import (
    AUTHOR,
    AUTHOR_NAME,
    DOCX,
    INTAKE,
    Server,
    cli_ok,
    draft,
    mail_to,
    sha256,
    wait_until,
)

Spawn = Callable[[dict[str, str]], Awaitable[Server]]
SWAKS = Path("/usr/bin/swaks")


async def add_author(env: dict[str, str]) -> None:
    await cli_ok(env, "user", "add", AUTHOR, "--name", AUTHOR_NAME, "--role", "staff")


async def document_titled(server: Server, title: str) -> dict[str, object] | None:
    return next((d for d in await server.documents() if d["title"] == title), None)


# --- a real MTA client in front ---------------------------------------------------------


def swaks_path() -> Path:
    """Debian's swaks, a real SMTP client; missing means the machine is not set up."""
    if not SWAKS.exists():
        pytest.fail(f"{SWAKS} is missing: run scripts/bootstrap --test (installs Debian swaks)")
    return SWAKS


async def test_draft_sent_with_swaks_becomes_a_document_and_gets_a_receipt(
    env: dict[str, str], relay: Relay, tmp_path: Path, spawn: Spawn
) -> None:
    swaks = swaks_path()
    title = "Kế hoạch cải cách hành chính năm 2027 của Ban Dân tộc"
    filename = "Kế hoạch CCHC 2027 (dự thảo).docx"
    data = make_docx_python_docx(["Năm 2027, Ban Dân tộc đẩy mạnh cải cách hành chính."])
    (tmp_path / "draft.docx").write_bytes(data)
    await add_author(env)
    server = await spawn(env)

    client = await asyncio.create_subprocess_exec(
        str(swaks),
        "--server", f"127.0.0.1:{server.smtp_port}",
        "--from", AUTHOR,
        "--to", INTAKE,
        "--header", f"Subject: {title}",
        "--attach-type", DOCX,
        "--attach-name", filename,
        "--attach", f"@{tmp_path / 'draft.docx'}",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    transcript = (await asyncio.wait_for(client.communicate(), 60))[0].decode(errors="replace")
    assert client.returncode == 0, transcript[-3000:]
    assert "<-  250 2.0.0" in transcript, transcript[-3000:]

    doc = await wait_until(lambda: document_titled(server, title), what="the document")
    status, full = await server.api(f"/api/v1/documents/{doc['code']}")
    assert status == 200, full
    assert (full["author"], full["status"]) == (AUTHOR, "in_review")
    assert [
        (f["name"], f["role"], f["mime"], f["sha256"]) for f in full["versions"][0]["files"]
    ] == [(filename, "main", DOCX, sha256(data))]
    status, version = await server.api(f"/api/v1/documents/{doc['code']}/versions/1")
    assert status == 200 and "đẩy mạnh cải cách hành chính" in version["files"][0]["text"]

    receipts = await wait_until(lambda: mail_to(relay, AUTHOR), what="a receipt")
    assert doc["code"] in str(receipts[0]["Subject"])
    assert title in str(receipts[0]["Subject"]) + receipts[0].get_body().get_content()


def lmtp_deliver(port: int, sender: str, rcpts: list[str], raw: bytes) -> dict[str, object]:
    """One LMTP transaction; the RCPT replies, and every DATA reply (one per accepted rcpt)."""
    with smtplib.LMTP("127.0.0.1", port, timeout=30) as client:
        lhlo, _ = client.ehlo("mta.bandantoc.gov.vn")  # LMTP's greeting is LHLO
        mail, _ = client.mail(sender)
        rcpt_codes = [client.rcpt(r)[0] for r in rcpts]
        accepted = sum(code == 250 for code in rcpt_codes)
        data = [client.data(raw)[0]]
        if data[0] == 250:  # the other recipients' replies follow
            data += [client.getreply()[0] for _ in range(accepted - 1)]
        noop, _ = client.noop()  # in step: no reply left unread
    return {"lhlo": lhlo, "mail": mail, "rcpt": rcpt_codes, "data": data, "noop": noop}


async def test_lmtp_answers_once_per_recipient_and_stores_one_document(
    env: dict[str, str], spawn: Spawn
) -> None:
    env["DOCFLOW_LMTP"] = "1"
    await add_author(env)
    server = await spawn(env)
    title = "Quyết định thành lập Tổ công tác chuyển đổi số"
    msg = draft(title, "Quyết định.docx", make_docx_python_docx(["Quyết định."]), DOCX)
    rcpts = [INTAKE, "ai.do@bandantoc.gov.vn", "vanban+ke-hoach@docflow.localhost"]

    replies = await asyncio.to_thread(
        lmtp_deliver, server.smtp_port, AUTHOR, rcpts, msg.as_bytes(policy=policy.SMTP)
    )
    assert replies == {
        "lhlo": 250,
        "mail": 250,
        "rcpt": [250, 550, 250],
        "data": [250, 250],
        "noop": 250,
    }
    await wait_until(lambda: document_titled(server, title), what="the document")
    await wait_until(lambda: _no_pending(server), what="intake to settle")
    assert [d["title"] for d in await server.documents()] == [title]


async def _no_pending(server: Server) -> bool:
    return await server.inbound("pending") == 0


# --- crashes ------------------------------------------------------------------------------

CRASH_MESSAGES = 300
CRASH_CONNECTIONS = 3


def crash_draft(i: int) -> tuple[str, bytes]:
    subject = f"Báo cáo nhanh số {i:03d} về tình hình vùng đồng bào dân tộc"
    return numbered_draft(i, f"crash{i:03d}", subject)


async def test_every_acknowledged_message_is_stored_once_across_two_sigkills(
    env: dict[str, str], spawn: Spawn
) -> None:
    seed = int.from_bytes(os.urandom(4), "big")
    rng = random.Random(seed)
    env = {**env, "DOCFLOW_RATE_LIMIT": "0"}  # 300 drafts of one author here are no loop
    await add_author(env)
    server = await spawn(env)
    drafts = [crash_draft(i) for i in range(CRASH_MESSAGES)]
    todo: asyncio.Queue[int] = asyncio.Queue()
    for i in range(CRASH_MESSAGES):
        todo.put_nowait(i)
    acked: set[int] = set()
    refused: list[str] = []
    retries = Counter[str]()
    lo, hi = CRASH_MESSAGES // 6, CRASH_MESSAGES * 5 // 6
    kill_at = {n: asyncio.Event() for n in sorted(rng.sample(range(lo, hi), 2))}

    async def mta() -> None:
        """Sends over one connection; a message without its 250 is sent again later."""
        client: aiosmtplib.SMTP | None = None
        while not todo.empty():
            i = todo.get_nowait()
            while True:
                try:
                    if client is None:
                        client = aiosmtplib.SMTP(
                            hostname="127.0.0.1", port=server.smtp_port, timeout=15
                        )
                        await client.connect()
                    await client.sendmail(AUTHOR, [INTAKE], drafts[i][1])
                    acked.add(i)
                    if len(acked) in kill_at:
                        kill_at[len(acked)].set()
                    break
                except (aiosmtplib.SMTPException, OSError) as e:
                    code = getattr(e, "code", 0)
                    if isinstance(e, aiosmtplib.SMTPRecipientsRefused):
                        code = min(r.code for r in e.recipients)
                    if code >= 500:
                        refused.append(f"{i}: {e}")
                        break
                    retries[type(e).__name__] += 1
                    if client is not None:
                        client.close()
                        client = None
                    await asyncio.sleep(rng.uniform(0.05, 0.3))
        if client is not None:
            try:
                await client.quit()
            except (aiosmtplib.SMTPException, OSError):
                client.close()

    kills: list[int] = []

    async def crasher() -> None:
        for reached in kill_at.values():
            await reached.wait()
            await asyncio.sleep(rng.uniform(0, 0.05))
            await server.kill()
            kills.append(len(acked))
            await asyncio.sleep(rng.uniform(0.1, 0.6))
            await server.start()

    started = time.monotonic()
    async with asyncio.timeout(60), asyncio.TaskGroup() as tasks:
        tasks.create_task(crasher())
        for _ in range(CRASH_CONNECTIONS):
            tasks.create_task(mta())
    where = f"seed {seed}, killed after {kills} acks, retries {dict(retries)}"
    assert refused == [], where
    assert len(acked) == CRASH_MESSAGES and len(kills) == 2, where

    # settle: nothing pending (a killed worker's claim expires after its lease) and stable
    seen: list[list[str]] = []

    async def settled() -> bool:
        titles = sorted(d["title"] for d in await server.documents())
        seen.append(titles)
        pending = await server.inbound("pending")
        return pending == 0 and len(seen) >= 3 and seen[-3] == seen[-2] == titles

    await wait_until(settled, within=90, what=f"intake to settle ({where})")
    docs = await server.documents()
    titles = Counter(d["title"] for d in docs)
    expected = {drafts[i][0] for i in acked}
    assert {t: n for t, n in titles.items() if n > 1} == {}, f"stored twice; {where}"
    assert sorted(expected - set(titles)) == [], f"acknowledged but missing; {where}"
    assert sorted(set(titles) - expected) == [], where
    assert {d["version_count"] for d in docs} == {1}, where
    quarantine = json.loads((await cli_ok(env, "quarantine", "list", "--json")).stdout)
    assert quarantine == [], where
    states = {s: await server.inbound(s) for s in ("accepted", "duplicate", "pending")}
    print(f"crash test: {where}; inbound {states}; {time.monotonic() - started:.1f} s")


# --- signals ------------------------------------------------------------------------------


async def test_sigterm_stops_serve_cleanly_and_a_restart_serves_again(
    env: dict[str, str], spawn: Spawn
) -> None:
    server = await spawn(env)
    # an MTA that keeps its connection open between messages must not hold up the stop
    idle = aiosmtplib.SMTP(hostname="127.0.0.1", port=server.smtp_port, timeout=15)
    await idle.connect()
    await idle.ehlo()
    try:
        code = await server.terminate(grace=10)
    finally:
        idle.close()
    assert code in (0, -15), f"exit {code} after SIGTERM:\n{server.log_tail()}"
    assert "Traceback" not in server.log_tail(100_000), server.log_tail()
    assert not await server.healthy()

    await server.start()
    status, body = await server.api("/healthz", token=None)
    assert (status, body) == (200, {"status": "ok", "database": "ok"})
