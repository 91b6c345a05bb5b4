"""A disk that fills while DATA streams into the spool: 451, nothing half-written, and the
same session stores its next message.

The spool is a real filesystem that runs out of room: a tmpfs of a few pages mounted over
the stack's spool directory before docflow starts (mounting needs root, as the mail
stack's tests do; CI runs as root).
"""

from __future__ import annotations

import asyncio
import random
import subprocess
from collections.abc import AsyncIterator, Iterator
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from pathlib import Path

import aiosmtplib
import pytest

from docflow.intake.models import InboundMessage
from tests import mails
from tests.conftest import Relay, Stack, make_settings

AUTHOR = mails.AUTHOR
ROOM = 128 * 1024  # the spool's filesystem: the big draft cannot fit, the small one can
NOT_STORED = "451 4.3.0 Could not store the message, please try again later"


@pytest.fixture
def small_spool(tmp_path: Path) -> Iterator[Path]:
    spool = tmp_path / "data" / "spool"
    spool.mkdir(parents=True)
    mount = ["mount", "-t", "tmpfs", "-o", f"size={ROOM}", "docflow-spool", str(spool)]
    mounted = subprocess.run(mount, capture_output=True, text=True, check=False)
    if mounted.returncode != 0:
        pytest.skip(f"a small tmpfs cannot be mounted here: {mounted.stderr.strip()}")
    try:
        yield spool
    finally:
        subprocess.run(["umount", str(spool)], check=True)


async def on_small_spool(
    database_url: str, relay: Relay, tmp_path: Path, **env: str
) -> AsyncIterator[Stack]:
    s = Stack(make_settings(tmp_path / "data", database_url, relay.port, **env), relay)
    await s.start()
    await s.add_user(AUTHOR, mails.AUTHOR_NAME)
    yield s
    await s.stop()


@pytest.fixture
async def smtp_stack(
    database_url: str, relay: Relay, tmp_path: Path, small_spool: Path
) -> AsyncIterator[Stack]:
    async for s in on_small_spool(database_url, relay, tmp_path):
        yield s


@pytest.fixture
async def lmtp_stack(
    database_url: str, relay: Relay, tmp_path: Path, small_spool: Path
) -> AsyncIterator[Stack]:
    async for s in on_small_spool(database_url, relay, tmp_path, DOCFLOW_LMTP="1"):
        yield s


def big_draft() -> EmailMessage:
    """About 270 KB as sent (a 200 KB scan in base64): more than the spool has room for."""
    scan = random.Random(15).randbytes(200_000)
    return mails.draft("Bản quét hồ sơ", "ho-so.pdf", scan, "application/pdf")


def small_draft() -> EmailMessage:
    return mails.draft("Công văn ngắn", "cong-van.txt", "Nội dung.\n".encode(), "text/plain")


def spool_files(spool: Path) -> list[Path]:
    return sorted(p for p in spool.rglob("*") if p.is_file())


async def test_a_disk_filling_up_during_data_answers_451_and_the_next_message_is_stored(
    smtp_stack: Stack, small_spool: Path
) -> None:
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=smtp_stack.settings.smtp.port)
    async with client:
        with pytest.raises(aiosmtplib.SMTPDataError) as refused:
            await client.send_message(big_draft())
        assert (refused.value.code, refused.value.message) == (451, NOT_STORED[4:])
        # the same session: the space the failed message took is free again
        await client.send_message(small_draft())

    await smtp_stack.settled()
    assert [d["title"] for d in await smtp_stack.documents()] == ["Công văn ngắn"]
    # nothing half-written: one row, one spool file (its own), no temporary file
    assert await InboundMessage.all().count() == 1
    (stored,) = spool_files(small_spool)
    assert stored.suffix == ".eml" and b"Subject:" in stored.read_bytes()


class LmtpClient:
    """An MTA's side of LMTP (RFC 2033): one reply per recipient after the data."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def reply(self) -> str:
        lines = []
        while True:
            line = await asyncio.wait_for(self.reader.readuntil(b"\r\n"), 20)
            lines.append(line.decode().rstrip("\r\n"))
            if line[3:4] != b"-":
                return "\n".join(lines)

    async def command(self, line: str) -> str:
        self.writer.write(line.encode() + b"\r\n")
        return await self.reply()

    async def deliver(self, msg: EmailMessage, rcpts: list[str]) -> list[str]:
        assert (await self.command(f"MAIL FROM:<{AUTHOR}>")).startswith("250")
        for rcpt in rcpts:
            assert (await self.command(f"RCPT TO:<{rcpt}>")).startswith("250")
        assert (await self.command("DATA")).startswith("354")
        data = msg.as_bytes(policy=SMTP_POLICY).replace(b"\r\n.", b"\r\n..")
        self.writer.write(data + b".\r\n")
        return [await self.reply() for _ in rcpts]


async def test_lmtp_answers_451_for_each_recipient_when_the_disk_fills_then_stores_the_next(
    lmtp_stack: Stack, small_spool: Path
) -> None:
    rcpts = [lmtp_stack.intake, "vanban+cong-van@docflow.localhost"]
    reader, writer = await asyncio.open_connection("127.0.0.1", lmtp_stack.settings.smtp.port)
    client = LmtpClient(reader, writer)
    try:
        assert (await client.reply()).startswith("220")
        assert (await client.command("LHLO mx.bandantoc.gov.vn")).startswith("250")
        assert await client.deliver(big_draft(), rcpts) == [NOT_STORED, NOT_STORED]
        assert await client.deliver(small_draft(), rcpts) == ["250 2.0.0 Message stored"] * 2
        assert (await client.command("QUIT")).startswith("221")
    finally:
        writer.close()
        await writer.wait_closed()

    await lmtp_stack.settled()
    assert [d["title"] for d in await lmtp_stack.documents()] == ["Công văn ngắn"]
    assert await InboundMessage.all().count() == 1
    (stored,) = spool_files(small_spool)
    assert stored.suffix == ".eml"
