"""Text read by OCR from scanned PDFs and photos, after the version is stored.

A sweep (the scheduler's, every `ocr.sweep_seconds`) gives each new PDF or image of a
version a `file_ocr` row, then claims due rows one at a time, newest file first (a lease,
so that several serve processes on one database never read a file twice), and runs
`ocr_worker` for it in a process of its own at the lowest priority, paused while mail is
arriving and stopped with everything it started once it has run for `ocr.timeout_seconds`
(`ocr_process.py`); no file is started while mail arrives. A PDF whose pages all have
text needs nothing (`not_needed`); otherwise the text read, merged with the layer's,
becomes the file's text, marked `text_source = "ocr"`, and an image's searchable PDF
becomes its rendition. In the same transaction (the document's row locked, as issuing
locks it) the `on_text` callbacks run: the archive re-indexes a record already issued
from that version. A failure is recorded with its reason; a damaged file or a timeout is
not tried again, a crash is, with back-off, up to `ocr.max_attempts`. The version never
waits for any of it.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q, Subquery
from tortoise.transactions import in_transaction

from docflow.clock import Clock
from docflow.config.sections import OcrSettings
from docflow.documents.extract import tidy
from docflow.documents.models import Document, FileOcr, FileRendition, Version, VersionFile
from docflow.documents.ocr_process import OcrProcess
from docflow.documents.text_hooks import TextHook
from docflow.storage.blobs import BlobStore

log = logging.getLogger("docflow.ocr")

IMAGE_TYPES = ("image/jpeg", "image/png", "image/tiff")
OCR_TYPES = ("application/pdf", *IMAGE_TYPES)
QUEUE_BATCH = 200  # files given a row per sweep: a first sweep over an old archive stays short
LEASE_SECONDS = 300.0  # a file's claim, renewed while it is read


def ocr_view(row: FileOcr | None) -> dict[str, Any] | None:
    """`ocr` of a file in the version JSON: how its text was read by OCR, if it was."""
    if row is None:
        return None
    return {
        "status": row.status,
        "pages": row.pages,
        "pages_read": row.pages_read,
        "cut_at_page_limit": row.cut,
        "seconds": row.seconds,
        "error": row.error,
    }


@dataclass
class Ocr:
    """Reads and records; `sweep` is the scheduler's job."""

    settings: OcrSettings
    clock: Clock
    blobs: BlobStore
    work_dir: Path
    on_text: list[TextHook] = field(default_factory=list)
    arriving: Callable[[], bool] = lambda: False  # intake's: mail is arriving, OCR waits
    _running: OcrProcess | None = field(default=None, init=False, repr=False)

    def close(self) -> None:
        """Stop the OCR under way (serve stopping); its lease lets another process retry it."""
        if self._running is not None:
            self._running.stop()

    def lease(self) -> timedelta:
        """Renewed every minute while a file is read (paused included)."""
        return timedelta(seconds=LEASE_SECONDS)

    async def sweep(self) -> int:
        """Queue what is new, then read what is due; how many files were read."""
        await self._queue_new()
        done = 0
        while not self.arriving() and (row := await self._claim()) is not None:
            await self._read(row)
            done += 1
        return done

    async def _queue_new(self) -> None:
        files = (
            await VersionFile.filter(mime__in=list(OCR_TYPES))
            .exclude(id__in=Subquery(FileOcr.all().values("version_file_id")))
            .order_by("-id")
            .limit(QUEUE_BATCH)
            .values_list("id", flat=True)
        )
        for file_id in files:
            try:
                await FileOcr.create(
                    version_file_id=file_id, status="pending", next_attempt_at=self.clock.now()
                )
            except IntegrityError:
                pass  # another process queued it first

    async def _claim(self) -> FileOcr | None:
        now = self.clock.now()
        due = Q(status="pending") | Q(status="failed", attempts__lt=self.settings.max_attempts)
        free = Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)
        for row in (
            await FileOcr.filter(due, free, next_attempt_at__lte=now)
            .order_by("-version_file_id")
            .limit(5)
        ):
            taken = (
                await FileOcr.filter(id=row.id)
                .filter(free)
                .update(claimed_until=now + self.lease())
            )
            if taken:
                return row
        return None

    async def _read(self, row: FileOcr) -> None:
        f = await VersionFile.get(id=row.version_file_id)
        row.attempts += 1
        self.work_dir.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f"file-{f.id}-", dir=self.work_dir))
        try:
            out = await self._run_worker(row, f, work)
            made = await asyncio.to_thread(Path(out["pdf"]).read_bytes) if out.get("pdf") else None
            pdf = await self.blobs.put(made) if made else None
        finally:
            await asyncio.to_thread(shutil.rmtree, work, True)
        await self._record(row, f, out, pdf)

    async def _run_worker(self, row: FileOcr, f: VersionFile, work: Path) -> dict[str, Any]:
        """The worker's outcome (documents/ocr_process.py: paused while mail arrives)."""
        s = self.settings
        job = {
            "source": str(self.blobs.path_of(f.sha256)),
            "mime": f.mime,
            "work": str(work),
            "languages": s.languages,
            "max_pages": s.max_pages,
            "jobs": s.jobs,
        }

        async def renew() -> None:
            until = self.clock.now() + self.lease()
            await FileOcr.filter(id=row.id).update(claimed_until=until)

        self._running = OcrProcess(job, s.timeout_seconds, self.arriving, renew)
        try:
            return await self._running.run()
        finally:
            self._running = None

    async def _record(
        self, row: FileOcr, f: VersionFile, out: dict[str, Any], pdf: str | None
    ) -> None:
        row.claimed_until = None
        row.seconds = out.get("seconds")
        if "error" in out:
            row.status, row.error = "failed", str(out["error"])[:500]
            if out.get("final"):
                row.attempts = max(row.attempts, self.settings.max_attempts)
            row.next_attempt_at = self.clock.now() + timedelta(minutes=2**row.attempts)
            log.warning(
                "ocr failed",
                extra={"version_file": f.id, "attempt": row.attempts, "error": row.error},
            )
            await row.save()
            return
        row.error, row.pages = None, out.get("pages")
        if not out.get("needed"):
            row.status = "not_needed"
            await row.save()
            return
        row.status, row.pages_read, row.cut = "ok", int(out["pages_read"]), bool(out["cut"])
        text = tidy(str(out.get("text") or ""))
        version = await Version.get(id=f.version_id)
        async with in_transaction() as conn:
            # issuing locks the document too: a record issued meanwhile is seen by the hooks
            await Document.filter(id=version.document_id).select_for_update().using_db(conn).get()
            if text:
                f.text, f.text_source, f.extract_error = text, "ocr", None
                await f.save(update_fields=["text", "text_source", "extract_error"], using_db=conn)
            if pdf is not None:
                await self._rendition(conn, f, pdf, row.pages)
            await row.save(using_db=conn)
            if text:
                for hook in self.on_text:
                    await hook(conn, f)
        log.info(
            "ocr read",
            extra={
                "version_file": f.id,
                "pages": row.pages,
                "pages_read": row.pages_read,
                "cut": row.cut,
                "seconds": row.seconds,
            },
        )

    async def _rendition(
        self, conn: BaseDBAsyncClient, f: VersionFile, pdf: str, pages: int | None
    ) -> None:
        """An image's searchable PDF, served where renditions are."""
        made = await FileRendition.filter(version_file_id=f.id).using_db(conn).first()
        if made is None:
            made = FileRendition(version_file_id=f.id, next_attempt_at=self.clock.now())
        made.status, made.sha256, made.pages, made.error = "ok", pdf, pages, None
        await made.save(using_db=conn)
