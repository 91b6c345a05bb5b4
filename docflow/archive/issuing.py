"""Issuing: when sign-off completes, the document gets its number, record and distribution.

Plugged into `Stages.on_approved` (docflow.workflow.stages), so everything here runs inside the
transaction of the decision that completed sign-off: the number is allocated, the
archive record and its files written, the document marked `issued` and the
distribution mails queued together, or not at all. A workflow with a signing stage is
only queued here; `signed_issuing` issues it after the decision, with the same parts.
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import PurePath

from tortoise.backends.base.client import BaseDBAsyncClient

from docflow.archive import numbering
from docflow.archive.document import IndexEntry
from docflow.archive.models import IssueJob
from docflow.archive.records import ArchiveRecord, IssuedFile, signer_line
from docflow.archive.search import SearchIndex
from docflow.archive.stamp import StampError, stamp_pdf
from docflow.clock import Clock
from docflow.config import Register, Settings
from docflow.documents.journal import Journal
from docflow.documents.models import Document, Version, VersionFile
from docflow.notify.mails import MailComposer
from docflow.notify.message import Attachment, Recipient
from docflow.notify.threaded import ThreadedMailer
from docflow.storage.blobs import BlobStore
from docflow.users.models import User
from docflow.workflow.models import Task, TaskState
from docflow.workflow.stages import Stages

log = logging.getLogger("docflow.archive")
# a line of the author's mail naming the summary (trích yếu); else the title serves
SUMMARY_LINE = re.compile(
    r"^\s*(?:trích\s*yếu|summary)\s*[:：]\s*(?P<text>\S.*?)\s*$", re.IGNORECASE | re.MULTILINE
)
PDF = "application/pdf"


@dataclass(frozen=True)
class Signer:
    user: User
    capacity: str | None
    principal: User | None  # whom a delegate signed for

    def line(self) -> str:
        return signer_line(
            self.user.name, self.capacity, self.principal.name if self.principal else None
        )


def summary_of(body_text: str, title: str) -> str:
    found = SUMMARY_LINE.search(body_text or "")
    return found.group("text")[:2000] if found else title


class Issuer:
    """Issues approved documents: number, archive record, stamped copy, distribution."""

    def __init__(
        self,
        settings: Settings,
        clock: Clock,
        stages: Stages,
        journal: Journal,
        composer: MailComposer,
        mailer: ThreadedMailer,
        blobs: BlobStore,
        search: SearchIndex,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.stages = stages
        self.journal = journal
        self.composer = composer
        self.mailer = mailer
        self.blobs = blobs
        self.search = search

    async def issue(self, conn: BaseDBAsyncClient, doc: Document) -> ArchiveRecord | None:
        """The `on_approved` hook: a workflow that signs queues the document for the issuing
        job (signing takes seconds, and may fail); any other issues it now."""
        workflow = self.stages.workflow_of(doc)
        if workflow.signing_stage is not None:
            now = self.clock.now()
            await IssueJob.create(
                document_id=doc.id, created_at=now, next_attempt_at=now, using_db=conn
            )
            return None
        version = await self.final_version(conn, doc)
        signer = await self.signer(conn, doc, version.number)
        now = self.clock.now()
        local = now.astimezone(self.settings.org.timezone)
        register = self.settings.registers[workflow.register]
        seq = await numbering.allocate(conn, register.key, local.year)
        record = await self.record(conn, doc, version, signer, seq, now)
        files, stamp_problem = await self._files(conn, record, version, record.number, local)
        stamped = [f for f in files if f.role == "issued"]
        send = stamped + [f for f in files if f.role == "annex"]
        if not stamped:
            send = [f for f in files if f.role in ("main", "annex")]
        detail: dict[str, object] = {"stamp_problem": stamp_problem} if stamp_problem else {}
        await self.finish(conn, doc, record, files, send, signer, detail)
        return record

    async def final_version(self, conn: BaseDBAsyncClient, doc: Document) -> Version:
        version = await Version.filter(document=doc).using_db(conn).order_by("-number").first()
        assert version is not None, "an approved document has a version"
        return version

    async def record(
        self,
        conn: BaseDBAsyncClient,
        doc: Document,
        version: Version,
        signer: Signer,
        seq: int,
        now: datetime,
    ) -> ArchiveRecord:
        """The archive record of number `seq` (allocated in `conn`), issued at `now`."""
        workflow = self.stages.workflow_of(doc)
        register = self.settings.registers[workflow.register]
        local = now.astimezone(self.settings.org.timezone)
        return await ArchiveRecord.create(
            document=doc,
            register=register.key,
            year=local.year,
            seq=seq,
            number=self.number(doc, seq, local.year),
            type=workflow.type_code,
            workflow=workflow.key,
            title=doc.title,
            summary=summary_of(version.body_text, doc.title),
            version_number=version.number,
            author_email=doc.author.email,
            signer_email=signer.user.email,
            signer_name=signer.user.name,
            signer_capacity=signer.capacity,
            signed_for_email=signer.principal.email if signer.principal else None,
            signed_for_name=signer.principal.name if signer.principal else None,
            issued_at=now,
            issue_date=local.date(),
            retention=workflow.retention,
            confidential=register.confidential,
            using_db=conn,
        )

    def number(self, doc: Document, seq: int, year: int) -> str:
        """The official number `seq` of the document's register: `01/KH-BDT`."""
        workflow = self.stages.workflow_of(doc)
        register = self.settings.registers[workflow.register]
        return register.number(seq, self.settings.org.code, workflow.type_code, year)

    async def finish(
        self,
        conn: BaseDBAsyncClient,
        doc: Document,
        record: ArchiveRecord,
        files: list[IssuedFile],
        send: list[IssuedFile],
        signer: Signer,
        detail: dict[str, object],
    ) -> None:
        """`issued`: the status, the audit event, the mail carrying `send`, the search entry."""
        await self.stages.set_status(conn, doc, "issued", at=record.issued_at)
        await self.journal.record(
            conn,
            doc,
            signer.user.email,
            "issued",
            "system",
            record.version_number,
            None,
            {
                "number": record.number,
                "register": record.register,
                "record": record.id,
                "files": [{"name": f.name, "role": f.role, "sha256": f.sha256} for f in files],
                **detail,
            },
        )
        register = self.settings.registers[record.register]
        signed = detail.get("signed") is True
        await self._distribute(conn, doc, record, register, send, signer, signed)
        if not register.confidential:  # kept out of archivists' search
            await self.search.add(conn, await index_entry(conn, record))
        log.info("issued", extra={"code": doc.code, "number": record.number})

    async def text_changed(self, conn: BaseDBAsyncClient, f: VersionFile) -> None:
        """A file's text read after the version was stored (OCR): a record already issued
        from that version is indexed again with it (`documents.ocr.Ocr.on_text`; the
        document's row is locked, so a record being issued now is seen or sees the text)."""
        version = await Version.filter(id=f.version_id).using_db(conn).get()
        for record in await ArchiveRecord.filter(
            document_id=version.document_id, version_number=version.number, confidential=False
        ).using_db(conn):
            await self.search.add(conn, await index_entry(conn, record))

    async def signer(self, conn: BaseDBAsyncClient, doc: Document, version: int) -> Signer:
        """Who signs: the last approval of the signing stage (else of sign-off)."""
        stage = self.stages.workflow_of(doc).signer_stage
        task = (
            await Task.filter(
                document=doc,
                version_number=version,
                stage_index=stage,
                state=TaskState.APPROVED,
            )
            .using_db(conn)
            .order_by("-decided_at", "-id")
            .select_related("assignee")
            .first()
        )
        if task is None:  # approved without a sign-off decision (not reachable by links)
            return Signer(doc.author, None, None)
        principal = None
        if task.on_behalf_of_id is not None:
            principal = await User.get(id=task.on_behalf_of_id, using_db=conn)
        return Signer(task.assignee, task.capacity, principal)

    async def _files(
        self,
        conn: BaseDBAsyncClient,
        record: ArchiveRecord,
        version: Version,
        number: str,
        local: datetime,
    ) -> tuple[list[IssuedFile], str | None]:
        """The final version's files, and a stamped copy of the main file if it is a PDF."""
        originals = await VersionFile.filter(version=version).using_db(conn).order_by("position")
        rows = original_files(record, originals)
        problem = None
        main = originals[0] if originals else None
        if main is not None and main.mime == PDF:
            try:
                stamped = await asyncio.to_thread(
                    stamp_pdf,
                    await self.blobs.get(main.sha256),
                    [f"Số: {number}", f"Ngày ban hành: {local:%d/%m/%Y}"],
                )
            except StampError as e:
                problem = str(e)
                log.warning("issued copy not stamped", extra={"number": number, "error": problem})
            else:
                stem = PurePath(main.name).stem
                rows.append(
                    IssuedFile(
                        record=record,
                        position=len(originals),
                        role="issued",
                        name=f"{stem} ({number.replace('/', '-')}).pdf",
                        mime=PDF,
                        size=len(stamped),
                        sha256=await self.blobs.put(stamped),
                    )
                )
        for row in rows:
            await row.save(using_db=conn)
        return rows, problem

    async def _distribute(
        self,
        conn: BaseDBAsyncClient,
        doc: Document,
        record: ArchiveRecord,
        register: Register,
        send: list[IssuedFile],
        signer: Signer,
        signed: bool,
    ) -> None:
        """The issued files, to the workflow's recipients and the author. Confidential
        registers go to the author only."""
        attachments = [Attachment(f.name, f.mime, await self.blobs.get(f.sha256)) for f in send]
        recipients = [doc.author.email]
        if not register.confidential:
            recipients += list(self.stages.workflow_of(doc).distribute_to)
        users = {u.email: u for u in await User.filter(email__in=recipients).using_db(conn)}
        ref = await self.mailer.ref(conn, doc)
        local = record.issued_at.astimezone(self.settings.org.timezone)
        for address in dict.fromkeys(recipients):
            user = users.get(address)
            to = (
                Recipient.of(user)
                if user
                else Recipient(address, "", self.settings.org.default_language)
            )
            msg = self.composer.issued(
                to,
                ref,
                number=record.number,
                summary=record.summary,
                issue_date=f"{local:%d/%m/%Y}",
                signer=signer.line(),
                files=attachments,
                signed=signed,
            )
            await self.mailer.send(conn, doc, msg, "issued")


