"""Messages/s of aiosmtpd's SMTP vs ChunkedSMTP, each feeding a fsyncing Maildir.

Run: .venv/bin/python scripts/bench_smtp_data.py [-n 400] [-k 8] [--size 280000]

The load comes from two client processes by default: one aiosmtplib process
saturates a core at ~160 messages/s, below what ChunkedSMTP takes, and a client
on the server's own loop would take its CPU.  ``maildir_sink``, ``make_message``,
``send_load``, ``drive_load`` and ``run_plain_sink`` are meant for reuse by
scripts/bench_intake.py.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import random
import socket
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from multiprocessing import get_context
from pathlib import Path

import aiosmtplib
from aiosmtpd.smtp import SMTP, Envelope, Session

from docflow.intake.smtp_data import ChunkedSMTP

HOST = "127.0.0.1"


class MaildirSink:
    """aiosmtpd handler: each message to ``tmp/``, fsync, rename into ``new/``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        for sub in ("tmp", "new", "cur"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        self._serial = itertools.count()
        self._host = socket.gethostname().replace("/", "_").replace(":", "_")

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        assert envelope.original_content is not None
        await asyncio.to_thread(self.deliver, envelope.original_content)
        return "250 OK"

    def deliver(self, data: bytes) -> Path:
        """Write one message the Maildir way; return its path under ``new/``."""
        name = f"{time.time_ns()}.P{os.getpid()}Q{next(self._serial)}.{self._host}"
        tmp = self.root / "tmp" / name
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        new = self.root / "new" / name
        os.rename(tmp, new)
        return new

    def count(self) -> int:
        return sum(1 for _ in (self.root / "new").iterdir())


def maildir_sink(root: Path) -> MaildirSink:
    """A Maildir-writing aiosmtpd handler rooted at `root` (created if missing)."""
    return MaildirSink(root)


def make_message(size: int = 280_000, seed: int = 0) -> bytes:
    """A CRLF MIME message of about `size` bytes: short text plus a base64 attachment."""
    message = EmailMessage(policy=SMTP_POLICY)
    message["From"] = "bench@example.org"
    message["To"] = "intake@example.org"
    message["Subject"] = "Benchmark attachment"
    message.set_content("Please find the document attached.\n")
    payload = random.Random(seed).randbytes(size * 3 // 4 - 600)
    message.add_attachment(
        payload, maintype="application", subtype="octet-stream", filename="doc.bin"
    )
    return message.as_bytes()


async def send_load(
    host: str, port: int, message: bytes, *, count: int = 400, connections: int = 8
) -> float:
    """Send `message` `count` times over `connections` aiosmtplib sessions; seconds taken."""
    remaining = itertools.count()

    async def worker() -> None:
        async with aiosmtplib.SMTP(hostname=host, port=port, timeout=120) as client:
            while next(remaining) < count:
                await client.sendmail("bench@example.org", ["intake@example.org"], message)

    started = time.perf_counter()
    async with asyncio.TaskGroup() as group:
        for _ in range(connections):
            group.create_task(worker())
    return time.perf_counter() - started


def _send_load_blocking(
    host: str, port: int, message: bytes, count: int, connections: int
) -> float:
    return asyncio.run(send_load(host, port, message, count=count, connections=connections))


def _warm_up() -> None:
    time.sleep(0.3)


async def drive_load(
    host: str,
    port: int,
    message: bytes,
    *,
    count: int = 400,
    connections: int = 8,
    processes: int = 2,
) -> float:
    """`send_load` split over `processes` client processes (0: on this loop); seconds."""
    if processes == 0:
        return await send_load(host, port, message, count=count, connections=connections)
    loop = asyncio.get_running_loop()
    shares = [
        (count // processes + (i < count % processes), connections // processes)
        for i in range(processes)
    ]
    if min(conns for _, conns in shares) < 1:
        raise ValueError("need at least one connection per client process")
    with ProcessPoolExecutor(processes, mp_context=get_context("spawn")) as pool:
        # Start every process (hence the sleep) and its imports before the clock runs.
        await asyncio.gather(*(loop.run_in_executor(pool, _warm_up) for _ in range(processes)))
        started = time.perf_counter()
        runs = [
            loop.run_in_executor(pool, _send_load_blocking, host, port, message, n, k)
            for n, k in shares
        ]
        await asyncio.gather(*runs)
        return time.perf_counter() - started


@dataclass(frozen=True)
class SinkRun:
    """Outcome of one `run_plain_sink`."""

    messages: int
    seconds: float
    server_cpu_seconds: float  # this process: event loop plus the fsync threads

    @property
    def rate(self) -> float:
        return self.messages / self.seconds


async def run_plain_sink(
    protocol: type[SMTP],
    root: Path,
    message: bytes,
    *,
    count: int = 400,
    connections: int = 8,
    client_processes: int = 2,
) -> SinkRun:
    """Serve `protocol` with a Maildir sink on this loop and push the load through it.

    With client processes, the caller's main module needs the usual
    ``if __name__ == "__main__":`` guard (they are spawned).
    """
    loop = asyncio.get_running_loop()
    sink = maildir_sink(root)
    server = await loop.create_server(lambda: protocol(sink, hostname="bench", loop=loop), HOST, 0)
    port: int = server.sockets[0].getsockname()[1]
    try:
        cpu = time.process_time()
        seconds = await drive_load(
            HOST,
            port,
            message,
            count=count,
            connections=connections,
            processes=client_processes,
        )
        cpu = time.process_time() - cpu
    finally:
        server.close()
        await server.wait_closed()
    delivered = sink.count()
    if delivered != count:
        raise RuntimeError(f"{protocol.__name__}: {delivered} of {count} messages delivered")
    return SinkRun(count, seconds, cpu)


async def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("-n", "--messages", type=int, default=400)
    parser.add_argument("-k", "--connections", type=int, default=8)
    parser.add_argument("--size", type=int, default=280_000, help="bytes per message")
    parser.add_argument("--rounds", type=int, default=1, help="alternate runs per server")
    parser.add_argument(
        "-p", "--client-processes", type=int, default=2, help="0: client on the server's loop"
    )
    parser.add_argument("--dir", type=Path, default=None, help="where the Maildirs go")
    args = parser.parse_args(argv)

    message = make_message(args.size)
    print(
        f"{args.messages} messages of {len(message)} bytes over {args.connections} connections"
        f" from {args.client_processes or 'no separate'} client process(es)"
    )
    rates: dict[str, list[float]] = {"SMTP": [], "ChunkedSMTP": []}
    with tempfile.TemporaryDirectory(prefix="bench-smtp-", dir=args.dir) as tmp:
        for round_ in range(args.rounds):
            for protocol in (SMTP, ChunkedSMTP):
                run = await run_plain_sink(
                    protocol,
                    Path(tmp) / f"{protocol.__name__}-{round_}",
                    message,
                    count=args.messages,
                    connections=args.connections,
                    client_processes=args.client_processes,
                )
                rates[protocol.__name__].append(run.rate)
                busy = 100 * run.server_cpu_seconds / run.seconds
                print(
                    f"  {protocol.__name__:12} {run.rate:7.1f} messages/s, server CPU {busy:3.0f}%"
                )
    stock, chunked = (max(rates[name]) for name in ("SMTP", "ChunkedSMTP"))
    print(f"best: SMTP {stock:.1f}/s, ChunkedSMTP {chunked:.1f}/s, ratio {chunked / stock:.2f}x")


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
