"""Fixtures: real databases (SQLite and PostgreSQL), a real capturing relay, docflow running.

Every test that takes `stack` runs twice, once per database. PostgreSQL is the
server on this machine (DOCFLOW_TEST_PG, default postgres@127.0.0.1:5432): a
throwaway database is created for the session and dropped at its end; an
unreachable server is an error, not a skip.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import aiosmtplib
import asyncpg
import pytest
from aiohttp import web
from aiosmtpd.smtp import SMTP, Envelope, Session

from docflow import db
from docflow.app import create_app
from docflow.clock import Clock
from docflow.config import PACKAGE_ROOT, Settings, load_settings
from docflow.services import Services
from docflow.web.keys import SERVICES
from tests.mails import SentMail
from tests.ports import free_port

T = TypeVar("T")
PG_ADMIN_URL = os.environ.get("DOCFLOW_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
ADMIN_TOKEN = "test-admin-token-0123456789"
TABLES = [
    "seen_versions",
    "signin_links",
    "access_events",
    "issue_jobs",
    "legal_holds",
    "issued_files",
    "archive_records",
    "register_counters",
    "search_terms",
    "search_entries",
    "delegations",
    "audit_events",
    "task_replies",
    "reply_tokens",
    "link_tokens",
    "tasks",
    "file_renditions",
    "file_ocr",
    "version_files",
    "versions",
    "thread_messages",
    "documents",
    "code_counters",
    "imap_messages",
    "imap_leases",
    "inbound_messages",
    "delivery_failures",
    "outbox",
    "users",
]


def run_in_thread(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion on its own loop (session fixtures are set up from
    inside a test's running loop, where asyncio.run is not allowed)."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


# --- databases ------------------------------------------------------------------------


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test (migrating once is faster)."""
    path = tmp_path_factory.mktemp("sqlite-template") / "template.sqlite3"
    run_in_thread(db.migrate(f"sqlite://{path}"))
    return path


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A throwaway PostgreSQL database for this session, migrated, dropped at the end."""
    name = f"docflow_test_{uuid.uuid4().hex[:10]}"
    base = PG_ADMIN_URL.rsplit("/", 1)[0]

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(PG_ADMIN_URL, timeout=10)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    try:
        run_in_thread(admin(f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError) as e:
        pytest.fail(f"PostgreSQL at {PG_ADMIN_URL} is not usable ({e}); the tests need it")
    url = f"{base}/{name}"
    run_in_thread(db.migrate(url))
    yield url
    run_in_thread(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _truncate_pg(url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE")
    finally:
        await conn.close()


@pytest.fixture(params=["sqlite", "postgres"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty, migrated database of each kind."""
    if request.param == "sqlite":
        path = tmp_path / "docflow.sqlite3"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite://{path}"
    url: str = request.getfixturevalue("pg_database")
    await _truncate_pg(url)
    return url


# --- a capturing relay ------------------------------------------------------------------


