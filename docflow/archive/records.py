"""The archive's tables: register counters, issued records and their files, legal holds.

An archive record and its files are written once, when the document is issued, and
never changed: the code has no update path, and triggers (migration 0007) make the
database refuse UPDATE and DELETE on them. The legal hold, which admins may change,
lives beside the record as a history of LegalHold rows.
"""

from __future__ import annotations

from typing import Any

from tortoise import fields
from tortoise.models import Model

from docflow.documents.models import Document


class RegisterCounter(Model):
    """The last number given in one register in one calendar year.

    Allocation increments it with an upsert that locks the row until the issuing
    transaction ends, so concurrent issuings queue and none reads a stale value.
    """

    id = fields.IntField(primary_key=True)
    register = fields.CharField(max_length=50)
    year = fields.IntField()
    last_seq = fields.IntField(default=0)

    class Meta:
        table = "register_counters"
        unique_together = (("register", "year"),)


class WrittenOnce(Model):
    """A model whose rows are saved once: saving a row already stored raises."""

    async def save(self, *args: Any, **kwargs: Any) -> None:
        if self._saved_in_db:
            raise ImmutableRecordError(f"{self._meta.db_table} rows are never changed")
        await super().save(*args, **kwargs)

    async def delete(self, *args: Any, **kwargs: Any) -> None:
        raise ImmutableRecordError(f"{self._meta.db_table} rows are never deleted")

    class Meta:
        abstract = True


class ImmutableRecordError(Exception):
    """An attempt to change or delete an archive record or issued file."""


def signer_line(name: str, capacity: str | None, for_name: str | None) -> str:
    """As printed under the signature: "KT. Trần Đức Minh — Phạm Văn Khoa"."""
    if capacity and for_name:
        return f"{capacity}. {for_name} — {name}"
    return name


class ArchiveRecord(WrittenOnce):
    """An issued document: its official number, date, signer and summary (trích yếu)."""

    id = fields.IntField(primary_key=True)
    document: fields.OneToOneRelation[Document] = fields.OneToOneField(
        "docflow.Document", related_name="archive_record", on_delete=fields.RESTRICT
    )
    document_id: int  # the FK column Tortoise sets (for the type checker; not a field)
    register = fields.CharField(max_length=50)
    year = fields.IntField()
    seq = fields.IntField()
    number = fields.CharField(max_length=100)  # as printed after "Số:", e.g. 47/KH-BDT
    type = fields.CharField(max_length=20)
    workflow = fields.CharField(max_length=100)
    title = fields.CharField(max_length=1000)
    summary = fields.TextField()
    version_number = fields.IntField()
    author_email = fields.CharField(max_length=320)
    signer_email = fields.CharField(max_length=320)
    signer_name = fields.CharField(max_length=200)
    signer_capacity = fields.CharField(max_length=3, null=True)  # KT | TUQ | TL
    signed_for_email = fields.CharField(max_length=320, null=True)
    signed_for_name = fields.CharField(max_length=200, null=True)
    issued_at = fields.DatetimeField()
    issue_date = fields.DateField()  # in the office time zone, as printed
    retention = fields.CharField(max_length=20)
    confidential = fields.BooleanField(default=False)

    @property
    def signer_line(self) -> str:
        return signer_line(self.signer_name, self.signer_capacity, self.signed_for_name)

    class Meta:
        table = "archive_records"
        unique_together = (("register", "year", "seq"),)


class IssuedFile(WrittenOnce):
    """A file of an issued record: the final version's files, and the stamped copy."""

    id = fields.IntField(primary_key=True)
    record: fields.ForeignKeyRelation[ArchiveRecord] = fields.ForeignKeyField(
        "docflow.ArchiveRecord", related_name="files", on_delete=fields.RESTRICT
    )
    record_id: int
    position = fields.IntField()
    role = fields.CharField(max_length=10)  # main | annex | issued (the stamped copy)
    name = fields.CharField(max_length=500)
    mime = fields.CharField(max_length=200)
    size = fields.BigIntField()
    sha256 = fields.CharField(max_length=64)

    class Meta:
        table = "issued_files"
        unique_together = (("record", "position"),)


class LegalHold(Model):
    """One change of a record legal hold, by an admin. The latest row is in force."""

    id = fields.IntField(primary_key=True)
    record: fields.ForeignKeyRelation[ArchiveRecord] = fields.ForeignKeyField(
        "docflow.ArchiveRecord", related_name="holds", on_delete=fields.RESTRICT
    )
    record_id: int
    held = fields.BooleanField()
    by = fields.CharField(max_length=320)
    reason = fields.TextField(default="")
    at = fields.DatetimeField()

    class Meta:
        table = "legal_holds"
