"""The web app's pages at scale (issue 14): PostgreSQL with 100,000 documents and 1,000
open tasks for one approver, timed through HTTP against a real `docflow serve`.

    .venv/bin/python scripts/bench_pages.py [--documents 100000] [--requests 200]

Measures, each as p50/p95 over sequential requests of a signed-in browser:
  /documents          an author with 2,000 documents (the first page of the list)
  /tasks              an approver with 1,000 open tasks
  /documents/{code}   a document with 20 versions
  /documents/{code}/diff   two 50-page versions
  the diff itself (documents/diff.py) of the two 50-page texts, in process
and, in the same run, a bare aiohttp handler answering a static page (the limit of this
machine for one HTTP request). The database is seeded with COPY, not through docflow.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import random
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from docflow.documents.diff import diff_texts  # noqa: E402
from tests.ports import free_port  # noqa: E402

HOST = "127.0.0.1"
PG_ADMIN = os.environ.get("DOCFLOW_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
SAMPLE = ROOT.parent / "shared" / "samples" / "vi-admin-reform-report-2018.txt"
AUTHOR, APPROVER = "tacgia@bench.gov.vn", "lanhdao@bench.gov.vn"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
WORDS_PER_PAGE = 450


def paragraphs() -> list[str]:
    path = SAMPLE if SAMPLE.exists() else ROOT / "tests" / "data" / SAMPLE.name
    return [p.strip() for p in path.read_text(encoding="utf-8").split("\n") if len(p) > 40]


def pages_of_text(source: list[str], pages: int, rng: random.Random) -> list[str]:
    out: list[str] = []
    words = 0
    while words < pages * WORDS_PER_PAGE:
        p = rng.choice(source)
        out.append(p)
        words += len(p.split())
    return out


def revised(paras: list[str], rng: random.Random) -> list[str]:
    """A second version: about one paragraph in twelve edited, a few added and removed."""
    out = []
    for p in paras:
        roll = rng.random()
        if roll < 0.02:
            continue  # removed
        if roll < 0.08:
            words = p.split()
            for _ in range(max(1, len(words) // 15)):
                words[rng.randrange(len(words))] = rng.choice(["đồng bào", "dân tộc", "cải cách"])
            p = " ".join(words)
        out.append(p)
        if roll > 0.98:
            out.append("Bổ sung: " + rng.choice(paras))
    return out


async def pg_database() -> str:
    name = f"docflow_pages_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(PG_ADMIN)
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    return PG_ADMIN.rsplit("/", 1)[0] + "/" + name


async def drop_database(url: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN)
    name = url.rsplit("/", 1)[1]
    await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await conn.close()


def sha() -> str:
    return secrets.token_hex(32)


async def seed(url: str, documents: int, rng: random.Random) -> dict[str, Any]:
    """Users, documents, versions, files, tasks and audit events, by COPY."""
    source = paragraphs()
    conn = await asyncpg.connect(url)
    now = datetime.now(UTC)
    t0 = time.perf_counter()
    others = [f"nguoi{i}@bench.gov.vn" for i in range(200)]
    emails = [AUTHOR, APPROVER, *others]
    await conn.copy_records_to_table(
        "users",
        columns=["email", "name", "roles", "language", "active", "created_at", "failed_logins"],
        records=[
            (e, f"Người dùng {i}", json.dumps(["staff"]), "vi", True, now, 0)
            for i, e in enumerate(emails)
        ],
    )
    ids = dict(await conn.fetch("SELECT email, id FROM users"))
    author_id, approver_id = ids[AUTHOR], ids[APPROVER]
    other_ids = [ids[e] for e in others]
    mine = set(rng.sample(range(documents), 2000))
    statuses = ["in_review"] * 3 + ["issued"] * 4 + ["changes_requested", "received", "approved"]
    docs = []
    for i in range(documents):
        status = rng.choice(statuses)
        created = now - timedelta(minutes=documents - i)
        docs.append(
            (
                f"DF-2026-{i + 1:06d}",
                f"[KH] {' '.join(rng.choice(source).split()[:10])}",
                author_id if i in mine else rng.choice(other_ids),
                "mac-dinh",
                status,
                0 if status == "in_review" else None,
                created,
                created,
            )
        )
    await conn.copy_records_to_table(
        "documents",
        columns=[
            "code",
            "title",
            "author_id",
            "workflow",
            "status",
            "stage_index",
            "created_at",
            "updated_at",
        ],
        records=docs,
    )
    doc_ids = [r["id"] for r in await conn.fetch("SELECT id FROM documents ORDER BY id")]
    author_docs = [doc_ids[i] for i in sorted(mine)]
    many, diffed = author_docs[-1], author_docs[-2]  # the newest two of the author's
    versions = [(d, 1, now, "", uuid.uuid4().hex, "", "") for d in doc_ids]
    versions += [(many, n, now, "", uuid.uuid4().hex, "", "") for n in range(2, 21)]
    versions += [(diffed, 2, now, "", uuid.uuid4().hex, "", "")]
    await conn.copy_records_to_table(
        "versions",
        columns=[
            "document_id",
            "number",
            "created_at",
            "message_id",
            "source_key",
            "subject",
            "body_text",
        ],
        records=versions,
    )
    v1 = pages_of_text(source, 50, rng)
    v2 = revised(v1, rng)
    files = []
    for vid, doc, number in await conn.fetch("SELECT id, document_id, number FROM versions"):
        if doc == diffed:
            text = "\n".join(v1 if number == 1 else v2)
        else:
            text = "\n".join(rng.sample(source, 3))
        files.append((vid, 0, "Dự thảo kế hoạch.docx", "main", DOCX, 28_000, sha(), text))
    await conn.copy_records_to_table(
        "version_files",
        columns=["version_id", "position", "name", "role", "mime", "size", "sha256", "text"],
        records=files,
    )
    in_review = [doc_ids[i] for i, d in enumerate(docs) if d[4] == "in_review"]
    tasks = []
    for d in rng.sample(in_review, 1000):
        due = now + timedelta(hours=rng.randint(-48, 240))
        tasks.append((d, 1, 0, "xem-xet", "open", now, due, None, approver_id))
    for d in doc_ids:
        tasks.append((d, 1, 0, "xem-xet", "approved", now, now, now, rng.choice(other_ids)))
    await conn.copy_records_to_table(
        "tasks",
        columns=[
            "document_id",
            "version_number",
            "stage_index",
            "stage_key",
            "state",
            "created_at",
            "due_at",
            "decided_at",
            "assignee_id",
            "comment",
            "code_attempts",
        ],
        records=[(*t, "", 0) for t in tasks],
    )
    events = []
    for d in doc_ids:
        for action in ("version_added", "approved"):
            events.append((d, now, AUTHOR, action, "mail", 1, json.dumps({})))
    for n in range(2, 21):
        events.append((many, now, AUTHOR, "version_added", "mail", n, json.dumps({})))
    await conn.copy_records_to_table(
        "audit_events",
        columns=["document_id", "at", "actor", "action", "source", "version_number", "detail"],
        records=events,
    )
    await conn.execute("ANALYZE")
    seconds = time.perf_counter() - t0
    codes = dict(
        await conn.fetch("SELECT id, code FROM documents WHERE id = ANY($1)", [many, diffed])
    )
    await conn.close()
    return {
        "seed_s": seconds,
        "many": codes[many],
        "diffed": codes[diffed],
        "texts": ("\n".join(v1), "\n".join(v2)),
        "author_id": author_id,
        "approver_id": approver_id,
    }


async def session_cookie(url: str, user_id: int) -> str:
    token = secrets.token_urlsafe(32)
    conn = await asyncpg.connect(url)
    now = datetime.now(UTC)
    await conn.execute(
        "INSERT INTO web_sessions (token_hash, user_id, csrf, created_at, expires_at) "
        "VALUES ($1, $2, $3, $4, $5)",
        hashlib.sha256(token.encode()).hexdigest(),
        user_id,
        secrets.token_hex(16),
        now,
        now + timedelta(hours=12),
    )
    await conn.close()
    return token


class Serve:
    """One `docflow serve` on the seeded database."""

    def __init__(self, tmp: Path, url: str) -> None:
        self.port = free_port()
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("DOCFLOW_")}
        self.env.update(
            {
                "DOCFLOW_CONFIG": str(ROOT / "config" / "docflow.toml"),
                "DOCFLOW_DATA_DIR": str(tmp / "data"),
                "DOCFLOW_DATABASE_URL": url.replace("postgresql://", "postgres://"),
                "DOCFLOW_HTTP_PORT": str(self.port),
                "DOCFLOW_BASE_URL": f"http://{HOST}:{self.port}",
                "DOCFLOW_SMTP_PORT": str(free_port()),
                "DOCFLOW_RELAY_PORT": str(free_port()),
                "DOCFLOW_LOG_LEVEL": "WARNING",
            }
        )
        self.exe = str(Path(sys.executable).parent / "docflow")
        self.log = tmp / "serve.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def migrate(self) -> None:
        subprocess.run([self.exe, "migrate"], env=self.env, check=True, capture_output=True)

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [self.exe, "serve"], env=self.env, stderr=self.log.open("wb"), start_new_session=True
        )
        for _ in range(300):
            try:
                urllib.request.urlopen(f"http://{HOST}:{self.port}/healthz", timeout=1)
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"docflow did not start: {self.log.read_text()[-2000:]}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(30)


BARE = """
import sys
from aiohttp import web
PAGE = "<!doctype html><title>x</title>" + "<p>docflow</p>" * 200
async def page(request): return web.Response(text=PAGE, content_type="text/html")
app = web.Application(); app.router.add_get("/", page)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)
"""


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def timed(
    http: aiohttp.ClientSession, url: str, n: int, expect: str | None = None
) -> dict[str, float]:
    times, first = [], 0.0
    for i in range(n + 5):
        t = time.perf_counter()
        async with http.get(url) as r:
            body = await r.text()
            if r.status != 200 or (expect and expect not in body):
                raise RuntimeError(f"{url}: {r.status} {body[:300]}")
        if i == 0:
            first = (time.perf_counter() - t) * 1000
        if i >= 5:  # warm-up
            times.append((time.perf_counter() - t) * 1000)
    return {"p50": statistics.median(times), "p95": pct(times, 95), "n": n, "first": first}


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--documents", type=int, default=100_000)
    ap.add_argument("--requests", type=int, default=200)
    args = ap.parse_args()
    rng = random.Random(14)
    url = await pg_database()
    tmp = Path(tempfile.mkdtemp(prefix="bench-pages-"))
    serve = Serve(tmp, url)
    bare_port = free_port()
    bare = subprocess.Popen([sys.executable, "-c", BARE, str(bare_port)])  # noqa: ASYNC220
    try:
        serve.migrate()
        seeded = await seed(url, args.documents, rng)
        print(f"seeded {args.documents} documents in {seeded['seed_s']:.1f} s", file=sys.stderr)
        old, new = seeded["texts"]
        diff_ms = []
        for _ in range(10):
            t = time.perf_counter()
            d = diff_texts(old, new)
            diff_ms.append((time.perf_counter() - t) * 1000)
        counts = {k: v for k, v in d.as_dict().items() if isinstance(v, int)}
        other = "\n".join(pages_of_text(paragraphs(), 50, random.Random(99)))
        rewritten_ms, every_ms = [], []
        every = "\n".join(
            " ".join(w[::-1] if k % 7 == 0 else w for k, w in enumerate(p.split()))
            for p in old.split("\n")
        )  # one word in seven changed, everywhere
        for _ in range(5):
            t = time.perf_counter()
            diff_texts(old, other)
            rewritten_ms.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            diff_texts(old, every)
            every_ms.append((time.perf_counter() - t) * 1000)
        serve.start()
        author = await session_cookie(url, seeded["author_id"])
        approver = await session_cookie(url, seeded["approver_id"])
        base = f"http://{HOST}:{serve.port}"
        n = args.requests
        results: dict[str, dict[str, float]] = {}
        async with aiohttp.ClientSession() as http:
            results["bare aiohttp static page"] = await timed(
                http, f"http://{HOST}:{bare_port}/", n
            )
        async with aiohttp.ClientSession(cookies={"docflow_session": author}) as http:
            results["/documents (author of 2,000)"] = await timed(http, f"{base}/documents", n)
            results["/documents/{code} (20 versions)"] = await timed(
                http, f"{base}/documents/{seeded['many']}", n
            )
            results["/documents/{code}/diff (2 × 50 pages)"] = await timed(
                http, f"{base}/documents/{seeded['diffed']}/diff?from=1&to=2", max(20, n // 5)
            )
        async with aiohttp.ClientSession(cookies={"docflow_session": approver}) as http:
            results["/tasks (1,000 open)"] = await timed(http, f"{base}/tasks", n)
        words = len(old.split()), len(new.split())
        print(f"\n{args.documents} documents on PostgreSQL; {n} sequential requests per page\n")
        print("| page | first ms | p50 ms | p95 ms |")
        print("| --- | ---: | ---: | ---: |")
        for name, r in results.items():
            print(f"| {name} | {r['first']:.1f} | {r['p50']:.1f} | {r['p95']:.1f} |")
        print(
            f"| diff of two 50-page texts ({words[0]:,} / {words[1]:,} words), in process "
            f"| | {statistics.median(diff_ms):.1f} | {pct(diff_ms, 95):.1f} |"
        )
        print(
            f"| diff of a 50-page text with another 50-page text (all rewritten), in process "
            f"| | {statistics.median(rewritten_ms):.1f} | {pct(rewritten_ms, 95):.1f} |"
        )
        print(
            f"| diff of a 50-page text with one word in seven changed in every paragraph "
            f"| | {statistics.median(every_ms):.1f} | {pct(every_ms, 95):.1f} |"
        )
        print(f"\ndiff counts: {counts}")
    finally:
        serve.stop()
        bare.terminate()
        bare.wait(10)
        await drop_database(url)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
