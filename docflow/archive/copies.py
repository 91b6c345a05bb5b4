"""Electronic copies of issued documents (Decree 30/2020, Art. 25-27): SAO Y, SAO LỤC,
TRÍCH SAO, signed by the organisation at the top right of page 1.

The copy is the issued PDF with one more signature, in a field of its own ("Copy"): the
original's signatures stay valid inside it. It is kept with the record as a file of
role `copy` (records are never changed; a file is added) and audited.
"""

from __future__ import annotations

import asyncio
import unicodedata
from datetime import datetime
from pathlib import PurePath

from tortoise.transactions import in_transaction

from docflow.archive.keyring import KeyRing
from docflow.archive.records import IssuedFile
from docflow.archive.service import ArchiveService
from docflow.clock import Clock
from docflow.config import Settings
from docflow.documents.journal import Journal
from docflow.errors import DocflowError
from docflow.storage.blobs import BlobStore

FORMS = ("SAO Y", "SAO LỤC", "TRÍCH SAO")
PDF = "application/pdf"


def copy_form(text: str) -> str:
    """One of FORMS, however it was typed (`sao y`, decomposed diacritics)."""
    wanted = " ".join(unicodedata.normalize("NFC", text).upper().split())
    if wanted not in FORMS:
        raise DocflowError(f"the form of copy is one of {', '.join(FORMS)}, not {text!r}")
    return wanted


class Copies:
    """Makes and keeps electronic copies of archive records."""

    def __init__(
        self,
        settings: Settings,
        clock: Clock,
        archive: ArchiveService,
        blobs: BlobStore,
        journal: Journal,
        keyring: KeyRing,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.archive = archive
        self.blobs = blobs
        self.journal = journal
        self.keyring = keyring

    async def make(self, key: str | int, form: str, by: str, source: str) -> IssuedFile:
        """A signed copy of the record's issued PDF; SigningError when it cannot be signed."""
        form = copy_form(form)
        record = await self.archive.find(key)
        files = await IssuedFile.filter(record=record).order_by("position")
        issued = [f for f in files if f.role == "issued"] or [
            f for f in files if f.role == "main" and f.mime == PDF
        ]
        if not issued:
            raise DocflowError(f"record {record.id} has no issued PDF to copy")
        original = issued[0]
        now = self.clock.now()
        data = await asyncio.to_thread(
            self._sign, await self.blobs.get(original.sha256), form, record.number, now
        )
        copy = IssuedFile(
            record=record,
            position=max(f.position for f in files) + 1,
            role="copy",
            name=f"{PurePath(original.name).stem} - {form}.pdf",
            mime=PDF,
            size=len(data),
            sha256=await self.blobs.put(data),
        )
        async with in_transaction() as conn:
            await copy.save(using_db=conn)
            await self.journal.record(
                conn,
                record.document,
                by,
                "copy_made",
                source,
                record.version_number,
                None,
                {
                    "record": record.id,
                    "number": record.number,
                    "form": form,
                    "file": copy.name,
                    "sha256": copy.sha256,
                },
            )
        return copy

    def _sign(self, pdf: bytes, form: str, number: str, now: datetime) -> bytes:
        from docflow.archive.signing import (  # pyHanko: loaded when something is signed
            SignerSpec,
            opened_signer,
            sign_org_only,
            vietnam_time,
        )
        from docflow.archive.signing.pdfsign import COPY_FIELD

        org = self.keyring.organisation()
        name = self.settings.org.name
        lines = [form, f"Bản sao của văn bản số {number}", name, vietnam_time(now)]
        with opened_signer(org.source, now) as signer:
            return sign_org_only(
                pdf,
                SignerSpec(signer, None, name),
                lines,
                now,
                self.settings.signing.tsa_url or None,
                field=COPY_FIELD,
            )
