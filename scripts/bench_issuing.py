"""Signed issuing (issue 13): renditions, the two signatures, and issuing end to end.

Run: .venv/bin/python scripts/bench_issuing.py [--pages 2 10 50] [--warm-runs 10]
         [--cold-runs 5] [--sign-runs 5] [--docs 10 10 5] [--converters 2]
         [--log serve.log] [--profile out.raw] [--json]

Drafts: Decree-30 decisions built by tests/decree30.py (`make_decree30_docx`, number line
"Số:    /QĐ-BDT", signed by the TRƯỞNG BAN), the body real Vietnamese administrative
prose (tests/data/vi-admin-reform-report-2018.txt, its paragraphs repeated) passed as
`extra` paragraphs; their count is calibrated for about 2, 10 and 50 A4 pages in
LibreOffice 7.4, and the pages actually rendered are printed. Four measurements:

  1. renditions   each draft rendered `--warm-runs` times by a warm ConverterPool (the
                  `--converters` converters started by one untimed job each first), and
                  `--cold-runs` times by `soffice --headless --convert-to pdf` with a fresh
                  `-env:UserInstallation` profile per run (cold runs go first, so the very
                  first is as cold as the machine allows; all of them are reported).
                  Target: warm ≥ 3× faster than cold (p50 against p50).
  2. signatures   what docflow does after rendering (IssuedPdfMaker._sign): open both
                  PKCS#12 keys of a TEST PKI (`init_test_pki`), find the signature block
                  (`layout.signature_box`), sign as the signer then as the organisation
                  (`sign_issued`), on the warm renditions; in a thread, as serve does. The
                  first call of the process (imports, fonts) is reported apart.
  3. end to end   a real `docflow serve` (SQLite, fresh data dir, DOCFLOW_RENDITIONS
                  converters), the shipped workflow `quyet-dinh`: each draft is mailed in
                  by SMTP, its review rendition awaited, the review link approved; then the
                  signer opens the sign-off link and the clock runs from the start of the
                  POST (with the one-time code mailed apart) until the "Ban hành" mail with
                  the signed PDF reaches this script's capturing relay. One document at a
                  time. Targets: POST ≤ 300 ms; a 10-page draft issued within 2 s (p95).
  4. memory       peak RSS (VmHWM, summed) of the soffice.bin processes of the warm pool
                  and of serve's pool; of a cold conversion (wait4's ru_maxrss).

Markdown tables are printed (and, with --json, the raw figures), with serve's warnings and
errors and, per document, when serve logged it `issued` (where the time goes). --log keeps
serve's log; --profile has py-spy sample serve during the documents (it slows them: not
for the figures). Everything this script starts (serve, soffice) is stopped, on failure
too. The numbers go into docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import itertools
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import aiosmtplib
import pypdf
from aiosmtpd.smtp import SMTP, Envelope, Session

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from docflow.documents.converters import ConverterPool  # noqa: E402
from tests.decree30 import make_decree30_docx  # noqa: E402
from tests.mails import DOCX, draft  # noqa: E402
from tests.ports import free_port  # noqa: E402

T = TypeVar("T")
HOST = "127.0.0.1"
TOKEN = "bench-token"
INTAKE = "vanban@docflow.localhost"
AUTHOR, AUTHOR_NAME = "thu.lt@bandantoc.gov.vn", "Lê Thị Thu"
REVIEWER, REVIEWER_NAME = "an.nt@bandantoc.gov.vn", "Nguyễn Thị An"  # truong-phong: review
SIGNER, SIGNER_NAME = "minh.td@bandantoc.gov.vn", "Trần Đức Minh"  # truong-ban: sign-off
ORG_NAME, ORG_CODE = "Ban Dân tộc", "BDT"  # config/docflow.toml [org]
SAMPLE = ROOT / "tests" / "data" / "vi-admin-reform-report-2018.txt"
# real-text paragraphs (about 4 to an A4 page) for 2, 10 and 50 pages in LibreOffice 7.4
PARAGRAPHS = {2: 5, 10: 37, 50: 197}
LINK = re.compile(r"http://127\.0\.0\.1:\d+/t/[A-Za-z0-9_-]+(?![/A-Za-z0-9_-])")
CSRF = re.compile(r'name="csrf" value="([0-9a-f]+)"')
CODE = re.compile(r"^\s+(\d{6})\s*$", re.MULTILINE)
DOC_CODE = re.compile(r"^\[([^\]]+)\]")
WARM_TARGET = 3.0  # cold ÷ warm, at least
POST_TARGET_MS = 300.0
ISSUE_TARGET_S = 2.0  # 10 pages, p95


# --- small helpers ------------------------------------------------------------------------


def pct(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (with 10 values or fewer, p95 is the largest)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def p50(values: Sequence[float]) -> float:
    return statistics.median(values)


def vm_hwm_kb(pid: int) -> int:
    """Peak resident set size of a running process, in KiB (0 if it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def office_children(parent: int) -> list[int]:
    """The soffice.bin processes whose parent is `parent`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        ppid = int(stat.rpartition(")")[2].split()[1])
        if ppid == parent and comm == "soffice.bin":
            found.append(int(entry.name))
    return found


def page_count(pdf: bytes) -> int:
    return len(pypdf.PdfReader(io.BytesIO(pdf)).pages)


async def wait(probe: Callable[[], Awaitable[T | None]], what: str, seconds: float = 120) -> T:
    """Poll `probe` until it returns something truthy."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        value = await probe()
        if value:
            return value
        await asyncio.sleep(0.02)
    raise TimeoutError(f"timed out waiting for {what}")


# --- the drafts ---------------------------------------------------------------------------


def real_paragraphs() -> list[str]:
    """The sample's paragraphs, once each (its first line is repeated; the byline dropped)."""
    lines = (line.strip() for line in SAMPLE.read_text(encoding="utf-8").splitlines())
    return list(dict.fromkeys(line for line in lines if len(line) >= 100))


def decision_docx(pages: int) -> bytes:
    """A Decree-30 decision of about `pages` pages, its body the sample's real prose."""
    count = PARAGRAPHS.get(pages, round(pages * 3.95))
    body = list(itertools.islice(itertools.cycle(real_paragraphs()), count))
    return make_decree30_docx(
        number_line="Số:    /QĐ-BDT",
        titles=("TRƯỞNG BAN",),
        signer=SIGNER_NAME,
        body_paragraphs=0,  # only the "Căn cứ ..." reference after the real text
        extra=body,
    )


# --- 1. renditions ------------------------------------------------------------------------


@dataclass
class Renditions:
    """Per nominal size: seconds of each run, pages rendered; the pool's memory."""

    warm: dict[int, list[float]] = field(default_factory=dict)
    warm_pages: dict[int, int] = field(default_factory=dict)
    cold: dict[int, list[float]] = field(default_factory=dict)
    cold_pages: dict[int, int] = field(default_factory=dict)
    cold_rss_kb: dict[int, int] = field(default_factory=dict)  # largest of the runs
    pool_start_s: float = 0.0
    pool_rss_kb: list[int] = field(default_factory=list)
    pdfs: dict[int, bytes] = field(default_factory=dict)


def cold_once(source: Path, workdir: Path) -> tuple[float, int, int]:
    """One `soffice --convert-to pdf` with a profile of its own: seconds, pages, peak RSS KiB."""
    profile, out = workdir / "profile", workdir / "out"
    out.mkdir(parents=True)
    command = [
        shutil.which("soffice") or "soffice",
        f"-env:UserInstallation={profile.as_uri()}",
        "--headless",
        "--convert-to",
        "pdf",
        "--outdir",
        str(out),
        str(source),
    ]
    started = time.perf_counter()
    proc = subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    watchdog = threading.Timer(300, lambda: os.killpg(proc.pid, signal.SIGKILL))
    watchdog.start()
    try:
        # wait4, not proc.wait(): its rusage covers soffice.bin (reaped by oosplash)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
    finally:
        watchdog.cancel()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # anything the launcher left behind
        if proc.returncode is None:
            proc.wait()
    if proc.returncode != 0:
        raise RuntimeError(f"soffice exited with {proc.returncode} on {source.name}")
    pdf = (out / f"{source.stem}.pdf").read_bytes()
    shutil.rmtree(workdir, ignore_errors=True)
    return seconds, page_count(pdf), int(usage.ru_maxrss)


async def renditions(
    drafts: dict[int, bytes], warm_runs: int, cold_runs: int, converters: int, tmp: Path
) -> Renditions:
    result = Renditions()
    for pages, data in drafts.items():
        source = tmp / f"decision-{pages}.docx"
        source.write_bytes(data)
        runs = [
            await asyncio.to_thread(cold_once, source, tmp / f"cold-{pages}-{i}")
            for i in range(cold_runs)
        ]
        result.cold[pages] = [s for s, _, _ in runs]
        result.cold_pages[pages] = runs[0][1]
        result.cold_rss_kb[pages] = max(r for _, _, r in runs)
        print(f"cold {pages:>2} pages: " + ", ".join(f"{s:.2f}" for s in result.cold[pages]))

    pool = ConverterPool(tmp / "pool", size=converters, timeout=300, max_jobs=10_000)
    try:
        started = time.perf_counter()  # each converter's first job starts its LibreOffice
        smallest = drafts[min(drafts)]
        await asyncio.gather(*(pool.convert(smallest, ".docx") for _ in range(converters)))
        result.pool_start_s = time.perf_counter() - started
        for pages, data in drafts.items():
            times = []
            for _ in range(warm_runs):
                t0 = time.perf_counter()
                rendition = await pool.convert(data, ".docx")
                times.append(time.perf_counter() - t0)
            result.warm[pages] = times
            result.warm_pages[pages] = rendition.pages
            result.pdfs[pages] = rendition.pdf
            print(f"warm {pages:>2} pages ({rendition.pages}): p50 {p50(times):.3f} s")
        result.pool_rss_kb = [vm_hwm_kb(pid) for pid in pool.pids()]
    finally:
        await pool.close()
    return result


# --- 2. signatures ------------------------------------------------------------------------


@dataclass
class Signing:
    """Per nominal size: seconds per step of each run; the process's first signing."""

    keys: dict[int, list[float]] = field(default_factory=dict)
    box: dict[int, list[float]] = field(default_factory=dict)
    sign: dict[int, list[float]] = field(default_factory=dict)
    total: dict[int, list[float]] = field(default_factory=dict)
    signed_kb: dict[int, float] = field(default_factory=dict)
    first_s: float = 0.0


def signatures(pdfs: dict[int, bytes], runs: int, tmp: Path) -> Signing:
    """Open both keys, find the block, sign twice: as IssuedPdfMaker._sign, timed by step.

    Synchronous (pyHanko is): call it in a thread, never in the event loop.
    """
    started = time.perf_counter()
    from docflow.archive.key_sources import Pkcs12Source
    from docflow.archive.layout import signature_box
    from docflow.archive.signing import SignerSpec, load_signer, release_signer, sign_issued
    from docflow.archive.signing.pki import init_test_pki

    pki = init_test_pki(tmp / "keystore", ORG_NAME, ORG_CODE, [(SIGNER, SIGNER_NAME)])
    person, org = pki.user(SIGNER), pki.organisation
    made_at = time.perf_counter()

    def once(pdf: bytes) -> tuple[float, float, float, bytes]:
        now = datetime.now(UTC)
        t0 = time.perf_counter()
        signer = load_signer(Pkcs12Source(person.p12, person.passphrase_file), now)
        seal = load_signer(Pkcs12Source(org.p12, org.passphrase_file), now)
        t1 = time.perf_counter()
        try:
            box = signature_box(pdf, SIGNER_NAME)
            if box is None or box.page != page_count(pdf) - 1:
                raise RuntimeError(f"the signature block was not found on the last page: {box}")
            t2 = time.perf_counter()
            signed = sign_issued(
                pdf,
                SignerSpec(signer, person.image, SIGNER_NAME),
                SignerSpec(seal, org.image, ORG_NAME),
                box,
                ORG_NAME,
                now,
            )
            t3 = time.perf_counter()
        finally:
            release_signer(signer)
            release_signer(seal)
        if signed.count(b"/ByteRange") != 2:
            raise RuntimeError("the signed PDF does not carry two signatures")
        return t1 - t0, t2 - t1, t3 - t2, signed

    result = Signing()
    first = time.perf_counter()
    once(pdfs[min(pdfs)])
    result.first_s = time.perf_counter() - first  # the PKI made before is not counted
    print(f"test PKI made in {made_at - started:.2f} s; first signing {result.first_s:.2f} s")
    for pages, pdf in pdfs.items():
        steps = [once(pdf) for _ in range(runs)]
        result.keys[pages] = [k for k, _, _, _ in steps]
        result.box[pages] = [b for _, b, _, _ in steps]
        result.sign[pages] = [s for _, _, s, _ in steps]
        result.total[pages] = [k + b + s for k, b, s, _ in steps]
        result.signed_kb[pages] = len(steps[-1][3]) / 1024
        print(f"signatures {pages:>2} pages: p50 {p50(result.total[pages]):.3f} s")
    return result


# --- 3. end to end ------------------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    """A message the relay accepted, and when its DATA ended (perf_counter, and epoch)."""

    at: float
    wall: float
    rcpts: list[str]
    msg: EmailMessage


class CapturingRelay:
    """The relay docflow's mail goes to: keeps each message with its arrival time."""

    def __init__(self) -> None:
        self.messages: list[Received] = []
        self.server: asyncio.Server | None = None
        self.port = 0

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        at, wall = time.perf_counter(), time.time()
        msg = message_from_bytes(envelope.original_content or b"", policy=policy.default)
        assert isinstance(msg, EmailMessage)
        self.messages.append(Received(at, wall, [r.lower() for r in envelope.rcpt_tos], msg))
        return "250 OK"

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(
            lambda: SMTP(self, hostname="relay", decode_data=False), HOST, 0
        )
        self.port = int(self.server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    def find(self, since: int, to: str, *words: str) -> list[Received]:
        """Messages from `since` on to `to` whose subject has every one of `words`."""
        return [
            r
            for r in self.messages[since:]
            if to in r.rcpts and all(w in str(r.msg["Subject"]) for w in words)
        ]


def text_of(msg: EmailMessage) -> str:
    body = msg.get_body(("plain",))
    return body.get_content() if body is not None else ""


def links_of(msg: EmailMessage) -> dict[str, str]:
    """open, approve, changes, reject: in the order the task mail lists them."""
    found = [u for u in LINK.findall(text_of(msg)) if "/files/" not in u]
    return dict(zip(("open", "approve", "changes", "reject"), found, strict=True))


class Serve:
    """One `docflow serve` on SQLite in a fresh data dir, its mail to the relay."""

    def __init__(self, tmp: Path, relay_port: int, converters: int) -> None:
        self.http_port, self.smtp_port = free_port(), free_port()
        self.base = f"http://{HOST}:{self.http_port}"
        self.data = tmp / "data"
        self.log = tmp / "serve.log"
        self.exe = str(Path(sys.executable).parent / "docflow")
        self.proc: asyncio.subprocess.Process | None = None
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("DOCFLOW_")}
        self.env.update(
            {
                "DOCFLOW_CONFIG": str(ROOT / "config" / "docflow.toml"),
                "DOCFLOW_WORKFLOWS_DIR": str(ROOT / "config" / "workflows"),
                "DOCFLOW_DATA_DIR": str(self.data),
                "DOCFLOW_DATABASE_URL": f"sqlite://{self.data / 'docflow.sqlite3'}",
                "DOCFLOW_HTTP_HOST": HOST,
                "DOCFLOW_HTTP_PORT": str(self.http_port),
                "DOCFLOW_BASE_URL": self.base,
                "DOCFLOW_SMTP_HOST": HOST,
                "DOCFLOW_SMTP_PORT": str(self.smtp_port),
                "DOCFLOW_RELAY_HOST": HOST,
                "DOCFLOW_RELAY_PORT": str(relay_port),
                "DOCFLOW_ADMIN_TOKEN": TOKEN,
                "DOCFLOW_RENDITIONS": str(converters),
                "DOCFLOW_RATE_LIMIT": "0",
                "DOCFLOW_LOG_LEVEL": "INFO",
                "PYTHONUNBUFFERED": "1",
            }
        )

    async def cli(self, *args: str) -> str:
        proc = await asyncio.create_subprocess_exec(
            self.exe,
            *args,
            env=self.env,
            cwd=self.data.parent,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await asyncio.wait_for(proc.communicate(), 120)
        if proc.returncode != 0:
            raise RuntimeError(f"docflow {' '.join(args)}: exit {proc.returncode}\n{out.decode()}")
        return out.decode()

    async def prepare(self) -> None:
        """Schema, the three people, then the TEST PKI for the signer (`pki init`)."""
        self.data.mkdir(parents=True)
        await self.cli("migrate")
        for email, name, role in (
            (AUTHOR, AUTHOR_NAME, "staff"),
            (REVIEWER, REVIEWER_NAME, "truong-phong"),
            (SIGNER, SIGNER_NAME, "truong-ban"),
        ):
            await self.cli("user", "add", email, "--name", name, "--role", role)
        made = await self.cli("pki", "init")
        if SIGNER not in made:
            raise RuntimeError(f"pki init made no key for {SIGNER}:\n{made}")

    async def start(self) -> None:
        with self.log.open("ab") as log:
            self.proc = await asyncio.create_subprocess_exec(
                self.exe,
                "serve",
                env=self.env,
                cwd=self.data.parent,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
            )
        async with aiohttp.ClientSession() as http:
            for _ in range(300):
                if self.proc.returncode is not None:
                    break
                with contextlib.suppress(aiohttp.ClientError):
                    async with http.get(f"{self.base}/healthz") as r:
                        if r.status == 200:
                            return
                await asyncio.sleep(0.1)
        raise RuntimeError(f"docflow serve did not start:\n{self.log.read_text()[-3000:]}")

    async def stop(self) -> None:
        """SIGTERM to serve's process group (serve stops its converters), then SIGKILL."""
        proc = self.proc
        if proc is None or proc.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), 30)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # a converter left behind, if any

    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def entries(self) -> list[dict[str, Any]]:
        out = []
        for line in self.log.read_text(encoding="utf-8", errors="replace").splitlines():
            with contextlib.suppress(ValueError):
                entry = json.loads(line)
                if isinstance(entry, dict):
                    out.append(entry)
        return out

    def issued_at(self) -> dict[str, float]:
        """Document code → epoch at which serve logged it `issued` (numbered, signed, stored)."""
        return {
            str(e["code"]): datetime.fromisoformat(str(e["ts"])).timestamp()
            for e in self.entries()
            if e.get("logger") == "docflow.archive" and e.get("event") == "issued"
        }

    def problems(self) -> list[str]:
        """serve's log lines at warning level or above, as `level: event` (counted)."""
        counts: dict[str, int] = {}
        for line in self.log.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                key = f"(not JSON) {line[:160]}"
            else:
                if entry.get("level") not in ("warning", "error", "critical"):
                    continue
                key = f"{entry['level']}: {entry.get('logger')}: {entry.get('event')}"
                if entry.get("reason"):
                    key += f" ({entry['reason']})"
            counts[key] = counts.get(key, 0) + 1
        return [f"{n} × {key}" for key, n in counts.items()]


