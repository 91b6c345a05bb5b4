"""Two `docflow serve` processes on one PostgreSQL, one data dir and the same two ports.

With DOCFLOW_REUSE_PORT=1 both bind the HTTP and the SMTP port (SO_REUSEPORT) and the
kernel spreads connections over them: a draft mailed to either is one document, a page
shown by one process takes a decision POSTed to the other (the CSRF key is the shared
data dir's), and stopping one leaves the port served.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiohttp
import aiosmtplib
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
REVIEWER = "hung.nv@bandantoc.gov.vn"  # chanh-van-phong: the default workflow's review
SIGNER = "minh.td@bandantoc.gov.vn"  # truong-ban: sign-off
OPEN_LINK = re.compile(r"http://127\.0\.0\.1:\d+/t/[A-Za-z0-9_-]+(?![/A-Za-z0-9_-])")
CSRF = re.compile(r'name="csrf" value="([0-9a-f]+)"')


@pytest.fixture
async def pg_url(pg_database: str) -> AsyncIterator[str]:
    await _truncate_pg(pg_database)
    yield pg_database


def listening_ports(pid: int) -> set[int]:
    """The TCP ports a process has a listening socket on (from /proc)."""
    inodes = set()
    try:
        fds = list(Path(f"/proc/{pid}/fd").iterdir())
    except FileNotFoundError:  # exited, not reaped yet
        return set()
    for fd in fds:
        try:
            target = str(fd.readlink())
        except OSError:  # closed since the listing (a client socket, a pipe)
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            cols = line.split()
            if cols[3] == "0A" and cols[9] in inodes:  # 0A: LISTEN
                ports.add(int(cols[1].rsplit(":", 1)[1], 16))
    return ports


async def decide_on_fresh_connections(url: str) -> str:
    """GET the page and POST "approve", each on a new connection (either process)."""
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(force_close=True), timeout=timeout
    ) as http:
        async with http.get(url) as r:
            page = await r.text()
            assert r.status == 200, page[:500]
        csrf = CSRF.search(page)
        assert csrf is not None, page[:500]
        form = {"csrf": csrf.group(1), "action": "approve", "comment": ""}
        async with http.post(url, data=form) as r:
            answer = await r.text()
            assert r.status == 200, answer[:500]
            return answer


async def open_link(relay: Relay, to: str) -> str:
    async def mailed() -> str | None:
        for m in relay.to(to):
            found = [u for u in OPEN_LINK.findall(m.get_content()) if "/files/" not in u]
            if found:
                return found[0]
        return None

    link = await wait_until(mailed, what=f"a task mail to {to}")
    assert isinstance(link, str)
    return link


async def test_two_processes_share_the_ports_and_a_decision_flows_through_both(
    pg_url: str, relay: Relay, tmp_path: Path, spawn: Spawn
) -> None:
    env = docflow_env(tmp_path, pg_url, relay.port, DOCFLOW_REUSE_PORT="1")
    people = [
        (AUTHOR, AUTHOR_NAME, "staff", "vi"),
        (REVIEWER, "Nguyễn Văn Hùng", "chanh-van-phong", "vi"),
        (SIGNER, "Trần Đức Minh", "truong-ban", "en"),
    ]
    for email, name, role, lang in people:
        await cli_ok(env, "user", "add", email, "--name", name, "--role", role, "--language", lang)
    first, second = await spawn(env), await spawn(env)  # the second: healthy by the first
    ports = {int(env["DOCFLOW_HTTP_PORT"]), int(env["DOCFLOW_SMTP_PORT"])}

    async def both_listening() -> bool:
        for server in (first, second):
            assert server.proc is not None
            assert server.proc.returncode is None, server.log_tail()
            if not ports <= listening_ports(server.proc.pid):
                return False
        return True

    await wait_until(both_listening, what="both processes to listen on both ports")

    data = make_docx_python_docx(["Báo cáo công tác dân tộc quý IV."])
    msg = draft("Công văn báo cáo quý IV", "Công văn.docx", data, DOCX)
    await aiosmtplib.send(msg, hostname="127.0.0.1", port=first.smtp_port, timeout=30)
    answer = await decide_on_fresh_connections(await open_link(relay, REVIEWER))
    assert "đã được ghi nhận" in answer
    answer = await decide_on_fresh_connections(await open_link(relay, SIGNER))
    assert "has been recorded" in answer

    async def approved() -> bool:
        docs = await first.documents()
        return len(docs) == 1 and docs[0]["status"] == "issued"

    await wait_until(approved, what="the document to be approved and issued")

    await first.stop()  # the other process keeps the port
    status, body = await second.api("/api/v1/documents")
    assert status == 200 and [d["status"] for d in body["items"]] == ["issued"]
    assert "Traceback" not in first.log_tail(100_000) + second.log_tail(100_000)
