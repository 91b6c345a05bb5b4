"""One file's OCR, in a process of its own: `python -m docflow.documents.ocr_worker`.

Reads a job (JSON on stdin), writes the outcome (JSON on stdout). It runs at a low CPU
priority with Debian's `ocrmypdf` (Tesseract underneath) as its child, in a session of its
own, so that the caller can pause it and stop the whole tree (`documents/ocr_process.py`).

- A PDF: the pages without a text layer are found with pypdf; the first `max_pages` of
  them are copied into a PDF of their own and read (`--force-ocr --output-type none
  --sidecar`: only the text is wanted, the original stays as it was sent); the text is the
  layer's on the other pages and OCR's on these, page by page. A PDF whose every page has
  text needs nothing.
- An image (JPEG, PNG, TIFF, several frames included): made upright and opaque with Pillow
  when it must be, given a resolution when it has none, then turned by ocrmypdf into a
  searchable PDF (the rendition) and its text.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pypdf
from PIL import Image, ImageOps

NICENESS = 19  # the lowest priority: OCR yields the CPU to intake and the web app
# exit codes of ocrmypdf that say the file itself is at fault: trying again cannot help
FINAL_EXITS = {2: "not a readable PDF or image", 6: "already has text", 8: "encrypted PDF"}
SKIPPED = re.compile(r"^\[OCR skipped on page\(s\) [0-9, -]+\]$", re.MULTILINE)
A4_INCHES = (8.27, 11.69)
TESSERACT_NO_LIMIT = 7 * 24 * 3600  # seconds a page may take in ocrmypdf (0 would skip OCR)


class Unreadable(Exception):
    """The file cannot be read (damaged, encrypted, too large): a final failure."""


def main() -> None:
    job = json.loads(sys.stdin.read())
    try:
        os.nice(NICENESS)
    except OSError:  # not allowed here: run at the priority given
        pass
    threading.Thread(target=_orphaned, args=(os.getppid(),), daemon=True).start()
    started = time.monotonic()
    try:
        out = run(job)
    except Unreadable as e:
        out = {"error": str(e)[:500], "final": True}
    out["seconds"] = round(time.monotonic() - started, 3)  # the caller's count replaces it
    sys.stdout.write(json.dumps(out))


def _orphaned(parent: int) -> None:
    """`serve` gone without stopping this (killed): stop this process group, ocrmypdf and
    Tesseract included, rather than read on for nobody."""
    while os.getppid() == parent:
        time.sleep(1)
    if os.getpgrp() == os.getpid():  # started as the leader of its group (documents/ocr.py)
        os.killpg(0, signal.SIGKILL)
    os.kill(os.getpid(), signal.SIGKILL)


def run(job: dict[str, Any]) -> dict[str, Any]:
    work, source = Path(job["work"]), Path(job["source"])
    if job["mime"] == "application/pdf":
        return _pdf(job, source, work)
    return _image(job, source, work)


def _pdf(job: dict[str, Any], source: Path, work: Path) -> dict[str, Any]:
    try:
        reader = pypdf.PdfReader(source)
        if reader.is_encrypted and not reader.decrypt(""):
            raise Unreadable("the PDF is encrypted with a password")
        layer = [_page_text(page) for page in reader.pages]
    except Unreadable:
        raise
    except Exception as e:  # pypdf raises many kinds of error on damaged files
        raise Unreadable(f"unreadable PDF: {e}") from e
    blank = [i for i, text in enumerate(layer) if not any(c.isalnum() for c in text)]
    if not blank:
        return {"needed": False, "pages": len(layer)}
    chosen = blank[: job["max_pages"]]
    writer = pypdf.PdfWriter()
    for i in chosen:
        writer.add_page(reader.pages[i])
    scans = work / "scans.pdf"
    with scans.open("wb") as f:
        writer.write(f)
    read = _ocrmypdf(job, scans, None, ["--force-ocr"])
    by_page = dict(zip(chosen, read, strict=False))
    text = "\n\n".join(by_page.get(i, layer[i]).strip() for i in range(len(layer)))
    return {
        "needed": True,
        "pages": len(layer),
        "pages_read": len(chosen),
        "cut": len(blank) > len(chosen),
        "text": text,
    }


def _page_text(page: Any) -> str:
    try:
        return str(page.extract_text())
    except Exception:  # one damaged page: read it by OCR
        return ""


def _image(job: dict[str, Any], source: Path, work: Path) -> dict[str, Any]:
    try:
        with Image.open(source) as image:
            image.load()  # a damaged or truncated image fails here, not in ocrmypdf
            frames = getattr(image, "n_frames", 1)
            dpi = _dpi(image)
            usable = _prepared(image, work / "prepared.tif") if _needs_preparing(image) else None
    except Exception as e:  # Pillow: damaged, truncated, a decompression bomb
        raise Unreadable(f"unreadable image: {e}") from e
    limit = job["max_pages"]
    # a photo may be sideways: Tesseract's orientation detection turns it (~1 s a page)
    extra = ["--image-dpi", str(dpi), "--rotate-pages"]
    if frames > limit:
        extra += ["--pages", f"1-{limit}"]
    pdf = work / "searchable.pdf"
    read = _ocrmypdf(job, usable or source, pdf, extra)
    return {
        "needed": True,
        "pages": frames,
        "pages_read": min(frames, limit),
        "cut": frames > limit,
        "text": "\n\n".join(t.strip() for t in read),
        "pdf": str(pdf),
    }


def _dpi(image: Image.Image) -> int:
    """The image's own resolution when it is credible (a scanner's), else the one that
    makes it an A4 page (a phone's photo says 72 dpi, or nothing)."""
    found = image.info.get("dpi")
    try:
        x, y = (float(found[0]), float(found[1])) if found else (0.0, 0.0)
    except (TypeError, ValueError, IndexError):
        x = y = 0.0
    if 100 <= x <= 1200 and 100 <= y <= 1200:
        return round(max(x, y))
    short, long = sorted(image.size)
    return max(50, min(1200, round(max(short / A4_INCHES[0], long / A4_INCHES[1]))))


def _needs_preparing(image: Image.Image) -> bool:
    """ocrmypdf (img2pdf) takes bilevel, grey and RGB images as they are; not transparency,
    palettes, CMYK or 16-bit, and it does not turn a photo by its EXIF orientation."""
    orientation = image.getexif().get(0x0112, 1)
    return image.mode not in ("1", "L", "RGB") or orientation not in (1, None)


def _prepared(image: Image.Image, path: Path) -> Path:
    """Every frame upright, opaque, grey or RGB, in one lossless TIFF."""
    frames = []
    for i in range(getattr(image, "n_frames", 1)):
        image.seek(i)
        frame = ImageOps.exif_transpose(image) if i == 0 else image.copy()
        if frame.mode in ("RGBA", "LA", "PA") or "transparency" in frame.info:
            rgba = frame.convert("RGBA")
            flat = Image.new("RGB", rgba.size, "white")
            flat.paste(rgba, mask=rgba.getchannel("A"))
            frame = flat
        elif frame.mode not in ("1", "L", "RGB"):
            frame = frame.convert("L" if frame.mode in ("I", "I;16", "F") else "RGB")
        frames.append(frame)
    frames[0].save(
        path, "TIFF", compression="tiff_deflate", save_all=True, append_images=frames[1:]
    )
    return path


def _ocrmypdf(
    job: dict[str, Any], source: Path, output: Path | None, extra: list[str]
) -> list[str]:
    """Run ocrmypdf; the text of each page it read, in order."""
    sidecar = Path(job["work"]) / "text.txt"
    args = [
        "ocrmypdf",
        "--quiet",
        "--language",
        job["languages"],
        "--jobs",
        str(job["jobs"]),
        # the caller limits the time (pauses left out: documents/ocr_process.py); a page
        # timing out in ocrmypdf would just be left without text
        "--tesseract-timeout",
        str(TESSERACT_NO_LIMIT),
        "--output-type",
        "pdf" if output else "none",
        "--sidecar",
        str(sidecar),
        *extra,
        str(source),
        str(output) if output else "-",
    ]
    env = {
        **os.environ,
        "TMPDIR": job["work"],
    }  # what a killed run leaves is the caller's to remove
    done = subprocess.run(args, capture_output=True, env=env, check=False)
    if done.returncode != 0:
        lines = [x for x in done.stderr.decode("utf-8", "replace").splitlines() if x.strip()]
        why = FINAL_EXITS.get(done.returncode)
        message = f"ocrmypdf exit {done.returncode}: {lines[-1] if lines else why or 'failed'}"
        if why is not None:
            raise Unreadable(message)
        raise RuntimeError(message)
    text = sidecar.read_text(encoding="utf-8", errors="replace")
    return [SKIPPED.sub("", page) for page in text.split("\f")]


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # a crash is the caller's to retry: say what it was
        sys.stdout.write(json.dumps({"error": f"{type(e).__name__}: {e}"[:500], "final": False}))