@dataclass(frozen=True)
class Issued:
    """One document issued: its timings and what was mailed."""

    code: str
    pages: int  # nominal
    rendered_pages: int  # serve's review rendition of the draft
    issued_pages: int  # the signed PDF mailed
    number: str
    post_s: float
    issue_s: float  # POST start → issued mail at the relay
    pdf_kb: float
    post_wall: float  # epoch of the POST's start, against serve's log
    mail_wall: float  # epoch of the issued mail's arrival


async def page(http: aiohttp.ClientSession, url: str) -> str:
    async with http.get(url) as r:
        text = await r.text()
        if r.status != 200:
            raise RuntimeError(f"GET {url}: {r.status} {text[:300]}")
        return text


def csrf_of(text: str) -> str:
    found = CSRF.search(text)
    if found is None:
        raise RuntimeError(f"no form on the page: {text[:300]}")
    return found.group(1)


async def issue_one(
    serve: Serve,
    relay: CapturingRelay,
    http: aiohttp.ClientSession,
    pages: int,
    number: int,
    docx: bytes,
) -> Issued:
    mark = f"(đo {pages} trang, bản {number})"
    since = len(relay.messages)
    message = draft(
        f"[QĐ] Quyết định ban hành kế hoạch cải cách hành chính {mark}",
        f"Quyết định {pages} trang {number}.docx",
        docx,
        DOCX,
        sender=AUTHOR,
        sender_name=AUTHOR_NAME,
        to=INTAKE,
    )
    await aiosmtplib.send(
        message, recipients=[INTAKE], hostname=HOST, port=serve.smtp_port, timeout=120
    )

    async def task_mail(to: str) -> Received | None:
        found = [r for r in relay.find(since, to, mark) if "/t/" in text_of(r.msg)]
        return found[0] if found else None

    review = await wait(lambda: task_mail(REVIEWER), "the reviewer's task mail")
    found = DOC_CODE.match(str(review.msg["Subject"]))
    assert found is not None, review.msg["Subject"]
    code = found.group(1)
    auth = {"Authorization": f"Bearer {TOKEN}"}

    async def rendered() -> int | None:
        """The review rendition's pages, once made (so the pool is idle for issuing)."""
        async with http.get(f"{serve.base}/api/v1/documents/{code}", headers=auth) as r:
            doc = await r.json()
        rendition = doc["versions"][0]["files"][0]["rendition"] or {}
        if rendition.get("status") == "failed":
            raise RuntimeError(f"{code}: the review rendition failed")
        return int(rendition["pages"]) if rendition.get("status") == "ok" else None

    rendered_pages = await wait(rendered, f"{code}'s review rendition")
    url = links_of(review.msg)["approve"]
    form = {"csrf": csrf_of(await page(http, url)), "action": "approve", "comment": "Trình ký."}
    async with http.post(url, data=form) as r:
        if r.status != 200:
            raise RuntimeError(f"review of {code}: {r.status} {(await r.text())[:300]}")

    signoff = await wait(lambda: task_mail(SIGNER), "the signer's task mail")

    async def code_mail() -> Received | None:
        found = relay.find(since, SIGNER, mark, "Mã xác nhận")
        return found[0] if found else None

    one_time = CODE.search(text_of((await wait(code_mail, "the code mail")).msg))
    assert one_time is not None
    url = links_of(signoff.msg)["approve"]
    text = await page(http, url)
    if "Đồng ý ở bước này là ký số" not in text:
        raise RuntimeError(f"{code}: the sign-off page does not say that approving signs")
    form = {
        "csrf": csrf_of(text),
        "action": "approve",
        "comment": "Đồng ý ban hành.",
        "code": one_time.group(1),
    }
    await asyncio.sleep(0.2)  # the GET's own work finished: the POST is timed alone
    started, started_wall = time.perf_counter(), time.time()
    async with http.post(url, data=form) as r:
        answer = await r.text()
        status = r.status
    post_s = time.perf_counter() - started
    if status != 200 or "đã được ghi nhận" not in answer:
        raise RuntimeError(f"sign-off of {code}: {status} {answer[:300]}")

    async def issued_mail() -> Received | None:
        for r in relay.messages[since:]:
            subject = str(r.msg["Subject"])
            if f"[{code}]" in subject and "Ban hành" in subject:
                if any(p.get_content_type() == "application/pdf" for p in r.msg.iter_attachments()):
                    return r
        return None

    try:
        mail = await wait(issued_mail, f"{code}'s issued mail", 180)
    except TimeoutError:
        async with http.get(f"{serve.base}/api/v1/documents/{code}", headers=auth) as r:
            doc = await r.json()
        raise RuntimeError(f"{code} not issued: status {doc['status']}") from None
    [pdf] = [
        p.get_content()
        for p in mail.msg.iter_attachments()
        if p.get_content_type() == "application/pdf"
    ]
    if not isinstance(pdf, bytes) or pdf.count(b"/ByteRange") != 2:
        raise RuntimeError(f"{code}: the issued PDF does not carry two signatures")
    number_text = str(mail.msg["Subject"]).split("Ban hành", 1)[1].split(":", 1)[0].strip()
    return Issued(
        code,
        pages,
        rendered_pages,
        page_count(pdf),
        number_text,
        post_s,
        mail.at - started,
        len(pdf) / 1024,
        started_wall,
        mail.wall,
    )


