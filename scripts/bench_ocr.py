"""OCR: docflow's throughput against bare Tesseract, and what OCR costs intake.

Run: .venv/bin/python scripts/bench_ocr.py [--pages 8] [-n 400] [-k 8] [--rounds 3]
                                          [--ocr-jobs 1 2]

1. **Throughput**, pages per second on this machine's 2 cores, of the same A4 pages at
   200 dpi (the sample report's Vietnamese prose, 30 lines a page):
   - the limit: bare `tesseract PAGE.png - -l vie+eng`, two at a time, one thread each;
   - docflow's OCR process (`python -m docflow.documents.ocr_worker`, what `serve` runs)
     on one scanned PDF of all the pages, with `ocr.jobs` 1 and 2;
   - the same on phone photos of the pages (JPEG, no resolution, askew), one file a
     page, two files at a time with `ocr.jobs` 1 (the photo path adds `--rotate-pages`
     and writes the searchable PDF).
2. **Intake under OCR load**: `docflow serve` (SQLite, OCR on) acknowledging `-n` drafts
   over `-k` connections (bench_intake.py's load, 2 client processes), on a fresh data dir
   each time: without OCR work; with 2 scans of 6 pages mailed first, so that docflow's
   OCR is under way when the drafts come (it pauses while they arrive: Tesseract's state
   is sampled), and timing how long after the last draft the scans are read; and beside a
   bare Tesseract loop at nice 19 (OCR that would not make way). The median of `--rounds`
   rounds of each, per `--ocr-jobs`. Target: acknowledged with OCR ≥ 0.9× without.
The numbers go into docs/benchmarks.md ("OCR (issue 15)").
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scripts.bench_intake import (  # noqa: E402
    AUTHOR,
    INTAKE,
    TOKEN,
    DiscardingRelay,
    Docflow,
    _send_range,
    draft_template,
    drive,
    wait_versions,
)
from tests.mails import draft  # noqa: E402
from tests.scans import SAMPLE, page_image, photo_jpeg, scan_pdf  # noqa: E402

LANGUAGES = "vie+eng"
LINES = 30
SCANS, SCAN_PAGES = 2, 6  # mailed before the drafts: OCR under way all through them


def pages_of_text(count: int) -> list[list[str]]:
    words = " ".join(SAMPLE.read_text(encoding="utf-8").split())
    lines = textwrap.wrap(" ".join([words] * (count * LINES // 90 + 1)), 68)
    return [lines[i * LINES : (i + 1) * LINES] for i in range(count)]


def tesseract_rate(pngs: list[Path]) -> float:
    """Pages/s of bare Tesseract, two processes at a time, one thread each."""
    env = {**os.environ, "OMP_THREAD_LIMIT": "1"}

    def one(png: Path) -> None:
        subprocess.run(
            ["tesseract", str(png), "-", "-l", LANGUAGES],
            env=env,
            check=True,
            capture_output=True,
        )

    started = time.perf_counter()
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(one, pngs))
    return len(pngs) / (time.perf_counter() - started)


def worker(source: Path, mime: str, jobs: int, work: Path, max_pages: int = 1000) -> dict:
    """docflow's OCR process on one file, as `serve` starts it."""
    work.mkdir(parents=True, exist_ok=True)
    job = {
        "source": str(source),
        "mime": mime,
        "work": str(work),
        "languages": LANGUAGES,
        "max_pages": max_pages,
        "jobs": jobs,
        "timeout": 3600,
    }
    done = subprocess.run(
        [sys.executable, "-m", "docflow.documents.ocr_worker"],
        input=json.dumps(job).encode(),
        capture_output=True,
        check=True,
        cwd=ROOT,
        start_new_session=True,
    )
    out: dict = json.loads(done.stdout)
    assert "error" not in out, out
    return out


def throughput(count: int, tmp: Path) -> dict[str, float]:
    pages = pages_of_text(count)
    pngs = []
    for i, lines in enumerate(pages):
        png = tmp / f"page-{i}.png"
        page_image(lines).save(png, dpi=(200, 200))
        pngs.append(png)
    pdf = tmp / "scan.pdf"
    pdf.write_bytes(scan_pdf(pages))
    photos = []
    for i, lines in enumerate(pages):
        jpg = tmp / f"photo-{i}.jpg"
        jpg.write_bytes(photo_jpeg(lines))
        photos.append(jpg)
    out = {"pages": float(count), "tesseract": tesseract_rate(pngs)}
    for jobs in (1, 2):
        started = time.perf_counter()
        read = worker(pdf, "application/pdf", jobs, tmp / f"pdf-{jobs}")
        assert read["pages_read"] == count, read
        out[f"pdf_jobs{jobs}"] = count / (time.perf_counter() - started)
    started = time.perf_counter()
    with ThreadPoolExecutor(2) as pool:
        list(
            pool.map(
                lambda p: worker(p[1], "image/jpeg", 1, tmp / f"photo-{p[0]}"), enumerate(photos)
            )
        )
    out["photos_jobs1"] = count / (time.perf_counter() - started)
    return out


