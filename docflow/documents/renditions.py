"""PDF renditions of stored versions: found, claimed, converted and recorded in the background.

A sweep (the scheduler's, every `renditions.sweep_seconds`) finds version files of a
word-processing type without a rendition row, gives each a `pending` row, then claims
due rows one at a time (a lease, so that several serve processes on one database never
convert a file twice) and converts them with the warm pool. A failure is recorded with
its reason and retried with back-off up to `max_attempts`; it never blocks review,
which goes on with the original file.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import PurePath
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q, Subquery

from docflow.clock import Clock
from docflow.config.sections import RenditionsSettings
from docflow.documents.converters import ConversionError, ConverterPool
from docflow.documents.models import FileRendition, VersionFile
from docflow.storage.blobs import BlobStore

log = logging.getLogger("docflow.renditions")

# the types LibreOffice renders (what the converter's worker accepts), by their MIME type
CONVERTIBLE = {
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": ".docx",
    "application/msword": ".doc",
    "application/vnd.oasis.opendocument.text": ".odt",
    "text/rtf": ".rtf",
}
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


class Renditions:
    """Makes and records renditions; `sweep` is the scheduler's job."""

    def __init__(
        self, settings: RenditionsSettings, clock: Clock, blobs: BlobStore, pool: ConverterPool
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.blobs = blobs
        self.pool = pool

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
        try:
            made = await self.pool.convert(await self.blobs.get(f.sha256), CONVERTIBLE[f.mime])
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
        row.claimed_until = None
        await row.save()
