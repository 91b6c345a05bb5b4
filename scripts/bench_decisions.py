"""Decisions under load: N approvers of one stage open their mailed link and approve.

Run: .venv/bin/python scripts/bench_decisions.py [-n 200] [--processes 1]
         [--load burst|arrivals] [-c C] [--rate R …] [--think 2:10] [--pool 5]
         [--rounds 1] [--seed 1] [--profile out.txt] [--json]

Set-up, once: a fresh PostgreSQL database with the shipped workflows plus `bench` (type
BENCH, one stage: every user of role `bench`, quorum all), N approvers of role `bench`,
and P `docflow serve` processes sharing that database, one data dir and, with P > 1, the
same HTTP and SMTP ports (DOCFLOW_REUSE_PORT=1: the kernel spreads the connections).

Each run then mails one `[BENCH]` draft in by SMTP, collects its N task mails at a
capturing relay, and drives N clients (each its own aiohttp session) against the Open
links, each one: GET the page, read the form's CSRF value, POST "approve". The load:

  burst     all N start at the same instant (`-c C`: at most C at a time). A stress row:
            the last of N simultaneous arrivals waits for the N - 1 before it, so its
            latency is about N × CPU per GET + POST / cores.
  arrivals  N approvers active together, arriving as a Poisson process at `--rate` R per
            second (so over about N / R s), each reading the page for a think time drawn
            uniformly from `--think` (seconds) before the POST. One run per rate given.

Every POST must answer 200 "đã được ghi nhận" and the document must end `approved` with N
approved tasks. Reported per run: decisions/s (N over the time from the first GET to the
last answer), GET and POST p50/p99, and the CPU time of the serve processes (user + system,
from /proc) over that time divided by N, with how busy that kept them: less sensitive to
other load on the machine than the latencies. The clients' own CPU (this process) is shown
too: on a small machine they compete with serve for the cores. With --profile, py-spy
samples the first serve process during the last run. One markdown table row is printed
per run; the numbers go into docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import aiohttp
import aiosmtplib
from aiosmtpd.smtp import SMTP, Envelope, Session

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from docflow.config import load_settings  # noqa: E402
from docflow.services import open_services  # noqa: E402
from scripts.bench_intake import AUTHOR, HOST, INTAKE, TOKEN, drop_pg, pg_database  # noqa: E402
from tests.filebuilders import make_docx_foreign  # noqa: E402
from tests.mails import draft  # noqa: E402
from tests.ports import free_port  # noqa: E402

BENCH_WORKFLOW = """\
key = "bench"
name = { vi = "Đo tải", en = "Benchmark" }
type = "BENCH"
register = "VB"

[[stages]]
key = "review"
name = { vi = "Tất cả cùng xem xét", en = "Everyone reviews" }
assignees = ["role:bench"]
quorum = "all"
due = "2d"
"""
LINK = re.compile(r"http://127\.0\.0\.1:\d+/t/[A-Za-z0-9_-]+(?![/A-Za-z0-9_-])")
CSRF = re.compile(r'name="csrf" value="([0-9a-f]+)"')
TARGET_MS = 100.0


def approver(i: int) -> str:
    return f"duyet{i:03d}@bandantoc.gov.vn"


class CapturingRelay:
    """The relay docflow's mail goes to: keeps each message's recipients and bytes."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], bytes]] = []
        self.server: asyncio.Server | None = None

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.messages.append((list(envelope.rcpt_tos), envelope.original_content or b""))
        return "250 OK"

    async def __aenter__(self) -> int:
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(
            lambda: SMTP(self, hostname="relay", decode_data=False), HOST, 0
        )
        return int(self.server.sockets[0].getsockname()[1])

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()

    def open_links(self, since: int, subject_has: str) -> dict[str, str]:
        """Recipient -> the Open link of their task mail about `subject_has`, from `since` on."""
        out: dict[str, str] = {}
        for rcpts, raw in self.messages[since:]:
            msg = message_from_bytes(raw, policy=policy.default)
            assert isinstance(msg, EmailMessage)
            if subject_has not in str(msg["Subject"]):
                continue
            body = msg.get_body(("plain",))
            text = body.get_content() if body is not None else ""
            found = [u for u in LINK.findall(text) if "/files/" not in u]
            if found:
                for r in rcpts:
                    out.setdefault(r.lower(), found[0])
        return out


