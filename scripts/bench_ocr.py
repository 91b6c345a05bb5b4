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
   each time, without OCR work, and with scans mailed first so that Tesseract is running
   throughout (sampled); the median of `--rounds` rounds of each, per `--ocr-jobs`.
   Target: acknowledged with OCR ≥ 0.9× without.
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
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scripts.bench_intake import (  # noqa: E402
    AUTHOR,
    INTAKE,
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


def tesseract_running(root_pid: int) -> bool:
    """Whether a `tesseract` runs anywhere below `serve` (the OCR process has a session of
    its own, but stays serve's descendant)."""
    todo = [root_pid]
    while todo:
        pid = todo.pop()
        try:
            if Path(f"/proc/{pid}/comm").read_text().strip() == "tesseract":
                return True
            for task in Path(f"/proc/{pid}/task").iterdir():
                todo.extend(int(c) for c in (task / "children").read_text().split())
        except OSError:
            continue
    return False


class Sampler:
    """The share of samples (every 0.1 s) in which Tesseract was running."""

    def __init__(self, pid: int) -> None:
        self.pid, self.busy, self.total = pid, 0, 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.is_set():
            self.total += 1
            self.busy += tesseract_running(self.pid)
            time.sleep(0.1)

    def __enter__(self) -> Sampler:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()

    @property
    def share(self) -> float:
        return self.busy / max(1, self.total)


async def acknowledged(
    tmp: Path, count: int, connections: int, template: bytes, jobs: int, scans: bytes | None
) -> tuple[float, float]:
    """Drafts acknowledged per second by a fresh serve, after `scans` were mailed (then OCR
    is running: waited for); the share of the time Tesseract ran."""
    relay = DiscardingRelay()
    relay_port = await relay.__aenter__()
    df = Docflow(tmp, None, relay_port, DOCFLOW_OCR="1", DOCFLOW_OCR_JOBS=str(jobs))
    try:
        df.start()
        assert df.proc is not None
        if scans is not None:
            for i in range(4):  # more than the drive lasts: OCR is busy throughout
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
                if tesseract_running(df.proc.pid):
                    break
                await asyncio.sleep(0.1)
            else:
                raise RuntimeError("OCR did not start")
        with Sampler(df.proc.pid) as sampler:
            seconds = await drive(df.smtp_port, template, count, connections)
        await wait_versions(df, count + (4 if scans is not None else 0))
    finally:
        await asyncio.to_thread(df.stop)
        await relay.__aexit__()
    return count / seconds, sampler.share


async def intake_under_load(
    count: int, connections: int, rounds: int, jobs: int, tmp: Path
) -> dict[str, float]:
    template = draft_template()
    scans = scan_pdf(pages_of_text(6))
    idle: list[float] = []
    loaded: list[float] = []
    shares: list[float] = []
    for r in range(rounds):
        with tempfile.TemporaryDirectory(dir=tmp) as a, tempfile.TemporaryDirectory(dir=tmp) as b:
            idle.append((await acknowledged(Path(a), count, connections, template, jobs, None))[0])
            rate, share = await acknowledged(Path(b), count, connections, template, jobs, scans)
            loaded.append(rate)
            shares.append(share)
        print(
            f"  round {r + 1}: {idle[-1]:.1f}/s without OCR, {loaded[-1]:.1f}/s with "
            f"(Tesseract running {shares[-1]:.0%} of the time)",
            flush=True,
        )
    return {
        "without": statistics.median(idle),
        "with": statistics.median(loaded),
        "ratio": statistics.median(w / o for w, o in zip(loaded, idle, strict=True)),
        "busy": min(shares),
    }


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
                f"{r['without']:.1f}/s without OCR, {r['with']:.1f}/s with ({r['ratio']:.2f}x); "
                f"Tesseract ran ≥ {r['busy']:.0%} of every loaded run",
                flush=True,
            )
    if args.json:
        print(json.dumps(results, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