class Relay:
    """A real SMTP server that keeps what docflow sends; can be told to refuse (451), or to
    refuse some recipients (`unknown`: 550, `busy`: 451)."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], EmailMessage]] = []
        self.envelope_from: dict[str, str] = {}  # Message-ID → MAIL FROM (docflow's VERP)
        self.refuse = False
        self.unknown: set[str] = set()  # recipients refused for good (550 5.1.1)
        self.busy: set[str] = set()  # recipients deferred (451 4.2.1)
        self.port = free_port()
        self.server: asyncio.Server | None = None

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if self.refuse:
            return "451 4.3.0 relay refusing for the test"
        if address.lower() in self.unknown:
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        if address.lower() in self.busy:
            return f"451 4.2.1 <{address}>: Mailbox busy, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        msg = message_from_bytes(raw, SentMail, policy=policy.default)
        assert isinstance(msg, SentMail)
        self.messages.append((list(envelope.rcpt_tos), msg))
        self.envelope_from[str(msg["Message-ID"])] = envelope.mail_from or ""
        return "250 OK"

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(
            lambda: SMTP(self, hostname="relay", decode_data=False), "127.0.0.1", self.port
        )

    async def stop(self) -> None:
        if self.server:
            self.server.close()
            await self.server.wait_closed()

    def to(self, address: str) -> list[EmailMessage]:
        return [m for rcpts, m in self.messages if address.lower() in [r.lower() for r in rcpts]]

    def texts_to(self, address: str) -> list[str]:
        """The text of each mail to `address` (its text/plain part, beside the HTML)."""
        out = []
        for m in self.to(address):
            body = m.get_body(("plain",))
            out.append(body.get_content() if body is not None else "")
        return out

    def htmls_to(self, address: str) -> list[str]:
        """The HTML part of each mail to `address` ("" for a mail without one)."""
        out = []
        for m in self.to(address):
            body = m.get_body(("html",))
            out.append(body.get_content() if body is not None else "")
        return out


@pytest.fixture
async def relay() -> AsyncIterator[Relay]:
    r = Relay()
    await r.start()
    yield r
    await r.stop()


# --- docflow running in this process -----------------------------------------------------


def docflow_environ(
    data_dir: Path, database_url: str, relay_port: int, **extra: str
) -> dict[str, str]:
    """DOCFLOW_* settings for a docflow on free loopback ports and a fresh data dir."""
    http_port = free_port()
    return {
        "DOCFLOW_CONFIG": str(PACKAGE_ROOT / "config" / "docflow.toml"),
        "DOCFLOW_WORKFLOWS_DIR": str(PACKAGE_ROOT / "config" / "workflows"),
        "DOCFLOW_DATA_DIR": str(data_dir),
        "DOCFLOW_DATABASE_URL": database_url,
        "DOCFLOW_HTTP_HOST": "127.0.0.1",
        "DOCFLOW_HTTP_PORT": str(http_port),
        "DOCFLOW_SMTP_HOST": "127.0.0.1",
        "DOCFLOW_SMTP_PORT": str(free_port()),
        "DOCFLOW_RELAY_HOST": "127.0.0.1",
        "DOCFLOW_RELAY_PORT": str(relay_port),
        "DOCFLOW_BASE_URL": f"http://127.0.0.1:{http_port}",
        "DOCFLOW_ADMIN_TOKEN": ADMIN_TOKEN,
        # no LibreOffice behind every test that mails a DOCX: tests of renditions turn it on
        "DOCFLOW_RENDITIONS": "0",
        # nor OCR behind every test that mails a PDF: tests of OCR turn it on
        "DOCFLOW_OCR": "0",
        **extra,
    }


def make_settings(data_dir: Path, database_url: str, relay_port: int, **env: str) -> Settings:
    environ = docflow_environ(data_dir, database_url, relay_port, **env)
    return load_settings(environ)


class Stack:
    """docflow serving HTTP and SMTP on loopback ports, with helpers a test needs."""

    def __init__(self, settings: Settings, relay: Relay, clock: Clock | None = None) -> None:
        self.settings = settings
        self.relay = relay
        self.intake = settings.intake.address
        self.base = settings.http.base_url
        self.clock = clock
        self.runner: web.AppRunner | None = None
        self.http: aiohttp.ClientSession | None = None

    @property
    def services(self) -> Services:
        assert self.runner is not None
        return self.runner.app[SERVICES]

    async def start(self) -> None:
        app = create_app(self.settings, self.clock)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, self.settings.http.host, self.settings.http.port)
        await site.start()
        self.http = aiohttp.ClientSession()

    async def stop(self) -> None:
        if self.http:
            await self.http.close()
        if self.runner:
            await self.runner.cleanup()

    async def add_user(
        self, email: str, name: str, roles: list[str] | None = None, language: str = "vi"
    ) -> None:
        await self.services.users.add(email, name, roles or ["staff"], language)

    async def send(
        self, msg: EmailMessage, sender: str | None = None, rcpts: list[str] | None = None
    ) -> Any:
        return await aiosmtplib.send(
            msg,
            sender=sender,
            recipients=rcpts or [self.intake],
            hostname="127.0.0.1",
            port=self.settings.smtp.port,
            timeout=30,
        )

    async def api(self, path: str, token: str | None = ADMIN_TOKEN) -> tuple[int, Any]:
        assert self.http is not None
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with self.http.get(self.base + path, headers=headers) as r:
            if "json" in r.headers.get("Content-Type", ""):
                return r.status, await r.json()
            return r.status, await r.read()

    async def documents(self) -> list[dict[str, Any]]:
        status, body = await self.api("/api/v1/documents?limit=500")
        assert status == 200, body
        items: list[dict[str, Any]] = body["items"]
        return items

    async def document(self, code: str) -> dict[str, Any]:
        status, body = await self.api(f"/api/v1/documents/{code}")
        assert status == 200, body
        return dict(body)

    async def settled(self) -> None:
        """Until every received message has been processed and every mail sent."""
        from docflow.intake.models import InboundMessage
        from docflow.notify.models import OutboxMessage

        async def done() -> bool:
            return not (
                await InboundMessage.filter(state="pending").exists()
                or await OutboxMessage.filter(state="queued").exists()
            )

        await wait_for(done, what="intake and outbox to settle")


async def wait_for(
    probe: Callable[[], Awaitable[T]], seconds: float = 20, what: str = "condition"
) -> T:
    """Poll `probe` until it returns something truthy."""
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while True:
        value = await probe()
        if value:
            return value
        if loop.time() > end:
            raise TimeoutError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


@pytest.fixture
async def stack(database_url: str, relay: Relay, tmp_path: Path) -> AsyncIterator[Stack]:
    s = Stack(make_settings(tmp_path / "data", database_url, relay.port), relay)
    await s.start()
    yield s
    await s.stop()
