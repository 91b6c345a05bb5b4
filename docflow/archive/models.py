"""The archive's working tables: search entries, and issuings waiting for their signatures."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class SearchEntry(Model):
    """An issued document as search sees it (the engine index lives beside it)."""

    id = fields.IntField(primary_key=True)
    record_id = fields.IntField(unique=True)  # the archive record (no foreign key yet)
    # issue date and record id in one number: newest first is `ORDER BY sort_key DESC`,
    # and on SQLite it is the FTS5 rowid, so that order costs nothing there
    sort_key = fields.BigIntField(unique=True)
    number = fields.CharField(max_length=100, db_index=True)
    type = fields.CharField(max_length=20, db_index=True)
    register = fields.CharField(max_length=20, db_index=True)
    signer = fields.CharField(max_length=200)
    signer_key = fields.CharField(max_length=200, db_index=True)  # folded, for the filter
    issued_on = fields.DateField()
    year = fields.IntField()
    title = fields.TextField()
    summary = fields.TextField(default="")
    body = fields.TextField(default="")

    class Meta:
        table = "search_entries"


class IssueJob(Model):
    """A document approved in a signing workflow, to be issued by the issuing job (a row
    of its own, so a failed attempt keeps its reason and its next try)."""

    id = fields.IntField(primary_key=True)
    document_id = fields.IntField(unique=True)
    created_at = fields.DatetimeField()
    attempts = fields.IntField(default=0)
    next_attempt_at = fields.DatetimeField()
    claimed_until = fields.DatetimeField(null=True)  # a process is issuing it until then
    error = fields.CharField(max_length=1000, null=True)  # why the last attempt failed
    told = fields.CharField(max_length=1000, null=True)  # the reason last mailed (once each)

    class Meta:
        table = "issue_jobs"