def tesseract_states(root_pid: int) -> set[str]:
    """The kernel states (R, S, D, T for stopped…) of every `tesseract` below `root_pid`."""
    states, todo = set(), [root_pid]
    while todo:
        pid = todo.pop()
        try:
            if Path(f"/proc/{pid}/comm").read_text().strip() == "tesseract":
                stat = Path(f"/proc/{pid}/stat").read_text()
                states.add(stat.rsplit(")", 1)[1].split()[0])
            for task in Path(f"/proc/{pid}/task").iterdir():
                todo.extend(int(c) for c in (task / "children").read_text().split())
        except OSError:
            continue
    return states


class Sampler:
    """Every 0.1 s: is a Tesseract below `pid` running, or there but stopped (paused)?"""

    def __init__(self, pid: int) -> None:
        self.pid, self.running, self.paused, self.total = pid, 0, 0, 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.is_set():
            states = tesseract_states(self.pid)
            self.total += 1
            self.running += bool(states - {"T"})
            self.paused += states == {"T"}
            time.sleep(0.1)

    def __enter__(self) -> Sampler:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()

    def shares(self) -> tuple[float, float]:
        return self.running / max(1, self.total), self.paused / max(1, self.total)


def tesseract_loop(png: Path, stop: threading.Event, nice: int = 19) -> None:
    """Bare Tesseract on one page again and again at the lowest priority: OCR that would not
    make way for mail."""
    env = {**os.environ, "OMP_THREAD_LIMIT": "1"}
    while not stop.is_set():
        subprocess.run(
            ["nice", "-n", str(nice), "tesseract", str(png), "-", "-l", LANGUAGES],
            env=env,
            capture_output=True,
            check=False,
        )


async def scans_read(df: Docflow, codes: int) -> bool:
    """Whether every scan mailed (the first `codes` documents) has been read."""

    def get(path: str) -> dict:
        req = urllib.request.Request(
            f"http://127.0.0.1:{df.http_port}{path}", headers={"Authorization": f"Bearer {TOKEN}"}
        )
        with urllib.request.urlopen(req, timeout=10) as r:
            return dict(json.loads(r.read()))

    docs = await asyncio.to_thread(get, "/api/v1/documents?limit=500")
    scans = [d["code"] for d in docs["items"] if d["title"].startswith("Bản quét")]
    for code in scans[:codes]:
        version = await asyncio.to_thread(get, f"/api/v1/documents/{code}/versions/1")
        if (version["files"][0]["ocr"] or {}).get("status") != "ok":
            return False
    return len(scans) >= codes


async def acknowledged(
    tmp: Path, count: int, connections: int, template: bytes, jobs: int, load: str, png: Path
) -> dict[str, float]:
    """Drafts acknowledged per second by a fresh serve (OCR on) under `load`: "none"; "ocr",
    scans mailed first, so that docflow's OCR is under way when the drafts come; "tesseract",
    a bare Tesseract loop at nice 19 beside serve."""
    relay = DiscardingRelay()
    relay_port = await relay.__aenter__()
    df = Docflow(tmp, None, relay_port, DOCFLOW_OCR="1", DOCFLOW_OCR_JOBS=str(jobs))
    stop = threading.Event()
    loop_thread = threading.Thread(target=tesseract_loop, args=(png, stop), daemon=True)
    out: dict[str, float] = {}
    try:
        df.start()
        assert df.proc is not None
        # one draft first, as in every condition: the analysis workers start on first use
        await _send_range(df.smtp_port, template.replace(b"@@N@@", b"warm-up"), range(1), 1)
        await wait_versions(df, 1, seconds=60)
        if load == "ocr":
            scans = scan_pdf(pages_of_text(SCAN_PAGES))
            for i in range(SCANS):
                m = draft(
                    f"Bản quét {i}",
                    "Bản quét.pdf",
                    scans,
                    "application/pdf",
                    sender=AUTHOR,
                    to=INTAKE,
                )
                await _send_range(df.smtp_port, m.as_bytes(), range(1), 1)
            for _ in range(600):
                if tesseract_states(df.proc.pid) - {"T"}:
                    break
                await asyncio.sleep(0.1)
            else:
                raise RuntimeError("OCR did not start")
        elif load == "tesseract":
            loop_thread.start()
            await asyncio.sleep(1)
        with Sampler(df.proc.pid) as sampler:
            seconds = await drive(df.smtp_port, template, count, connections)
        drove_at = time.perf_counter()
        stop.set()
        out["ack"] = count / seconds
        out["running"], out["paused"] = sampler.shares()
        await wait_versions(df, 1 + count + (SCANS if load == "ocr" else 0))
        if load == "ocr":  # and OCR went on afterwards
            for _ in range(2400):
                if await scans_read(df, SCANS):
                    break
                await asyncio.sleep(0.5)
            else:
                raise RuntimeError("the scans were not read")
            out["ocr_done_after"] = time.perf_counter() - drove_at
    finally:
        stop.set()
        await asyncio.to_thread(df.stop)
        await relay.__aexit__()
        if loop_thread.is_alive():
            loop_thread.join()
    return out