@dataclass
class EndToEnd:
    issued: list[Issued] = field(default_factory=list)
    pool_rss_kb: dict[int, int] = field(default_factory=dict)  # pid → VmHWM, last seen
    serve_rss_kb: int = 0
    problems: list[str] = field(default_factory=list)
    issued_at: dict[str, float] = field(default_factory=dict)  # code → epoch, serve's log
    profile: list[tuple[float, float, str]] = field(default_factory=list)


async def end_to_end(
    drafts: dict[int, bytes],
    docs: dict[int, int],
    converters: int,
    tmp: Path,
    log: Path | None,
    profile: Path | None,
) -> EndToEnd:
    result = EndToEnd()
    relay = CapturingRelay()
    await relay.start()
    serve = Serve(tmp, relay.port, converters)
    spy: asyncio.subprocess.Process | None = None
    try:
        await serve.prepare()
        await serve.start()
        if profile is not None:
            spy = await asyncio.create_subprocess_exec(
                str(Path(sys.executable).parent / "py-spy"),
                *("record", "--format", "raw", "-r", "200"),
                *("-p", str(serve.pid()), "-o", str(profile)),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        async with aiohttp.ClientSession() as http:
            for pages, count in docs.items():
                for number in range(1, count + 1):
                    one = await issue_one(serve, relay, http, pages, number, drafts[pages])
                    result.issued.append(one)
                    for pid in office_children(serve.pid()):
                        result.pool_rss_kb[pid] = vm_hwm_kb(pid)
                    print(
                        f"issued {one.number}: {one.issued_pages} pages, POST "
                        f"{1000 * one.post_s:.0f} ms, issued mail after {one.issue_s:.2f} s",
                        flush=True,
                    )
        await asyncio.sleep(1.0)  # the last mails out; then what serve logged
        result.serve_rss_kb = vm_hwm_kb(serve.pid())
    finally:
        if spy is not None and spy.returncode is None:
            spy.send_signal(signal.SIGINT)
            await asyncio.wait_for(spy.wait(), 60)
        await serve.stop()
        await relay.stop()
        await asyncio.to_thread(collect, serve, result, log, profile)
    return result


def collect(serve: Serve, result: EndToEnd, log: Path | None, profile: Path | None) -> None:
    """What serve logged (and py-spy sampled), read once it stopped; its log kept if asked."""
    if serve.log.exists():
        result.problems = serve.problems()
        result.issued_at = serve.issued_at()
        if log is not None:
            shutil.copyfile(serve.log, log)
    if profile is not None and profile.exists():
        result.profile = top_frames(profile)


def top_frames(raw: Path, count: int = 30) -> list[tuple[float, float, str]]:
    """Per frame: seconds of the samples it is in (inclusive) and on top of (self), from
    py-spy's raw output at 200 samples/s (threads together); the busiest first."""
    seen: dict[str, int] = {}
    leaf: dict[str, int] = {}
    for line in raw.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not n.isdigit():
            continue
        frames = stack.split(";")
        leaf[frames[-1]] = leaf.get(frames[-1], 0) + int(n)
        for frame in set(frames):
            seen[frame] = seen.get(frame, 0) + int(n)
    busiest = sorted(seen.items(), key=lambda item: -item[1])[:count]
    return [(n / 200, leaf.get(f, 0) / 200, f) for f, n in busiest]


# --- report -------------------------------------------------------------------------------


def mb(kb: float) -> str:
    return f"{kb / 1024:.0f} MB"


def report(
    drafts: dict[int, bytes], r: Renditions, s: Signing, e: EndToEnd, converters: int
) -> None:
    print("\n### Renditions: warm pool against a cold soffice per file\n")
    print(
        "| draft | DOCX | pages (warm / cold) | warm p50 / p95 | cold p50 / p95 (max) "
        "| cold ÷ warm (p50) | ≥ 3× |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | --- |")
    for pages in drafts:
        warm, cold = r.warm[pages], r.cold[pages]
        ratio = p50(cold) / p50(warm)
        print(
            f"| {pages} pages | {len(drafts[pages]) / 1024:.0f} KB | "
            f"{r.warm_pages[pages]} / {r.cold_pages[pages]} | "
            f"{p50(warm):.2f} / {pct(warm, 95):.2f} s | "
            f"{p50(cold):.2f} / {pct(cold, 95):.2f} ({max(cold):.2f}) s | "
            f"{ratio:.1f}× | {'yes' if ratio >= WARM_TARGET else 'no'} |"
        )
    runs = {len(v) for v in r.warm.values()}, {len(v) for v in r.cold.values()}
    print(
        f"\nRuns per draft: warm {'/'.join(map(str, runs[0]))}, cold "
        f"{'/'.join(map(str, runs[1]))}; starting the {converters} warm converters (their "
        f"first job, not counted above): {r.pool_start_s:.2f} s."
    )

    print("\n### The two signatures (signer, then organisation), TEST PKCS#12 keys\n")
    print(
        "| rendered PDF | keys opened p50 | signature block found p50 "
        "| two signatures p50 | total p50 / p95 | signed PDF |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for pages in drafts:
        print(
            f"| {r.warm_pages[pages]} pages, {len(r.pdfs[pages]) / 1024:.0f} KB | "
            f"{1000 * p50(s.keys[pages]):.0f} ms | {1000 * p50(s.box[pages]):.0f} ms | "
            f"{1000 * p50(s.sign[pages]):.0f} ms | "
            f"{1000 * p50(s.total[pages]):.0f} / {1000 * pct(s.total[pages], 95):.0f} ms | "
            f"{s.signed_kb[pages]:.0f} KB |"
        )
    print(f"\nFirst signing of the process (imports, fonts; 2 pages): {s.first_s:.2f} s.")

    print("\n### Issuing end to end: sign-off POST → issued mail at the relay\n")
    print(
        "| draft | documents | pages issued | POST p50 / p95 (max) | issued mail p50 / p95 (max) "
        "| POST ≤ 300 ms | ≤ 2 s (10 pages, p95) |"
    )
    print("| --- | ---: | ---: | ---: | ---: | --- | --- |")
    for pages in sorted({i.pages for i in e.issued}):
        rows = [i for i in e.issued if i.pages == pages]
        posts = [1000 * i.post_s for i in rows]
        issue = [i.issue_s for i in rows]
        issued_pages = "/".join(str(n) for n in sorted({i.issued_pages for i in rows}))
        target = ("yes" if pct(issue, 95) <= ISSUE_TARGET_S else "no") if pages == 10 else "–"
        print(
            f"| {pages} pages | {len(rows)} | {issued_pages} | "
            f"{p50(posts):.0f} / {pct(posts, 95):.0f} ({max(posts):.0f}) ms | "
            f"{p50(issue):.2f} / {pct(issue, 95):.2f} ({max(issue):.2f}) s | "
            f"{'yes' if pct(posts, 95) <= POST_TARGET_MS else 'no'} | {target} |"
        )

    print(
        "\nWhere the time goes, from serve's log (`issued`: numbered, rendered, signed, stored):\n"
    )
    print(
        "| draft | POST start → `issued` logged p50 (max) "
        "| `issued` → mail at the relay p50 (max) |"
    )
    print("| --- | ---: | ---: |")
    for pages in sorted({i.pages for i in e.issued}):
        rows = [i for i in e.issued if i.pages == pages and i.code in e.issued_at]
        if not rows:
            continue
        job = [e.issued_at[i.code] - i.post_wall for i in rows]
        mail = [i.mail_wall - e.issued_at[i.code] for i in rows]
        print(
            f"| {pages} pages | {p50(job):.2f} ({max(job):.2f}) s "
            f"| {p50(mail):.2f} ({max(mail):.2f}) s |"
        )

    print("\n### Peak RSS of LibreOffice\n")
    print("| what | soffice.bin processes | peak RSS (VmHWM), sum | each |")
    print("| --- | ---: | ---: | --- |")
    print(
        f"| warm pool of this script, after {sum(len(v) for v in r.warm.values())} + "
        f"{converters} jobs | {len(r.pool_rss_kb)} | {mb(sum(r.pool_rss_kb))} | "
        f"{', '.join(mb(k) for k in r.pool_rss_kb)} |"
    )
    serve_pool = list(e.pool_rss_kb.values())
    print(
        f"| serve's pool, after {len(e.issued)} documents (review + issued renditions) | "
        f"{len(serve_pool)} | {mb(sum(serve_pool))} | {', '.join(mb(k) for k in serve_pool)} |"
    )
    for pages in drafts:
        print(
            f"| one cold soffice, {pages} pages (largest run) | 1 | {mb(r.cold_rss_kb[pages])} | |"
        )
    print(f"\n`docflow serve` itself (Python): peak RSS {mb(e.serve_rss_kb)}.")
    print("\nserve's log, warnings and errors:" + ("" if e.problems else " none"))
    for line in e.problems:
        print(f"  {line}")
    if e.profile:
        print(
            "\npy-spy samples of serve during the documents, in seconds (inclusive, self; "
            "all threads, and waits py-spy does not recognise as idle):"
        )
        for total, own, frame in e.profile:
            print(f"  {total:7.2f} {own:7.2f}  {frame}")


def as_json(r: Renditions, s: Signing, e: EndToEnd) -> dict[str, Any]:
    return {
        "renditions": {
            "warm_seconds": r.warm,
            "warm_pages": r.warm_pages,
            "cold_seconds": r.cold,
            "cold_pages": r.cold_pages,
            "cold_peak_rss_kb": r.cold_rss_kb,
            "pool_start_seconds": r.pool_start_s,
            "pool_peak_rss_kb": r.pool_rss_kb,
        },
        "signatures": {
            "keys_seconds": s.keys,
            "box_seconds": s.box,
            "sign_seconds": s.sign,
            "total_seconds": s.total,
            "signed_kb": s.signed_kb,
            "first_seconds": s.first_s,
        },
        "end_to_end": {
            "documents": [vars(i) for i in e.issued],
            "serve_pool_peak_rss_kb": e.pool_rss_kb,
            "serve_peak_rss_kb": e.serve_rss_kb,
            "serve_log_problems": e.problems,
            "issued_logged_at": e.issued_at,
        },
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description="docflow signed issuing benchmark")
    parser.add_argument("--pages", type=int, nargs="+", default=[2, 10, 50])
    parser.add_argument("--warm-runs", type=int, default=10)
    parser.add_argument("--cold-runs", type=int, default=5)
    parser.add_argument("--sign-runs", type=int, default=5)
    parser.add_argument(
        "--docs", type=int, nargs="+", default=[10, 10, 5], help="documents issued per size"
    )
    parser.add_argument("--converters", type=int, default=2, help="warm pool and serve's")
    parser.add_argument("--log", type=Path, help="keep serve's log here")
    parser.add_argument(
        "--profile", type=Path, help="py-spy raw samples of serve during the documents"
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if len(args.docs) != len(args.pages):
        parser.error("--docs needs one count per --pages")
    began = time.perf_counter()
    drafts = {pages: decision_docx(pages) for pages in args.pages}
    with tempfile.TemporaryDirectory(prefix="bench-issuing-") as name:
        tmp = Path(name)
        (tmp / "renditions").mkdir()
        r = await renditions(
            drafts, args.warm_runs, args.cold_runs, args.converters, tmp / "renditions"
        )
        s = await asyncio.to_thread(signatures, r.pdfs, args.sign_runs, tmp)
        docs = dict(zip(args.pages, args.docs, strict=True))
        e = await end_to_end(drafts, docs, args.converters, tmp / "serve", args.log, args.profile)
    report(drafts, r, s, e, args.converters)
    print(f"\nWhole run: {time.perf_counter() - began:.0f} s.")
    if args.json:
        print(json.dumps(as_json(r, s, e), indent=2, ensure_ascii=False))


if __name__ == "__main__":
    asyncio.run(main())