def the_draft(number: int) -> EmailMessage:
    """Draft `number` of the bench author (no Message-ID, as before)."""
    return draft(
        f"[BENCH] Kế hoạch đo tải quyết định số {number}",
        "Kế hoạch.docx",
        make_docx_foreign(["Kế hoạch đo tải.", "Nội dung dự thảo."], padding_bytes=1000),
        sender=AUTHOR,
        sender_name="Người đo",
        to=INTAKE,
        message_id="",
        body="Kính gửi các đồng chí.\n",
    )


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Cluster:
    """P `docflow serve` processes on one database, one data dir and (P > 1) shared ports."""

    def __init__(self, tmp: Path, database_url: str, relay_port: int, processes: int) -> None:
        self.http_port, self.smtp_port = free_port(), free_port()
        workflows = tmp / "workflows"
        workflows.mkdir()
        for f in (ROOT / "config" / "workflows").glob("*.toml"):
            shutil.copy(f, workflows / f.name)
        (workflows / "bench.toml").write_text(BENCH_WORKFLOW, encoding="utf-8")
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("DOCFLOW_")}
        self.env.update(
            {
                "DOCFLOW_CONFIG": str(ROOT / "config" / "docflow.toml"),
                "DOCFLOW_WORKFLOWS_DIR": str(workflows),
                "DOCFLOW_DATA_DIR": str(tmp / "data"),
                "DOCFLOW_DATABASE_URL": database_url,
                "DOCFLOW_HTTP_PORT": str(self.http_port),
                "DOCFLOW_BASE_URL": f"http://{HOST}:{self.http_port}",
                "DOCFLOW_SMTP_PORT": str(self.smtp_port),
                "DOCFLOW_RELAY_PORT": str(relay_port),
                "DOCFLOW_ADMIN_TOKEN": TOKEN,
                "DOCFLOW_LOG_LEVEL": "WARNING",
                "DOCFLOW_RATE_LIMIT": "0",  # many drafts from one author
                "DOCFLOW_REUSE_PORT": "1" if processes > 1 else "0",
            }
        )
        self.logs = [tmp / f"serve-{i}.log" for i in range(processes)]
        self.procs: list[subprocess.Popen[bytes]] = []
        self.exe = str(Path(sys.executable).parent / "docflow")

    async def prepare(self, approvers: int) -> None:
        """Migrate, then add the author and the approvers (in this process: 200 CLI runs
        would take minutes)."""
        await asyncio.to_thread(
            subprocess.run, [self.exe, "migrate"], env=self.env, check=True, capture_output=True
        )
        async with open_services(load_settings(self.env)) as services:
            await services.users.add(AUTHOR, "Người đo", ["staff"], "vi")
            for i in range(approvers):
                await services.users.add(approver(i), f"Người duyệt {i}", ["bench"], "vi")

    def start(self) -> None:
        for log in self.logs:
            self.procs.append(
                subprocess.Popen(
                    [self.exe, "serve"],
                    env=self.env,
                    stderr=log.open("wb"),
                    start_new_session=True,
                )
            )
        for _ in range(300):
            try:
                urllib.request.urlopen(f"http://{HOST}:{self.http_port}/healthz", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        else:
            raise RuntimeError(f"docflow did not start: {self.logs[0].read_text()[-2000:]}")
        time.sleep(1.0)  # the others too (one answering says nothing about the rest)
        for p, log in zip(self.procs, self.logs, strict=True):
            if p.poll() is not None:
                raise RuntimeError(f"a serve process exited: {log.read_text()[-2000:]}")

    def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        for p in self.procs:
            p.wait(30)

    def cpu(self) -> float:
        return sum(cpu_seconds(p.pid) for p in self.procs)

    def api(self, path: str) -> Any:
        req = urllib.request.Request(
            f"http://{HOST}:{self.http_port}{path}", headers={"Authorization": f"Bearer {TOKEN}"}
        )
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read())


async def wait(probe: Any, what: str, seconds: float = 300) -> Any:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        value = await probe()
        if value:
            return value
        await asyncio.sleep(0.1)
    raise TimeoutError(f"timed out waiting for {what}")


@dataclass(frozen=True)
class Visit:
    """One approver's plan: when to open the page, and how long to read it."""

    url: str
    start: float  # seconds after the run's start
    think: float


