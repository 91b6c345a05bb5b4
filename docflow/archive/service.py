"""Reading the archive: records, register books, and the one thing admins may change.

Records are never updated. The legal hold is a history of LegalHold rows beside the
record (the latest is in force), each change also an audit event of the document.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from docflow.archive import numbering
from docflow.archive.document import IndexEntry
from docflow.archive.issuing import index_entries
from docflow.archive.records import ArchiveRecord, IssuedFile, LegalHold
from docflow.archive.search import REINDEX_BATCH
from docflow.clock import Clock
from docflow.config import Settings
from docflow.documents.journal import Journal
from docflow.errors import NotFoundError
from docflow.workflow.definitions import WorkflowCatalog


class ArchiveService:
    """Archive records as plain values, register books, legal holds."""

    def __init__(
        self, settings: Settings, clock: Clock, journal: Journal, workflows: WorkflowCatalog
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.journal = journal
        self.workflows = workflows

    async def find(self, key: str | int) -> ArchiveRecord:
        """A record by id, by official number (`47/KH-BDT`, this year's first) or by code."""
        text = str(key).strip()
        query = ArchiveRecord.all().select_related("document")
        if text.isdigit():
            record = await query.filter(id=int(text)).first()
        elif text.upper().startswith("DF-"):
            record = await query.filter(document__code=text.upper()).first()
        else:
            record = await query.filter(number=text).order_by("-year").first()
        if record is None:
            raise NotFoundError(f"no archive record {text}")
        return record

    async def issue_of(self, document_id: int) -> dict[str, Any]:
        """What a document's JSON says of its issuing (SPEC): number, time and record, or
        nulls before it is issued."""
        record = await ArchiveRecord.get_or_none(document_id=document_id)
        if record is None:
            return {"number": None, "issued_at": None, "record": None}
        return {
            "number": record.number,
            "issued_at": record.issued_at.isoformat(),
            "record": record.id,
        }

    async def view(self, key: str | int) -> dict[str, Any]:
        record = await self.find(key)
        files = await IssuedFile.filter(record=record).order_by("position")
        holds = await LegalHold.filter(record=record).order_by("id")
        return {
            **record_summary(record),
            "workflow": record.workflow,
            "version": record.version_number,
            "author": record.author_email,
            "signer": {
                "email": record.signer_email,
                "name": record.signer_name,
                "capacity": record.signer_capacity,
                "for": record.signed_for_email,
                "for_name": record.signed_for_name,
            },
            "issued_at": record.issued_at.isoformat(),
            "retention": record.retention,
            "confidential": record.confidential,
            "legal_hold": bool(holds and holds[-1].held),  # the latest change is in force
            "legal_hold_history": [
                {"held": h.held, "by": h.by, "reason": h.reason, "at": h.at.isoformat()}
                for h in holds
            ],
            "files": [
                {
                    "position": f.position,
                    "name": f.name,
                    "role": f.role,
                    "mime": f.mime,
                    "size": f.size,
                    "sha256": f.sha256,
                }
                for f in files
            ],
        }

    async def file(self, key: str | int, position: int) -> IssuedFile:
        record = await self.find(key)
        f = await IssuedFile.filter(record=record, position=position).first()
        if f is None:
            raise NotFoundError(f"record {record.id} has no file {position}")
        return f

    async def registers(self) -> list[dict[str, Any]]:
        """Each register with the last number given in each year."""
        async with in_transaction() as conn:
            last = await numbering.last_numbers(conn)
        types = {w.register: w.type_code for w in self.workflows.by_key.values()}
        return [
            {
                "key": r.key,
                "format": r.format,
                "unit": r.unit,
                "confidential": r.confidential,
                "example": r.number(1, self.settings.org.code, types.get(r.key, ""), 2026),
                "years": {str(y): n for (k, y), n in sorted(last.items()) if k == r.key},
            }
            for r in self.settings.registers.values()
        ]

    async def book(self, register: str, year: int | None = None) -> list[dict[str, Any]]:
        """The register book (sổ đăng ký): every number given, in order."""
        if register not in self.settings.registers:
            known = ", ".join(sorted(self.settings.registers))
            raise NotFoundError(f"no register {register!r} (registers: {known})")
        query = ArchiveRecord.filter(register=register).select_related("document")
        if year is not None:
            query = query.filter(year=year)
        return [record_summary(r) for r in await query.order_by("year", "seq")]

    def _indexable(self) -> QuerySet[ArchiveRecord]:
        secret = [k for k, r in self.settings.registers.items() if r.confidential]
        return ArchiveRecord.exclude(register__in=secret)

    async def indexable_count(self) -> int:
        return await self._indexable().count()

    async def index_entries(
        self, conn: BaseDBAsyncClient, batch: int = REINDEX_BATCH
    ) -> AsyncIterator[IndexEntry]:
        """What the search index should hold: every record outside confidential registers,
        read through `conn` (the rebuild's transaction) a batch at a time, so that a
        large archive is never in memory at once."""
        last = 0
        while (
            records := await self._indexable()
            .filter(id__gt=last)
            .order_by("id")
            .limit(batch)
            .using_db(conn)
        ):
            last = records[-1].id
            for entry in await index_entries(conn, records):
                yield entry

    async def set_hold(self, key: str | int, held: bool, by: str, reason: str, source: str) -> bool:
        """Puts a record on legal hold or lifts it; audited. Returns the hold now in force."""
        record = await self.find(key)
        async with in_transaction() as conn:
            await LegalHold.create(
                record=record,
                held=held,
                by=by,
                reason=reason,
                at=self.clock.now(),
                using_db=conn,
            )
            await self.journal.record(
                conn,
                record.document,
                by,
                "legal_hold_on" if held else "legal_hold_off",
                source,
                record.version_number,
                None,
                {"record": record.id, "number": record.number, "reason": reason},
            )
        return held


def record_summary(r: ArchiveRecord) -> dict[str, Any]:
    """One line of a register book, or of a list of records."""
    issue_date: date = r.issue_date
    return {
        "id": r.id,
        "code": r.document.code,
        "number": r.number,
        "register": r.register,
        "year": r.year,
        "seq": r.seq,
        "type": r.type,
        "issue_date": issue_date.isoformat(),
        "title": r.title,
        "summary": r.summary,
        "signer": r.signer_line,
    }
