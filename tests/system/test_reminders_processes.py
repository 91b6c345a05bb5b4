"""Two `docflow serve` processes sweeping one PostgreSQL: each reminder and escalation once.

A process's clock cannot be moved from outside, so the test moves the tasks instead:
their `created_at` and `due_at` are set into the past directly in the database, and
both processes sweep every half second (DOCFLOW_SWEEP_SECONDS).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiosmtplib
import asyncpg
import pytest

from tests.conftest import Relay, _truncate_pg
from tests.filebuilders import make_docx_python_docx
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

Spawn = Callable[[dict[str, str]], Awaitable[Server]]
REVIEWERS = ["hung.nv@bandantoc.gov.vn", "lan.pt@bandantoc.gov.vn"]  # chanh-van-phong
DEPUTY = "khoa.pv@bandantoc.gov.vn"  # pho-truong-ban: the review stage's escalation target
DRAFTS = 12


@pytest.fixture
async def pg_url(pg_database: str) -> AsyncIterator[str]:
    await _truncate_pg(pg_database)
    yield pg_database


def subjects(relay: Relay, to: str, word: str) -> Counter[str]:
    """How many mails to `to` with `word` in the subject, per subject."""
    return Counter(str(m["Subject"]) for m in relay.to(to) if word in str(m["Subject"]))


async def test_two_processes_remind_and_escalate_each_task_once(
    pg_url: str, relay: Relay, tmp_path: Path, spawn: Spawn
) -> None:
    for d in ("a", "b"):
        (tmp_path / d).mkdir()
    env_a = docflow_env(tmp_path / "a", pg_url, relay.port, DOCFLOW_SWEEP_SECONDS="0.2")
    env_b = docflow_env(tmp_path / "b", pg_url, relay.port, DOCFLOW_SWEEP_SECONDS="0.2")
    people = [
        (AUTHOR, AUTHOR_NAME, "staff", "vi"),
        (DEPUTY, "Phạm Văn Khoa", "pho-truong-ban", "en"),
    ]
    people += [(r, f"Reviewer {i}", "chanh-van-phong", "vi") for i, r in enumerate(REVIEWERS)]
    for email, name, role, lang in people:
        await cli_ok(
            env_a, "user", "add", email, "--name", name, "--role", role, "--language", lang
        )
    server_a, server_b = await spawn(env_a), await spawn(env_b)

    data = make_docx_python_docx(["Báo cáo công tác dân tộc."])
    for n in range(DRAFTS):
        server = (server_a, server_b)[n % 2]
        msg = draft(f"Công văn số {n}", "Công văn.docx", data, DOCX)
        await aiosmtplib.send(msg, hostname="127.0.0.1", port=server.smtp_port, timeout=30)
    tasks = DRAFTS * len(REVIEWERS)

    async def all_tasks_mailed() -> bool:
        return sum(sum(subjects(relay, r, "Cần xem xét").values()) for r in REVIEWERS) == tasks

    await wait_until(all_tasks_mailed, what="every reviewer's task mails")

    conn = await asyncpg.connect(pg_url)
    try:  # a reminder (every 1d) and the escalation (due 2d) are both overdue now
        moved = await conn.execute(
            "UPDATE tasks SET created_at = created_at - interval '3 days', "
            "due_at = now() - interval '1 minute' WHERE state = 'open'"
        )
        assert moved == f"UPDATE {tasks}"

        async def swept() -> bool:
            reminded = sum(sum(subjects(relay, r, "Nhắc việc").values()) for r in REVIEWERS)
            told = sum(sum(subjects(relay, r, "Đã chuyển cấp trên").values()) for r in REVIEWERS)
            return reminded >= tasks and told >= tasks

        await wait_until(swept, what="reminders and escalations")
        await asyncio.sleep(3)  # several more sweeps by both processes: nothing more is sent
        audit = dict(await conn.fetch("SELECT action, count(*) FROM audit_events GROUP BY action"))
    finally:
        await conn.close()

    for r in REVIEWERS:
        reminders = subjects(relay, r, "Nhắc việc")
        assert len(reminders) == DRAFTS and set(reminders.values()) == {1}, reminders
        told = subjects(relay, r, "Đã chuyển cấp trên")
        assert len(told) == DRAFTS and set(told.values()) == {1}, told
    deputy = subjects(relay, DEPUTY, "To review")  # one added task a reviewer's seat, once
    assert len(deputy) == DRAFTS and set(deputy.values()) == {len(REVIEWERS)}, deputy
    assert audit["reminded"] == tasks and audit["escalated"] == tasks
    assert "Traceback" not in server_a.log_tail(100_000) + server_b.log_tail(100_000)