async def approve(
    visit: Visit, began: asyncio.Future[float], gate: asyncio.Semaphore
) -> tuple[float, float, float, float]:
    """Open the page, read it, press Đồng ý: (GET start, GET s, POST s, POST end)."""
    async with aiohttp.ClientSession() as session:
        t0 = await began
        await asyncio.sleep(max(0.0, t0 + visit.start - time.perf_counter()))
        async with gate:
            g0 = time.perf_counter()
            async with session.get(visit.url) as r:
                page = await r.text()
                assert r.status == 200, (r.status, page[:300])
            g1 = time.perf_counter()
            csrf = CSRF.search(page)
            assert csrf is not None, page[:300]
            form = {"csrf": csrf.group(1), "action": "approve", "comment": ""}
            await asyncio.sleep(visit.think)
            p0 = time.perf_counter()
            async with session.post(visit.url, data=form) as r:
                page = await r.text()
                assert r.status == 200 and "đã được ghi nhận" in page, (r.status, page[:300])
            p1 = time.perf_counter()
        return g0, g1 - g0, p1 - p0, p1


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def top_frames(raw: Path, count: int = 25) -> list[tuple[float, float, str]]:
    """Per frame: share of samples it is in (inclusive) and on top of (self), from py-spy's
    raw output; the busiest inclusive first."""
    seen: collections.Counter[str] = collections.Counter()
    leaf: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not n.isdigit():
            continue
        total += int(n)
        frames = stack.split(";")
        leaf[frames[-1]] += int(n)
        for frame in set(frames):
            seen[frame] += int(n)
    t = max(total, 1)
    return [(n / t, leaf[f] / t, f) for f, n in seen.most_common(count)]


@dataclass(frozen=True)
class Load:
    """How the clients of one run arrive."""

    kind: str  # burst | arrivals
    concurrency: int  # burst: clients at once
    rate: float  # arrivals: approvers per second
    think: tuple[float, float]  # arrivals: reading time, seconds

    def label(self, n: int) -> str:
        if self.kind == "burst":
            at_once = "all" if self.concurrency >= n else str(self.concurrency)
            return f"burst, {at_once} at once"
        return f"arrivals {self.rate:g}/s, think {self.think[0]:g}–{self.think[1]:g} s"

    def plan(self, urls: list[str], rng: random.Random) -> list[Visit]:
        if self.kind == "burst":
            return [Visit(u, 0.0, 0.0) for u in urls]
        at, out = 0.0, []
        for u in urls:
            out.append(Visit(u, at, rng.uniform(*self.think)))
            at += rng.expovariate(self.rate)
        return out