def original_files(record: ArchiveRecord, originals: list[VersionFile]) -> list[IssuedFile]:
    """The final version's files as received, kept with the record beside what was issued."""
    return [
        IssuedFile(
            record=record,
            position=f.position,
            role=f.role,
            name=f.name,
            mime=f.mime,
            size=f.size,
            sha256=f.sha256,
        )
        for f in originals
    ]


async def index_entry(conn: BaseDBAsyncClient | None, record: ArchiveRecord) -> IndexEntry:
    """What search keeps of a record: its metadata and the text of every file issued."""
    return (await index_entries(conn, [record]))[0]


async def index_entries(
    conn: BaseDBAsyncClient | None, records: list[ArchiveRecord]
) -> list[IndexEntry]:
    """`index_entry` of each record, in two queries for all of them (a reindex reads the
    archive a batch at a time)."""
    wanted = {(r.document_id, r.version_number) for r in records}
    versions = await Version.filter(
        document_id__in=sorted({d for d, _ in wanted}),
        number__in=sorted({n for _, n in wanted}),
    ).using_db(conn)
    version_of = {key: v.id for v in versions if (key := (v.document_id, v.number)) in wanted}
    texts: dict[int, list[str]] = {}
    for f in (
        await VersionFile.filter(version_id__in=list(version_of.values()), text__not_isnull=True)
        .using_db(conn)
        .order_by("version_id", "position")
        .values("version_id", "text")
    ):
        if f["text"]:
            texts.setdefault(int(f["version_id"]), []).append(str(f["text"]))
    return [
        IndexEntry(
            record_id=r.id,
            number=r.number,
            type=r.type,
            register=r.register,
            signer=r.signer_line,
            issued_on=r.issue_date,
            title=r.title,
            summary=r.summary,
            body="\n\n".join(texts.get(version_of[(r.document_id, r.version_number)], [])),
        )
        for r in records
    ]
