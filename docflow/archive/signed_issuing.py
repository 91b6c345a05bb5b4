"""The issuing job of signing workflows: approved → number, signed PDF, `issued`.

Rendering and two signatures take seconds and can fail (an expired certificate, a
missing token, LibreOffice), so they run after the decision commits, never inside a
transaction. The number written into the PDF is predicted (the register's last + 1),
the PDF made and signed, then one short transaction allocates the number for real: if
someone else took it meanwhile, everything is rolled back and made again with the next
prediction. So a number is only ever taken together with its record and its signed
file: no gap, no duplicate, and a failure in the middle takes nothing.

A job is claimed with a lease, so one process at a time works on a document. A failure
keeps the document `approved`, records the reason, tells the signer and the admins (once
per reason) and is retried with back-off; `docflow archive issue CODE` retries at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from datetime import datetime, timedelta
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from docflow.archive import numbering
from docflow.archive.issued_pdf import IssuedPdfMaker, IssuedPdfs, Signatory, Source
from docflow.archive.issuing import PDF, Issuer, Signer, original_files
from docflow.archive.models import IssueJob
from docflow.archive.records import ArchiveRecord, IssuedFile
from docflow.clock import Clock
from docflow.config import Settings
from docflow.documents.journal import Journal
from docflow.documents.models import Document, Version, VersionFile
from docflow.errors import DocflowError, NotFoundError, SigningError
from docflow.notify.outbox import Outbox
from docflow.storage.blobs import BlobStore
from docflow.workflow.notices import Notices

log = logging.getLogger("docflow.archive")
LEASE = timedelta(minutes=5)  # far longer than rendering and signing a long document
MAX_DELAY = timedelta(hours=1)
# each round lost means another document took the number: progress, not a failure; after
# this many in a row the claim is handed back for a later sweep rather than held
RENUMBER_ROUNDS = 20


class _Renumbered(Exception):
    """The predicted number was taken meanwhile: roll back and make the PDF again."""


class _Gone(Exception):
    """The document is no longer approved (withdrawn by an admin, issued elsewhere)."""


class SignedIssuing:
    """Claims queued documents and issues them signed; `sweep` is the scheduler's job."""

    def __init__(
        self,
        settings: Settings,
        clock: Clock,
        issuer: Issuer,
        maker: IssuedPdfMaker,
        blobs: BlobStore,
        journal: Journal,
        notices: Notices,
        outbox: Outbox,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.issuer = issuer
        self.maker = maker
        self.blobs = blobs
        self.journal = journal
        self.notices = notices
        self.outbox = outbox
        self._sweeping = asyncio.Lock()
        self._runner: Callable[[], Coroutine[Any, Any, None]] | None = None  # serve's guarded sweep
        self._poked: asyncio.Task[None] | None = None
        self._holding: int | None = None  # the job this process is issuing

    def serve_with(self, runner: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """In serve, a poke runs `runner` (the sweep, with its errors handled) at once; a CLI
        process leaves queued documents to serve's next sweep."""
        self._runner = runner

    def poke(self) -> None:
        """A decision just approved something: sweep now rather than at the next tick."""
        if self._runner is not None and (self._poked is None or self._poked.done()):
            self._poked = asyncio.get_running_loop().create_task(self._runner())

    async def stop(self) -> None:
        """At shutdown: stop the sweep in progress and hand its job back at once (else it
        would wait for its lease to run out)."""
        self._runner = None
        if self._poked is not None and not self._poked.done():
            self._poked.cancel()
            await asyncio.gather(self._poked, return_exceptions=True)
        if self._holding is not None:
            await IssueJob.filter(id=self._holding).update(claimed_until=None)

    async def sweep(self) -> int:
        """Issue every queued document that is due; how many were issued."""
        if self._sweeping.locked():
            return 0
        async with self._sweeping:
            issued = 0
            while (job := await self._claim()) is not None:
                if await self._attempt(job) is not None:
                    issued += 1
            return issued

    async def issue_now(self, code: str) -> ArchiveRecord:
        """`docflow archive issue CODE`: try at once, whatever the back-off says."""
        doc = await Document.get_or_none(code=code.strip().upper())
        if doc is None:
            raise NotFoundError(f"no document {code}")
        if doc.status == "issued":
            record = await ArchiveRecord.get(document_id=doc.id)
            raise DocflowError(f"{doc.code} is already issued as {record.number}")
        if doc.status != "approved":
            raise DocflowError(f"{doc.code} is {doc.status}; only an approved document is issued")
        now = self.clock.now()
        job = await IssueJob.get_or_none(document_id=doc.id)
        if job is None:  # approved before its workflow signed: queue it now
            job = await IssueJob.create(document_id=doc.id, created_at=now, next_attempt_at=now)
        if not await IssueJob.filter(_free(now), id=job.id).update(claimed_until=now + LEASE):
            raise DocflowError(f"{doc.code} is being issued by another process right now")
        await job.refresh_from_db()
        issued = await self._attempt(job)
        if issued is None:
            await job.refresh_from_db()
            raise SigningError(job.error or f"{doc.code} was not issued")
        return issued

    async def _claim(self) -> IssueJob | None:
        now = self.clock.now()
        due = IssueJob.filter(_free(now), next_attempt_at__lte=now)
        for job in await due.order_by("id").limit(5):
            if await IssueJob.filter(_free(now), id=job.id).update(claimed_until=now + LEASE):
                return job
        return None

    async def _attempt(self, job: IssueJob) -> ArchiveRecord | None:
        """One try at a claimed job; a SigningError is recorded, anything else propagates
        (the lease runs out and the job is tried again)."""
        self._holding = job.id
        try:
            return await self._issue(job)
        except _Gone:
            await IssueJob.filter(id=job.id).delete()
            return None
        except _Renumbered:
            await IssueJob.filter(id=job.id).update(claimed_until=None)
            return None
        except SigningError as e:
            await self._failed(job, e.reason)
            return None
        finally:
            self._holding = None

    async def _issue(self, job: IssueJob) -> ArchiveRecord:
        doc = await Document.get_or_none(id=job.document_id).select_related("author")
        if doc is None or doc.status != "approved":
            raise _Gone()
        register = self.issuer.stages.workflow_of(doc).register
        async with in_transaction() as conn:
            version = await self.issuer.final_version(conn, doc)
            signer = await self.issuer.signer(conn, doc, version.number)
            originals = (
                await VersionFile.filter(version=version).using_db(conn).order_by("position")
            )
        if not originals:
            raise SigningError(f"version {version.number} of {doc.code} has no file to issue")
        sources = [Source(f.name, f.mime, await self.blobs.get(f.sha256)) for f in originals]
        for _ in range(RENUMBER_ROUNDS):
            now = self.clock.now()
            local = now.astimezone(self.settings.org.timezone)
            predicted = await numbering.peek(register, local.year)
            made = await self.maker.make(
                sources[0],
                sources[1:],
                self.issuer.number(doc, predicted, local.year),
                local.date(),
                _signatory(signer),
                self.settings.org.name,
                now,
            )
            try:
                record = await self._commit(
                    job, doc, version, originals, signer, register, predicted, now, made
                )
            except _Renumbered:
                continue
            self.outbox.poke()
            return record
        raise _Renumbered()  # not a failure: others were issued meanwhile; try again soon

    async def _commit(
        self,
        job: IssueJob,
        doc: Document,
        version: Version,
        originals: list[VersionFile],
        signer: Signer,
        register: str,
        predicted: int,
        now: datetime,
        made: IssuedPdfs,
    ) -> ArchiveRecord:
        """Number, record, files, `issued` and the mail, in one short transaction."""
        stored = [(made.main_name, await self.blobs.put(made.main), len(made.main))]
        for name, data in made.annexes:
            stored.append((name, await self.blobs.put(data), len(data)))
        local = now.astimezone(self.settings.org.timezone)
        async with in_transaction() as conn:
            locked = await Document.filter(id=doc.id).select_for_update().using_db(conn).get()
            if locked.status != "approved":
                raise _Gone()
            seq = await numbering.allocate(conn, register, local.year)
            if seq != predicted:
                raise _Renumbered()  # rolls the allocation back with everything else
            record = await self.issuer.record(conn, doc, version, signer, seq, now)
            files = original_files(record, originals)
            for i, (name, sha, size) in enumerate(stored):
                role = "issued" if i == 0 else "annex-pdf"
                files.append(
                    IssuedFile(
                        record=record,
                        position=len(files),
                        role=role,
                        name=name,
                        mime=PDF,
                        size=size,
                        sha256=sha,
                    )
                )
            for f in files:
                await f.save(using_db=conn)
            unsigned = set(made.unsigned)
            send = [f for f in files if f.role in ("issued", "annex-pdf")]
            send += [f for f in files if f.role == "annex" and f.name in unsigned]
            detail: dict[str, object] = {"signed": True, "number_written_in": made.written_in}
            if unsigned:
                detail["unsigned_annexes"] = sorted(unsigned)
            await self.issuer.finish(conn, doc, record, files, send, signer, detail)
            await IssueJob.filter(id=job.id).using_db(conn).delete()
        return record

    async def _failed(self, job: IssueJob, reason: str) -> None:
        """Recorded, audited, told (once per reason), tried again later."""
        attempts = job.attempts + 1
        delay = min(timedelta(minutes=2 ** min(attempts - 1, 10)), MAX_DELAY)
        log.warning(
            "issuing failed",
            extra={"document": job.document_id, "attempt": attempts, "reason": reason},
        )
        async with in_transaction() as conn:
            doc = (
                await Document.filter(id=job.document_id)
                .using_db(conn)
                .select_related("author")
                .get()
            )
            version = await self.issuer.final_version(conn, doc)
            await self.journal.record(
                conn,
                doc,
                "docflow",
                "issue_failed",
                "system",
                version.number,
                None,
                {"reason": reason, "attempt": attempts},
            )
            told = job.told
            if reason != told:
                await self._tell(conn, doc, version.number, reason)
                told = reason
            await (
                IssueJob.filter(id=job.id)
                .using_db(conn)
                .update(
                    attempts=attempts,
                    error=reason[:1000],
                    told=told[:1000] if told else None,
                    next_attempt_at=self.clock.now() + delay,
                    claimed_until=None,
                )
            )
        self.outbox.poke()

    async def _tell(
        self, conn: BaseDBAsyncClient, doc: Document, version: int, reason: str
    ) -> None:
        """The signer (who can fix a key or a passphrase) and the admins (who can fix the rest)."""
        signer = await self.issuer.signer(conn, doc, version)
        await self.notices.to_user(
            conn, doc, signer.user, version, "issue_failed", reason=reason, code=doc.code
        )
        await self.notices.admins(
            conn,
            doc,
            version,
            "issue_failed",
            reason=reason,
            code=doc.code,
            skip=signer.user.email,
        )


def _free(now: datetime) -> Q:
    """Jobs no process holds: never claimed, or their lease ran out (its holder died)."""
    return Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)


def _signatory(signer: Signer) -> Signatory:
    principal = signer.principal.name if signer.principal else None
    caption = f"{signer.capacity}. {principal}" if signer.capacity and principal else None
    return Signatory(signer.user.email, signer.user.name, principal, caption)
