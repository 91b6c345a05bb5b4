"""Fixtures that run docflow as a user does: `docflow …` subprocesses with DOCFLOW_* variables.

`docflow serve` runs in its own process group on free loopback ports with a fresh
data dir; it talks over TCP to the capturing relay of tests/conftest.py, which runs
on the test's event loop, so nothing here blocks that loop (asyncio subprocesses).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import re
import signal
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest

from tests import mails
from tests.conftest import ADMIN_TOKEN, PG_ADMIN_URL, Relay, docflow_environ

DOCFLOW = Path(sys.executable).parent / "docflow"
INTAKE = "vanban@docflow.localhost"
AUTHOR = "thu.lt@bandantoc.gov.vn"
AUTHOR_NAME = "Lê Thị Thu"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def docflow_env(
    data_root: Path, database_url: str, relay_port: int, **extra: str
) -> dict[str, str]:
    """The environment of a docflow command: this machine's, minus any DOCFLOW_* of the caller."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCFLOW_")}
    env.update(
        docflow_environ(data_root / "data", database_url, relay_port, PYTHONUNBUFFERED="1", **extra)
    )
    return env


@dataclass(frozen=True)
class CliResult:
    """What a user sees after running one `docflow` command."""

    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    def __str__(self) -> str:
        return (
            f"docflow {' '.join(self.args)} → exit {self.returncode}\n"
            f"--- stdout\n{self.stdout[-3000:]}\n--- stderr\n{self.stderr[-3000:]}"
        )


async def run_cli(env: dict[str, str], *args: str, within: float = 120) -> CliResult:
    """Run `docflow ARGS…` to completion (killed and reported when it outlives `within` s)."""
    if not DOCFLOW.exists():
        pytest.fail(f"{DOCFLOW} is missing: run scripts/bootstrap --test")
    proc = await asyncio.create_subprocess_exec(
        str(DOCFLOW),
        *args,
        env=env,
        cwd=Path(env["DOCFLOW_DATA_DIR"]).parent,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), within)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        out, err = await proc.communicate()
        pytest.fail(f"docflow {' '.join(args)} still running after {within} s:\n{err.decode()}")
    assert proc.returncode is not None
    return CliResult(args, proc.returncode, out.decode(), err.decode())


async def cli_ok(env: dict[str, str], *args: str, within: float = 120) -> CliResult:
    result = await run_cli(env, *args, within=within)
    assert result.returncode == 0, str(result)
    return result