async def one_run(
    cluster: Cluster,
    relay: CapturingRelay,
    n: int,
    number: int,
    load: Load,
    rng: random.Random,
    profile: Path | None,
) -> dict[str, float]:
    since = len(relay.messages)
    await aiosmtplib.send(
        the_draft(number), recipients=[INTAKE], hostname=HOST, port=cluster.smtp_port, timeout=60
    )
    mailed_at = time.perf_counter()
    wanted = {approver(i) for i in range(n)}
    subject = f"số {number}"

    async def all_mailed() -> dict[str, str]:
        links = relay.open_links(since, subject)
        return links if wanted <= links.keys() else {}

    links = await wait(all_mailed, f"{n} task mails")
    mail_seconds = time.perf_counter() - mailed_at
    code = (await asyncio.to_thread(cluster.api, "/api/v1/documents"))["items"][0]["code"]

    visits = load.plan([links[a] for a in sorted(wanted)], rng)
    began: asyncio.Future[float] = asyncio.get_running_loop().create_future()
    gate = asyncio.Semaphore(load.concurrency)
    clients = [asyncio.create_task(approve(v, began, gate)) for v in visits]
    await asyncio.sleep(0.5)  # every session made, waiting at the line
    spy: asyncio.subprocess.Process | None = None
    if profile is not None:
        spy = await asyncio.create_subprocess_exec(
            str(Path(sys.executable).parent / "py-spy"),
            *("record", "--format", "raw", "-r", "250", "-p", str(cluster.procs[0].pid)),
            *("-o", str(profile)),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        await asyncio.sleep(1.0)
    try:
        cpu_before, client_before = cluster.cpu(), time.process_time()
        began.set_result(time.perf_counter())
        results = await asyncio.gather(*clients)
        serve_cpu = cluster.cpu() - cpu_before
        client_cpu = time.process_time() - client_before
    finally:
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            await asyncio.wait_for(spy.wait(), 60)
    first = min(r[0] for r in results)
    seconds = max(r[3] for r in results) - first

    async def approved() -> bool:
        doc = await asyncio.to_thread(cluster.api, f"/api/v1/documents/{code}")
        return bool(doc["status"] == "issued")

    await wait(approved, "the document to be approved and issued", 60)
    doc = await asyncio.to_thread(cluster.api, f"/api/v1/documents/{code}")
    assert sorted(t["state"] for t in doc["tasks"]) == ["approved"] * n
    gets = [r[1] for r in results]
    posts = [r[2] for r in results]
    return {
        "task_mails_seconds": mail_seconds,
        "decisions_per_s": n / seconds,
        "wall_seconds": seconds,
        "serve_cpu_ms_per_decision": 1000 * serve_cpu / n,
        "serve_busy": serve_cpu / seconds,
        "client_cpu_ms_per_decision": 1000 * client_cpu / n,
        "get_p50_ms": 1000 * statistics.median(gets),
        "get_p99_ms": 1000 * pct(gets, 99),
        "post_p50_ms": 1000 * statistics.median(posts),
        "post_p99_ms": 1000 * pct(posts, 99),
        "post_max_ms": 1000 * max(posts),
    }


def row(load: Load, n: int, processes: int, r: dict[str, float], note: str = "") -> str:
    met = max(r["get_p99_ms"], r["post_p99_ms"]) <= TARGET_MS
    return (
        f"| {load.label(n)} | {processes} | {r['decisions_per_s']:.1f} | "
        f"{r['get_p50_ms']:.0f} / {r['get_p99_ms']:.0f} ms | "
        f"{r['post_p50_ms']:.0f} / {r['post_p99_ms']:.0f} ms | "
        f"{r['serve_cpu_ms_per_decision']:.1f} ms ({100 * r['serve_busy'] / processes:.0f} %) | "
        f"{r['client_cpu_ms_per_decision']:.1f} ms | "
        f"{'yes' if met else 'no'}{note} |"
    )


HEADER = (
    "| load | processes | decisions/s | GET p50 / p99 | POST p50 / p99 "
    "| serve CPU per decision (busy) | client CPU | p99 ≤ 100 ms |\n"
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
)


def think_range(text: str) -> tuple[float, float]:
    lo, _, hi = text.partition(":")
    return float(lo), float(hi or lo)


async def main() -> None:
    parser = argparse.ArgumentParser(description="docflow decision-link benchmark")
    parser.add_argument("-n", "--approvers", type=int, default=200)
    parser.add_argument("--processes", type=int, default=1, help="serve processes (one port)")
    parser.add_argument("--load", choices=("burst", "arrivals"), default="burst")
    parser.add_argument(
        "-c", "--concurrency", type=int, help="burst: clients at once (default: all approvers)"
    )
    parser.add_argument(
        "--rate", type=float, nargs="+", default=[20.0], help="arrivals: approvers per second"
    )
    parser.add_argument(
        "--think", type=think_range, default=(2.0, 10.0), help="arrivals: reading time LO:HI s"
    )
    parser.add_argument(
        "--pool", type=int, help="asyncpg connections per process (URL ?maxsize=; default 5)"
    )
    parser.add_argument("--rounds", type=int, default=1, help="runs of each load")
    parser.add_argument("--seed", type=int, default=1, help="arrivals and think times")
    parser.add_argument("--profile", type=Path, help="py-spy raw samples of serve (last run)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    n = args.approvers
    if args.load == "burst":
        loads = [Load("burst", args.concurrency or n, 0.0, (0.0, 0.0))]
    else:
        loads = [Load("arrivals", n, rate, args.think) for rate in args.rate]
    rng = random.Random(args.seed)
    runs: list[tuple[Load, dict[str, float]]] = []
    with tempfile.TemporaryDirectory(prefix="bench-decisions-") as tmp_name:
        url = await pg_database()
        relay = CapturingRelay()
        try:
            relay_port = await relay.__aenter__()
            served_url = f"{url}?maxsize={args.pool}" if args.pool else url
            cluster = Cluster(Path(tmp_name), served_url, relay_port, args.processes)
            await cluster.prepare(n)
            await asyncio.to_thread(cluster.start)
            try:
                total = len(loads) * args.rounds
                for number in range(total):
                    load = loads[number // args.rounds]
                    profile = args.profile if number == total - 1 else None
                    r = await one_run(cluster, relay, n, number, load, rng, profile)
                    runs.append((load, r))
                    note = " (py-spy)" if profile else ""
                    if number == 0:
                        print(HEADER)
                    print(row(load, n, args.processes, r, note), flush=True)
            finally:
                await asyncio.to_thread(cluster.stop)
        finally:
            if relay.server is not None:
                await relay.__aexit__()
            await drop_pg(url)
    if args.profile is not None and args.profile.exists():
        print(f"py-spy samples of serve during the last run ({args.profile}): inclusive, self")
        for share, own, frame in top_frames(args.profile):
            print(f"  {100 * share:5.1f} % {100 * own:5.1f} %  {frame}")
    if args.json:
        print(json.dumps([{"load": load.label(n), **r} for load, r in runs], indent=2))


if __name__ == "__main__":
    asyncio.run(main())
