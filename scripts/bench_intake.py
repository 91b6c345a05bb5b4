"""Intake throughput: docflow against a plain aiosmtpd Maildir sink, same run, same machine.

Run: .venv/bin/python scripts/bench_intake.py [-n 400] [-k 8] [--db sqlite|postgres|both]

For each database it
  1. runs the plain sink (aiosmtpd's stock SMTP handler writing each message to a
     Maildir with fsync) under the load of N messages over K connections;
  2. starts `docflow serve` (a subprocess, fresh data dir, that database) and sends
     the same load, each message a distinct draft from a registered user with a
     ~200 KB DOCX, timing the acknowledgements (250s);
  3. times how long until every version is visible in GET /api/v1/documents.
Then it measures docflow's peak RSS growth while one 25 MB attachment is ingested.
The numbers go into docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from concurrent.futures import ProcessPoolExecutor
from email.policy import SMTP as SMTP_POLICY
from multiprocessing import get_context
from pathlib import Path

import aiosmtplib
import asyncpg
from aiosmtpd.smtp import SMTP

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scripts.bench_smtp_data import run_plain_sink  # noqa: E402
from tests.filebuilders import make_docx_foreign  # noqa: E402
from tests.mails import draft  # noqa: E402
from tests.ports import free_port  # noqa: E402

HOST = "127.0.0.1"
AUTHOR = "bench@bandantoc.gov.vn"
INTAKE = "vanban@docflow.localhost"
TOKEN = "bench-token"
PG_ADMIN = os.environ.get("DOCFLOW_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
SAMPLE = ROOT / "tests" / "data" / "vi-admin-reform-report-2018.txt"


def draft_template(docx_padding: int = 200_000) -> bytes:
    """A draft with a ~200 KB DOCX; `@@N@@` in Message-ID and Subject is the message number."""
    text = SAMPLE.read_text(encoding="utf-8") if SAMPLE.exists() else "Kế hoạch năm 2027."
    m = draft(
        "Benchmark draft @@N@@",
        "Kế hoạch.docx",
        make_docx_foreign(text.splitlines(), padding_bytes=docx_padding),
        sender=AUTHOR,
        sender_name="Người đo",
        to=INTAKE,
        message_id="<bench-@@N@@-" + uuid.uuid4().hex + "@bandantoc.gov.vn>",
        body="Kính gửi Lãnh đạo Ban.\n",
    )
    return m.as_bytes(policy=SMTP_POLICY)


async def _send_range(port: int, template: bytes, numbers: range, connections: int) -> None:
    it = iter(numbers)

    async def worker() -> None:
        async with aiosmtplib.SMTP(hostname=HOST, port=port, timeout=300) as client:
            for n in it:
                await client.sendmail(AUTHOR, [INTAKE], template.replace(b"@@N@@", b"%08d" % n))

    async with asyncio.TaskGroup() as group:
        for _ in range(connections):
            group.create_task(worker())


def _send_blocking(port: int, template: bytes, start: int, stop: int, connections: int) -> None:
    asyncio.run(_send_range(port, template, range(start, stop), connections))


def _warm_up() -> None:
    time.sleep(0.3)


async def drive(
    port: int, template: bytes, count: int, connections: int, processes: int = 2
) -> float:
    """Distinct messages from `processes` client processes (as the sink's load); seconds."""
    loop = asyncio.get_running_loop()
    per = -(-count // processes)
    with ProcessPoolExecutor(processes, mp_context=get_context("spawn")) as pool:
        await asyncio.gather(*(loop.run_in_executor(pool, _warm_up) for _ in range(processes)))
        started = time.perf_counter()
        await asyncio.gather(
            *(
                loop.run_in_executor(
                    pool,
                    _send_blocking,
                    port,
                    template,
                    i * per,
                    min(count, (i + 1) * per),
                    connections // processes,
                )
                for i in range(processes)
            )
        )
        return time.perf_counter() - started


class Docflow:
    """`docflow serve` as a subprocess on a fresh data dir."""

    def __init__(
        self, tmp: Path, database_url: str | None, relay_port: int = 0, **env: str
    ) -> None:
        self.http_port, self.smtp_port = free_port(), free_port()
        self.env = dict(os.environ)
        self.env.update(
            {
                "DOCFLOW_CONFIG": str(ROOT / "config" / "docflow.toml"),
                "DOCFLOW_WORKFLOWS_DIR": str(ROOT / "config" / "workflows"),
                "DOCFLOW_DATA_DIR": str(tmp / "data"),
                "DOCFLOW_HTTP_PORT": str(self.http_port),
                "DOCFLOW_SMTP_PORT": str(self.smtp_port),
                "DOCFLOW_RELAY_PORT": str(relay_port or free_port()),
                "DOCFLOW_ADMIN_TOKEN": TOKEN,
                "DOCFLOW_LOG_LEVEL": "WARNING",
                "DOCFLOW_RATE_LIMIT": "0",  # thousands of drafts from one author
                **env,
            }
        )
        if database_url:
            self.env["DOCFLOW_DATABASE_URL"] = database_url
        self.exe = str(Path(sys.executable).parent / "docflow")
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = tmp / "serve.log"

    def cli(self, *args: str) -> None:
        subprocess.run([self.exe, *args], env=self.env, check=True, capture_output=True)

    def start(self) -> None:
        self.cli("migrate")
        self.cli("user", "add", AUTHOR, "--name", "Người đo")
        self.proc = subprocess.Popen(
            [self.exe, "serve"], env=self.env, stderr=self.log.open("wb"), start_new_session=True
        )
        for _ in range(300):
            try:
                urllib.request.urlopen(f"http://{HOST}:{self.http_port}/healthz", timeout=1)
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"docflow did not start: {self.log.read_text()[-2000:]}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(30)

    def versions(self) -> int:
        req = urllib.request.Request(f"http://{HOST}:{self.http_port}/metrics")
        with urllib.request.urlopen(req, timeout=10) as r:
            for line in r.read().decode().splitlines():
                if line.startswith("docflow_versions "):
                    return int(float(line.split()[1]))
        return 0

    def hwm_kib(self) -> int:
        """Peak resident memory of the serve process so far (VmHWM)."""
        assert self.proc is not None
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
        raise RuntimeError("no VmHWM")


class DiscardingRelay:
    """The relay docflow's receipts go to: accepts and forgets (as a real relay would take them)."""

    def __init__(self) -> None:
        self.received = 0
        self.server: asyncio.Server | None = None

    async def handle_DATA(self, server: SMTP, session: object, envelope: object) -> str:
        self.received += 1
        return "250 OK"

    async def __aenter__(self) -> int:
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(lambda: SMTP(self, hostname="relay"), HOST, 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()


async def wait_versions(df: Docflow, count: int, seconds: float = 600) -> float:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        if await asyncio.to_thread(df.versions) >= count:
            return time.perf_counter()
        await asyncio.sleep(0.1)
    raise TimeoutError(f"only {df.versions()} of {count} versions visible")


async def pg_database() -> str:
    name = f"docflow_bench_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(PG_ADMIN)
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    return PG_ADMIN.rsplit("/", 1)[0] + "/" + name


async def drop_pg(url: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN)
    await conn.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')
    await conn.close()


async def one_round(db: str, count: int, connections: int, template: bytes) -> dict[str, float]:
    """The plain sink, then docflow, under the same load, one after the other."""
    with tempfile.TemporaryDirectory(prefix="bench-intake-") as tmp_name:
        tmp = Path(tmp_name)
        sink = await run_plain_sink(
            SMTP,
            tmp / "maildir",
            template.replace(b"@@N@@", b"0"),
            count=count,
            connections=connections,
        )
        url = await pg_database() if db == "postgres" else None
        relay = DiscardingRelay()
        relay_port = await relay.__aenter__()
        df = Docflow(tmp, url, relay_port)
        try:
            df.start()
            started = time.perf_counter()
            ack_seconds = await drive(df.smtp_port, template, count, connections)
            visible_at = await wait_versions(df, count)
            visible_seconds = visible_at - started
        finally:
            await asyncio.to_thread(df.stop)  # the relay lives on this loop: keep it running
            await relay.__aexit__()
            if url:
                await drop_pg(url)
    return {
        "sink_ack": sink.rate,
        "docflow_ack": count / ack_seconds,
        "docflow_visible": count / visible_seconds,
    }


async def throughput(
    db: str, count: int, connections: int, template: bytes, rounds: int
) -> dict[str, float]:
    """Median of `rounds` rounds of each rate, and of each round's ratios."""
    runs = [await one_round(db, count, connections, template) for _ in range(rounds)]
    out = {key: statistics.median(r[key] for r in runs) for key in runs[0]}
    out["ack_ratio"] = statistics.median(r["docflow_ack"] / r["sink_ack"] for r in runs)
    out["visible_ratio"] = statistics.median(r["docflow_visible"] / r["sink_ack"] for r in runs)
    return out


def family_hwm_kib(pid: int) -> dict[int, int]:
    """VmHWM of a process and each of its descendants (the analysis workers)."""
    out: dict[int, int] = {}
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            status = Path(f"/proc/{p}/status").read_text()
            children = Path(f"/proc/{p}/task/{p}/children").read_text().split()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                out[p] = int(line.split()[1])
        todo.extend(int(c) for c in children)
    return out


async def rss_for_attachment(size: int) -> dict[str, float]:
    """Peak RSS growth of `serve` and its workers while one draft with a `size`-byte
    attachment goes through (after a small draft has started the workers)."""
    with tempfile.TemporaryDirectory(prefix="bench-rss-") as tmp_name:
        df = Docflow(Path(tmp_name), None)  # the default size limit (36 MiB) takes 25 MB files
        try:
            df.start()
            assert df.proc is not None
            small = draft_template(docx_padding=1000).replace(b"@@N@@", b"small")
            await _send_range(df.smtp_port, small, range(1), 1)
            await wait_versions(df, 1, seconds=60)
            before = family_hwm_kib(df.proc.pid)
            big = draft_template(docx_padding=size).replace(b"@@N@@", b"big")
            await _send_range(df.smtp_port, big, range(1), 1)
            await wait_versions(df, 2, seconds=300)
            after = family_hwm_kib(df.proc.pid)
        finally:
            df.stop()
    growth = {pid: (after[pid] - before.get(pid, 0)) * 1024 for pid in after}
    main_growth = growth.pop(df.proc.pid)
    worker_growth = max(growth.values(), default=0)
    return {
        "attachment_mb": size / 1e6,
        "message_mb": len(big) / 1e6,
        "serve_growth_mb": main_growth / 1e6,
        "worker_growth_mb": worker_growth / 1e6,
        "growth_mb": (main_growth + worker_growth) / 1e6,
        "ratio": (main_growth + worker_growth) / size,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description="docflow intake benchmark")
    parser.add_argument("-n", "--messages", type=int, default=400)
    parser.add_argument("-k", "--connections", type=int, default=8)
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per database (median)")
    parser.add_argument("--rss-mb", type=float, default=25.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    template = draft_template()
    print(
        f"{args.messages} drafts of {len(template)} bytes (DOCX ~200 KB) "
        f"over {args.connections} connections, 2 client processes"
    )
    results: dict[str, object] = {}
    for db in ["sqlite", "postgres"] if args.db == "both" else [args.db]:
        r = await throughput(db, args.messages, args.connections, template, args.rounds)
        results[db] = r
        print(
            f"[{db}] median of {args.rounds}: plain sink acknowledged {r['sink_ack']:.1f}/s; "
            f"docflow acknowledged {r['docflow_ack']:.1f}/s ({r['ack_ratio']:.2f}x), versions "
            f"visible {r['docflow_visible']:.1f}/s ({r['visible_ratio']:.2f}x)"
        )
    if args.rss_mb:
        rss = await rss_for_attachment(int(args.rss_mb * 1e6))
        results["rss"] = rss
        print(
            f"[rss] one {rss['attachment_mb']:.0f} MB attachment ({rss['message_mb']:.1f} MB "
            f"message): peak RSS grew {rss['growth_mb']:.1f} MB = {rss['ratio']:.2f}x the "
            f"attachment (serve {rss['serve_growth_mb']:.1f} MB + analysis worker "
            f"{rss['worker_growth_mb']:.1f} MB)"
        )
    if args.json:
        print(json.dumps(results, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
