"""Decisions under load: 200 approvers of one stage open their mailed link and approve at once.

Run: .venv/bin/python scripts/bench_decisions.py [-n 200] [--rounds 1] [--profile out.txt]

Each round
  1. starts `docflow serve` (a subprocess) on a fresh PostgreSQL database with the shipped
     workflows plus `bench` (type BENCH, one stage: every user of role `bench`, quorum all);
  2. adds N approvers of role `bench` with the CLI, mails one `[BENCH]` draft in by SMTP and
     collects the N task mails at a capturing relay;
  3. lets N concurrent clients each GET their Open link, read the form's CSRF value and POST
     "approve", timing each GET and each POST; then checks the document is `approved`.
With --profile, py-spy samples `serve` during step 3 and the busiest frames are printed.
The numbers go into docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import aiohttp
import aiosmtplib
from aiosmtpd.smtp import SMTP, Envelope, Session

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scripts.bench_intake import (  # noqa: E402
    AUTHOR,
    HOST,
    INTAKE,
    TOKEN,
    Docflow,
    drop_pg,
    pg_database,
)
from tests.filebuilders import make_docx_foreign  # noqa: E402

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
DOCX_CT = ("application", "vnd.openxmlformats-officedocument.wordprocessingml.document")


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

    def open_links(self) -> dict[str, str]:
        """Recipient -> the Open link (the first link) of their task mail."""
        out: dict[str, str] = {}
        for rcpts, raw in self.messages:
            msg = message_from_bytes(raw, policy=policy.default)
            assert isinstance(msg, EmailMessage)
            body = msg.get_body(("plain",))
            text = body.get_content() if body is not None else ""
            found = [u for u in LINK.findall(text) if "/files/" not in u]
            if found:
                for r in rcpts:
                    out.setdefault(r.lower(), found[0])
        return out


def the_draft() -> EmailMessage:
    m = EmailMessage()
    m["From"] = f"Người đo <{AUTHOR}>"
    m["To"] = INTAKE
    m["Subject"] = "[BENCH] Kế hoạch đo tải quyết định"
    m.set_content("Kính gửi các đồng chí.\n")
    m.add_attachment(
        make_docx_foreign(["Kế hoạch đo tải.", "Nội dung dự thảo."], padding_bytes=1000),
        maintype=DOCX_CT[0],
        subtype=DOCX_CT[1],
        filename="Kế hoạch.docx",
    )
    return m


def workflows_dir(tmp: Path) -> Path:
    out = tmp / "workflows"
    out.mkdir()
    for f in (ROOT / "config" / "workflows").glob("*.toml"):
        shutil.copy(f, out / f.name)
    (out / "bench.toml").write_text(BENCH_WORKFLOW, encoding="utf-8")
    return out


def api(df: Docflow, path: str) -> Any:
    req = urllib.request.Request(
        f"http://{HOST}:{df.http_port}{path}", headers={"Authorization": f"Bearer {TOKEN}"}
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


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def approve(
    url: str, start: asyncio.Event, gate: asyncio.Semaphore
) -> tuple[float, float, float]:
    """One approver: open the page, press Đồng ý. (GET seconds, POST seconds, POST end)."""
    async with aiohttp.ClientSession() as session, gate:
        await start.wait()
        t0 = time.perf_counter()
        async with session.get(url) as r:
            page = await r.text()
            assert r.status == 200, (r.status, page[:300])
        t1 = time.perf_counter()
        csrf = CSRF.search(page)
        assert csrf is not None, page[:300]
        form = {"csrf": csrf.group(1), "action": "approve", "comment": ""}
        t2 = time.perf_counter()
        async with session.post(url, data=form) as r:
            page = await r.text()
            assert r.status == 200 and "đã được ghi nhận" in page, (r.status, page[:300])
        t3 = time.perf_counter()
        return t1 - t0, t3 - t2, t3


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def top_frames(raw: Path, count: int = 25) -> list[tuple[float, str]]:
    """Share of samples in which each frame appears (inclusive), from py-spy's raw output."""
    seen: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not n.isdigit():
            continue
        total += int(n)
        for frame in set(stack.split(";")):
            seen[frame] += int(n)
    return [(n / max(total, 1), f) for f, n in seen.most_common(count)]