async def intake_under_load(
    count: int, connections: int, rounds: int, jobs: int, tmp: Path
) -> dict[str, float]:
    template = draft_template()
    png = tmp / "load-page.png"
    page_image(pages_of_text(1)[0]).save(png, dpi=(200, 200))
    runs: dict[str, list[dict[str, float]]] = {"none": [], "ocr": [], "tesseract": []}
    loads = list(runs)
    for r in range(rounds):
        for load in loads[r % 3 :] + loads[: r % 3]:  # each load first, second and third once
            with tempfile.TemporaryDirectory(dir=tmp) as name:
                runs[load].append(
                    await acknowledged(Path(name), count, connections, template, jobs, load, png)
                )
        none, ocr, bare = (runs[k][-1] for k in ("none", "ocr", "tesseract"))
        print(
            f"  round {r + 1}: {none['ack']:.1f}/s without OCR; {ocr['ack']:.1f}/s with docflow's "
            f"OCR under way (Tesseract running {ocr['running']:.0%}, paused {ocr['paused']:.0%} "
            f"of the time; the scans read {ocr['ocr_done_after']:.0f} s after the last draft); "
            f"{bare['ack']:.1f}/s beside bare Tesseract at nice 19",
            flush=True,
        )
    out = {
        "without": statistics.median(r["ack"] for r in runs["none"]),
        "with": statistics.median(r["ack"] for r in runs["ocr"]),
        "bare": statistics.median(r["ack"] for r in runs["tesseract"]),
        "ocr_done_after": statistics.median(r["ocr_done_after"] for r in runs["ocr"]),
    }
    pairs = list(zip(runs["ocr"], runs["none"], runs["tesseract"], strict=True))
    out["ratio"] = statistics.median(o["ack"] / n["ack"] for o, n, _ in pairs)
    out["bare_ratio"] = statistics.median(b["ack"] / n["ack"] for _, n, b in pairs)
    return out


async def main() -> None:
    parser = argparse.ArgumentParser(description="docflow OCR benchmark")
    parser.add_argument("--pages", type=int, default=8)
    parser.add_argument("-n", "--messages", type=int, default=400)
    parser.add_argument("-k", "--connections", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--ocr-jobs", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results: dict[str, object] = {}
    with tempfile.TemporaryDirectory(prefix="bench-ocr-") as name:
        tmp = Path(name)
        if not args.skip_throughput:
            t = throughput(args.pages, tmp)
            results["throughput"] = t
            print(
                f"[throughput] {args.pages} pages: tesseract {t['tesseract']:.3f} pages/s; "
                f"docflow scan PDF jobs=1 {t['pdf_jobs1']:.3f} "
                f"({t['pdf_jobs1'] / t['tesseract']:.2f}x), "
                f"jobs=2 {t['pdf_jobs2']:.3f} ({t['pdf_jobs2'] / t['tesseract']:.2f}x); photos, "
                f"2 at a time, jobs=1 {t['photos_jobs1']:.3f} "
                f"({t['photos_jobs1'] / t['tesseract']:.2f}x)",
                flush=True,
            )
        for jobs in args.ocr_jobs:
            print(f"[intake] ocr.jobs = {jobs}", flush=True)
            r = await intake_under_load(args.messages, args.connections, args.rounds, jobs, tmp)
            results[f"intake_jobs{jobs}"] = r
            print(
                f"[intake] ocr.jobs = {jobs}, median of {args.rounds}: acknowledged "
                f"{r['without']:.1f}/s without OCR, {r['with']:.1f}/s with docflow's OCR under "
                f"way ({r['ratio']:.2f}x; the scans read {r['ocr_done_after']:.0f} s after the "
                f"last draft), {r['bare']:.1f}/s beside bare Tesseract at nice 19 "
                f"({r['bare_ratio']:.2f}x)",
                flush=True,
            )
    if args.json:
        print(json.dumps(results, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