class Server:
    """One `docflow serve` process group (restartable on the same ports and data dir)."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.env = env
        self.log_path = log_path
        self.base = env["DOCFLOW_BASE_URL"]
        self.smtp_port = int(env["DOCFLOW_SMTP_PORT"])
        self.proc: asyncio.subprocess.Process | None = None
        self.http: aiohttp.ClientSession | None = None

    async def start(self, within: float = 30) -> None:
        """Start serving and wait until /healthz answers 200."""
        assert self.proc is None or self.proc.returncode is not None, "already running"
        if not DOCFLOW.exists():
            pytest.fail(f"{DOCFLOW} is missing: run scripts/bootstrap --test")
        with self.log_path.open("ab") as log:
            self.proc = await asyncio.create_subprocess_exec(
                str(DOCFLOW),
                "serve",
                env=self.env,
                cwd=Path(self.env["DOCFLOW_DATA_DIR"]).parent,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
            )
        loop = asyncio.get_running_loop()
        end = loop.time() + within
        while not await self.healthy():
            if self.proc.returncode is not None:
                pytest.fail(f"docflow serve exited with {self.proc.returncode}:\n{self.log_tail()}")
            if loop.time() > end:
                pytest.fail(f"docflow serve not healthy after {within} s:\n{self.log_tail()}")
            await asyncio.sleep(0.05)

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except FileNotFoundError:
            return "(no log)"

    async def session(self) -> aiohttp.ClientSession:
        if self.http is None:
            self.http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
        return self.http

    async def healthy(self) -> bool:
        try:
            async with (await self.session()).get(
                self.base + "/healthz", timeout=aiohttp.ClientTimeout(total=2)
            ) as r:
                return r.status == 200
        except (aiohttp.ClientError, TimeoutError):
            return False

    async def kill(self) -> None:
        """SIGKILL the whole process group, as a crash or the OOM killer would."""
        assert self.proc is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        await self.proc.wait()

    async def terminate(self, grace: float = 10) -> int | None:
        """SIGTERM the serve process; its exit code, or None when it outlived `grace`."""
        assert self.proc is not None
        with contextlib.suppress(ProcessLookupError):
            self.proc.send_signal(signal.SIGTERM)
        try:
            return await asyncio.wait_for(self.proc.wait(), grace)
        except TimeoutError:
            return None

    async def stop(self) -> None:
        """SIGTERM, then SIGKILL; always leaves no process behind."""
        if self.proc is not None and self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), 10)
            except TimeoutError:
                await self.kill()
        if self.proc is not None:
            await self.proc.wait()  # reaped even when it died on its own

    async def close(self) -> None:
        await self.stop()
        if self.http is not None:
            await self.http.close()
            self.http = None

    async def api(self, path: str, token: str | None = ADMIN_TOKEN) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with (await self.session()).get(self.base + path, headers=headers) as r:
            if "json" in r.headers.get("Content-Type", ""):
                return r.status, await r.json()
            return r.status, await r.text()

    async def documents(self) -> list[dict[str, Any]]:
        """Every document the API lists, following `next`."""
        out: list[dict[str, Any]] = []
        path: str | None = "/api/v1/documents?limit=500"
        while path:
            status, body = await self.api(path)
            assert status == 200, body
            out.extend(body["items"])
            path = body["next"]
        return out

    async def inbound(self, state: str) -> int:
        """Received messages in `state`, as /metrics reports them."""
        status, body = await self.api("/metrics")
        assert status == 200, body
        m = re.search(rf'^docflow_inbound_messages\{{state="{state}"\}} (\S+)$', body, re.M)
        return int(float(m.group(1))) if m else 0


@pytest.fixture
def env(database_url: str, relay: Relay, tmp_path: Path) -> dict[str, str]:
    """DOCFLOW_* for a migrated database of each kind, the capturing relay, free ports."""
    return docflow_env(tmp_path, database_url, relay.port)


@pytest.fixture
async def spawn(tmp_path: Path) -> AsyncIterator[Callable[[dict[str, str]], Awaitable[Server]]]:
    """Start `docflow serve` with an environment; every one started is stopped afterwards."""
    servers: list[Server] = []

    async def start(env: dict[str, str]) -> Server:
        server = Server(env, tmp_path / f"serve-{len(servers)}.log")
        servers.append(server)
        await server.start()
        return server

    yield start
    for server in servers:
        await server.close()


@pytest.fixture(params=["sqlite", "postgres"])
async def unmigrated_database_url(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[str]:
    """A database of each kind that nothing has been migrated into."""
    if request.param == "sqlite":
        yield f"sqlite://{tmp_path / 'fresh.sqlite3'}"
        return
    name = f"docflow_fresh_{uuid.uuid4().hex[:10]}"
    try:
        conn = await asyncpg.connect(PG_ADMIN_URL, timeout=10)
    except (OSError, asyncpg.PostgresError) as e:
        pytest.fail(f"PostgreSQL at {PG_ADMIN_URL} is not usable ({e}); the tests need it")
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    try:
        yield f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{name}"
    finally:
        conn = await asyncpg.connect(PG_ADMIN_URL, timeout=10)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()


async def wait_until(
    probe: Callable[[], Awaitable[Any]], within: float = 30, what: str = "condition"
) -> Any:
    """Poll `probe` until it returns something truthy."""
    loop = asyncio.get_running_loop()
    end = loop.time() + within
    while True:
        value = await probe()
        if value:
            return value
        if loop.time() > end:
            raise TimeoutError(f"timed out after {within} s waiting for {what}")
        await asyncio.sleep(0.1)


async def mail_to(relay: Relay, address: str) -> list[EmailMessage]:
    """What the relay has received for `address` so far (a probe for `wait_until`)."""
    return relay.to(address)


def draft(
    subject: str,
    filename: str,
    data: bytes,
    mime: str,
    sender: str = AUTHOR,
    sender_name: str = AUTHOR_NAME,
) -> EmailMessage:
    """A draft as a mail client sends it: a short body, the file attached."""
    return mails.draft(
        subject,
        filename,
        data,
        mime,
        sender=sender,
        sender_name=sender_name,
        to=INTAKE,
        body="Kính gửi Lãnh đạo Ban, xin gửi dự thảo.",
    )


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
