"""PDF renditions of stored versions: found, claimed, converted and recorded in the background.

A sweep (the scheduler's, every `renditions.sweep_seconds`) finds version files of a
word-processing type without a rendition row, gives each a `pending` row, then claims
due rows one at a time (a lease, so that several serve processes on one database never
convert a file twice) and converts them with the warm pool. A failure is recorded with
its reason and retried with back-off up to `max_attempts`; it never blocks review,
which goes on with the original file.

A Word 97 file (DOC) has no text reader in docflow: its conversion stores it as DOCX as
well, and the DOCX reader gives its text, old Vietnamese fonts converted (`legacy.py`),
saved on the file as if extracted at intake; the `on_text` hooks then run, as after OCR.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import PurePath
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q, Subquery
from tortoise.transactions import in_transaction

from docflow.clock import Clock
from docflow.config.sections import RenditionsSettings
from docflow.documents.converters import ConversionError, ConverterPool
from docflow.documents.extract import Extraction, ExtractionError, extract
from docflow.documents.models import Document, FileRendition, Version, VersionFile
from docflow.documents.text_hooks import TextHook
from docflow.storage.blobs import BlobStore

log = logging.getLogger("docflow.renditions")

# the types LibreOffice renders (what the converter's worker accepts), by their MIME type
CONVERTIBLE = {
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": ".docx",
    "application/msword": ".doc",
    "application/vnd.oasis.opendocument.text": ".odt",
    "text/rtf": ".rtf",
}
WORD_97 = "application/msword"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
LEASE = timedelta(minutes=10)  # longer than any conversion's timeout and retries


def rendition_view(rendition: FileRendition | None, url: str) -> dict[str, Any] | None:
    """`rendition` of a file in the version JSON (SPEC): status, pages and where to get it."""
    if rendition is None:
        return None
    return {
        "status": rendition.status,
        "pages": rendition.pages,
        "url": url if rendition.status == "ok" else None,
        "error": rendition.error,
    }


def rendition_name(original: str) -> str:
    return f"{PurePath(original).stem}.pdf"


@dataclass
class Renditions:
    """Makes and records renditions; `sweep` is the scheduler's job."""

    settings: RenditionsSettings
    clock: Clock
    blobs: BlobStore
    pool: ConverterPool
    on_text: list[TextHook] = field(default_factory=list)

    async def sweep(self) -> int:
        """Queue what is new, then convert what is due; how many were converted."""
        await self._queue_new()
        done = 0
        while (row := await self._claim()) is not None:
            await self._convert(row)
            done += 1
        return done

    async def _queue_new(self) -> None:
        files = (
            await VersionFile.filter(mime__in=list(CONVERTIBLE))
            .exclude(id__in=Subquery(FileRendition.all().values("version_file_id")))
            .order_by("id")
            .values_list("id", flat=True)
        )
        for file_id in files:
            try:
                await FileRendition.create(
                    version_file_id=file_id, status="pending", next_attempt_at=self.clock.now()
                )
            except IntegrityError:
                pass  # another process queued it first

    async def _claim(self) -> FileRendition | None:
        now = self.clock.now()
        due = Q(status="pending") | Q(status="failed", attempts__lt=self.settings.max_attempts)
        free = Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)
        for row in (
            await FileRendition.filter(due, free, next_attempt_at__lte=now).order_by("id").limit(5)
        ):
            taken = (
                await FileRendition.filter(id=row.id).filter(free).update(claimed_until=now + LEASE)
            )
            if taken:
                return row
        return None

    async def _convert(self, row: FileRendition) -> None:
        f = await VersionFile.get(id=row.version_file_id)
        row.attempts += 1
        read_text = f.mime == WORD_97 and not f.text
        try:
            made = await self.pool.convert(
                await self.blobs.get(f.sha256), CONVERTIBLE[f.mime], docx=read_text
            )
        except ConversionError as e:
            row.status, row.error = "failed", str(e)[:500]
            row.next_attempt_at = self.clock.now() + timedelta(minutes=2**row.attempts)
            log.warning(
                "rendition failed",
                extra={"version_file": f.id, "attempt": row.attempts, "error": row.error},
            )
        else:
            row.status, row.error = "ok", None
            row.sha256, row.pages = await self.blobs.put(made.pdf), made.pages
            if made.docx is not None:
                row.claimed_until = None
                await self._save_text(row, f, made.docx)
                return
        row.claimed_until = None
        await row.save()

    async def _save_text(self, row: FileRendition, f: VersionFile, docx: bytes) -> None:
        """A Word 97 file's text, read from its DOCX, saved with the rendition's row."""
        try:
            found: Extraction | None = await asyncio.to_thread(extract, docx, DOCX)
        except ExtractionError as e:
            found = None
            log.warning("word 97 text unreadable", extra={"version_file": f.id, "error": str(e)})
        version = await Version.get(id=f.version_id)
        async with in_transaction() as conn:
            # issuing locks the document too: a record issued meanwhile is seen by the hooks
            await Document.filter(id=version.document_id).select_for_update().using_db(conn).get()
            await row.save(using_db=conn)
            if found is None or not found.text:
                return
            f.text, f.legacy_encoding, f.extract_error = (found.text, found.legacy_encoding, None)
            await f.save(update_fields=["text", "legacy_encoding", "extract_error"], using_db=conn)
            for hook in self.on_text:
                await hook(conn, f)
        log.info("word 97 text read", extra={"version_file": f.id, "chars": len(found.text)})