async def one_round(n: int, concurrency: int, profile: Path | None) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="bench-decisions-") as tmp_name:
        tmp = Path(tmp_name)
        url = await pg_database()
        relay = CapturingRelay()
        relay_port = await relay.__aenter__()
        df = Docflow(tmp, url, relay_port, DOCFLOW_WORKFLOWS_DIR=str(workflows_dir(tmp)))
        df.env["DOCFLOW_BASE_URL"] = f"http://{HOST}:{df.http_port}"
        spy: asyncio.subprocess.Process | None = None
        try:
            await asyncio.to_thread(df.cli, "migrate")
            with ThreadPoolExecutor(8) as pool:
                adds = [
                    (approver(i), "--name", f"Người duyệt {i}", "--role", "bench") for i in range(n)
                ]
                list(pool.map(lambda a: df.cli("user", "add", *a), adds))
            await asyncio.to_thread(df.start)
            await aiosmtplib.send(
                the_draft(), recipients=[INTAKE], hostname=HOST, port=df.smtp_port, timeout=60
            )
            mailed_at = time.perf_counter()
            wanted = {approver(i) for i in range(n)}

            async def all_mailed() -> dict[str, str]:
                links = relay.open_links()
                return links if wanted <= links.keys() else {}

            links = await wait(all_mailed, f"{n} task mails")
            mail_seconds = time.perf_counter() - mailed_at
            code = (await asyncio.to_thread(api, df, "/api/v1/documents"))["items"][0]["code"]

            start, gate = asyncio.Event(), asyncio.Semaphore(concurrency)
            clients = [asyncio.create_task(approve(links[a], start, gate)) for a in sorted(wanted)]
            await asyncio.sleep(0.5)  # every session made, waiting at the line
            if profile is not None:
                assert df.proc is not None
                spy = await asyncio.create_subprocess_exec(
                    str(Path(sys.executable).parent / "py-spy"),
                    *("record", "--format", "raw", "-r", "250", "-p", str(df.proc.pid)),
                    *("-o", str(profile)),
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                await asyncio.sleep(1.0)
            assert df.proc is not None
            cpu_before = cpu_seconds(df.proc.pid)
            began = time.perf_counter()
            start.set()
            results = await asyncio.gather(*clients)
            seconds = max(r[2] for r in results) - began
            serve_cpu = cpu_seconds(df.proc.pid) - cpu_before
            if spy is not None:
                spy.send_signal(signal.SIGINT)
                await asyncio.wait_for(spy.wait(), 60)
                spy = None

            async def approved() -> bool:
                doc = await asyncio.to_thread(api, df, f"/api/v1/documents/{code}")
                return bool(doc["status"] == "issued")

            await wait(approved, "the document to be approved", 60)
            doc = await asyncio.to_thread(api, df, f"/api/v1/documents/{code}")
            assert sorted(t["state"] for t in doc["tasks"]) == ["approved"] * n
        finally:
            if spy is not None:
                spy.kill()
            await asyncio.to_thread(df.stop)
            await relay.__aexit__()
            await drop_pg(url)
    gets = [r[0] for r in results]
    posts = [r[1] for r in results]
    return {
        "task_mails_seconds": mail_seconds,
        "decisions_per_s": n / seconds,
        "wall_seconds": seconds,
        "serve_cpu_ms_per_decision": 1000 * serve_cpu / n,
        "serve_busy": serve_cpu / seconds,
        "get_p50_ms": 1000 * statistics.median(gets),
        "get_p99_ms": 1000 * pct(gets, 99),
        "post_p50_ms": 1000 * statistics.median(posts),
        "post_p99_ms": 1000 * pct(posts, 99),
        "post_max_ms": 1000 * max(posts),
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description="docflow decision-link benchmark")
    parser.add_argument("-n", "--approvers", type=int, default=200)
    parser.add_argument(
        "-c", "--concurrency", type=int, help="clients at once (default: all approvers)"
    )
    parser.add_argument("--rounds", type=int, default=1, help="rounds (median of each number)")
    parser.add_argument("--profile", type=Path, help="py-spy raw samples of serve (last round)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    runs = []
    for i in range(args.rounds):
        profile = args.profile if i == args.rounds - 1 else None
        runs.append(await one_round(args.approvers, args.concurrency or args.approvers, profile))
        r = runs[-1]
        print(
            f"[round {i + 1}] {args.approvers} approvers, "
            f"{args.concurrency or args.approvers} at once: task mails in "
            f"{r['task_mails_seconds']:.1f} s; {r['decisions_per_s']:.1f} decisions/s "
            f"({r['wall_seconds']:.2f} s); GET p50 {r['get_p50_ms']:.0f} ms p99 "
            f"{r['get_p99_ms']:.0f} ms; POST p50 {r['post_p50_ms']:.0f} ms p99 "
            f"{r['post_p99_ms']:.0f} ms (max {r['post_max_ms']:.0f} ms); serve CPU "
            f"{r['serve_cpu_ms_per_decision']:.1f} ms per decision (GET + POST), busy "
            f"{100 * r['serve_busy']:.0f} %"
        )
    med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    verdict = "met" if med["post_p99_ms"] <= 100 else "MISSED"
    print(
        f"median of {args.rounds}: {med['decisions_per_s']:.1f} decisions/s, POST p50 "
        f"{med['post_p50_ms']:.0f} ms p99 {med['post_p99_ms']:.0f} ms, GET p50 "
        f"{med['get_p50_ms']:.0f} ms p99 {med['get_p99_ms']:.0f} ms; target p99 <= 100 ms: "
        f"{verdict}"
    )
    if args.profile is not None and args.profile.exists():
        print(f"py-spy samples of serve during the decisions ({args.profile}), inclusive:")
        for share, frame in top_frames(args.profile):
            print(f"  {100 * share:5.1f} %  {frame}")
    if args.json:
        print(json.dumps({"rounds": runs, "median": med}, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
