"""Documents, their immutable versions and files, the mail threads they belong to, and
their audit trail."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class CodeCounter(Model):
    """Last tracking-code number handed out in a year (locked by an UPDATE while allocating)."""

    year = fields.IntField(primary_key=True, generated=False)
    last_number = fields.IntField(default=0)

    class Meta:
        table = "code_counters"


class Document(Model):
    """A piece of work tracked by code `DF-YYYY-NNNNNN`, authored by one person."""

    id = fields.IntField(primary_key=True)
    code = fields.CharField(max_length=20, unique=True)
    title = fields.CharField(max_length=1000)
    author: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "docflow.User", related_name="documents", on_delete=fields.RESTRICT
    )
    author_id: int  # the FK column Tortoise sets (for the type checker; not a field)
    workflow = fields.CharField(max_length=100)
    status = fields.CharField(max_length=30, default="received")
    stage_index = fields.IntField(null=True)  # the stage under way (0-based), None outside review
    created_at = fields.DatetimeField()
    updated_at = fields.DatetimeField()

    class Meta:
        table = "documents"


class Version(Model):
    """One draft as it arrived: never changed after it is written."""

    id = fields.IntField(primary_key=True)
    document: fields.ForeignKeyRelation[Document] = fields.ForeignKeyField(
        "docflow.Document", related_name="versions", on_delete=fields.RESTRICT
    )
    document_id: int
    number = fields.IntField()
    created_at = fields.DatetimeField()
    message_id = fields.CharField(max_length=998, default="")
    # sha256 of "sender\nMessage-ID": the same message from the same sender is one version
    source_key = fields.CharField(max_length=64, unique=True)
    inbound_id = fields.IntField(null=True)
    subject = fields.CharField(max_length=1000, default="")
    body_text = fields.TextField(default="")

    class Meta:
        table = "versions"
        unique_together = (("document", "number"),)


class VersionFile(Model):
    """A file of a version: the main draft is position 0, annexes follow."""

    id = fields.IntField(primary_key=True)
    version: fields.ForeignKeyRelation[Version] = fields.ForeignKeyField(
        "docflow.Version", related_name="files", on_delete=fields.RESTRICT
    )
    version_id: int
    position = fields.IntField()
    name = fields.CharField(max_length=500)
    role = fields.CharField(max_length=10)
    mime = fields.CharField(max_length=200)
    size = fields.BigIntField()
    sha256 = fields.CharField(max_length=64, db_index=True)
    text = fields.TextField(null=True)
    extract_error = fields.CharField(max_length=500, null=True)
    # "tcvn3", "vni" (or both, "tcvn3,vni"): `text` was typed in an old Vietnamese font and
    # converted to Unicode (documents/legacy.py); None: no text in such a font
    legacy_encoding = fields.CharField(max_length=20, null=True)
    # "ocr": `text` was read from the file's images by OCR (a scan, a photo), wholly or for
    # the pages without a text layer; None: extracted from the file as it is
    text_source = fields.CharField(max_length=10, null=True)

    class Meta:
        table = "version_files"
        unique_together = (("version", "position"),)


class ThreadMessage(Model):
    """A Message-ID that belongs to the thread of a document (received or sent by docflow)."""

    id = fields.IntField(primary_key=True)
    document: fields.ForeignKeyRelation[Document] = fields.ForeignKeyField(
        "docflow.Document", related_name="thread", on_delete=fields.RESTRICT
    )
    document_id: int
    message_id = fields.CharField(max_length=255, db_index=True)
    direction = fields.CharField(max_length=3)  # "in" | "out"

    class Meta:
        table = "thread_messages"


from docflow.users.models import User  # noqa: E402  (for the type annotations above)


class AuditEvent(Model):
    """Who did what to a document, when, from where (link, mail or CLI)."""

    id = fields.IntField(primary_key=True)
    document: fields.ForeignKeyRelation[Document] = fields.ForeignKeyField(
        "docflow.Document", related_name="audit", on_delete=fields.RESTRICT
    )
    document_id: int
    at = fields.DatetimeField()
    actor = fields.CharField(max_length=320)
    on_behalf_of = fields.CharField(max_length=320, null=True)
    action = fields.CharField(max_length=40)
    source = fields.CharField(max_length=10)  # mail | link | cli | system
    version_number = fields.IntField(null=True)
    stage_key = fields.CharField(max_length=100, null=True)
    detail: fields.Field[dict[str, object]] = fields.JSONField(default=dict)

    class Meta:
        table = "audit_events"


class FileRendition(Model):
    """The PDF rendition of a version's file, made after the version is stored (a row of
    its own: the version file stays as it was received)."""

    id = fields.IntField(primary_key=True)
    version_file: fields.OneToOneRelation[VersionFile] = fields.OneToOneField(
        "docflow.VersionFile", related_name="rendition", on_delete=fields.RESTRICT
    )
    version_file_id: int
    status = fields.CharField(max_length=10)  # pending | ok | failed
    sha256 = fields.CharField(max_length=64, null=True)
    pages = fields.IntField(null=True)
    error = fields.CharField(max_length=500, null=True)
    attempts = fields.IntField(default=0)
    next_attempt_at = fields.DatetimeField()
    claimed_until = fields.DatetimeField(null=True)  # a converter works on it until then

    class Meta:
        table = "file_renditions"


class FileOcr(Model):
    """The OCR of a version's file (a PDF or an image), done after the version is stored:
    a job while `pending`, then its record. `pages` is the file's page count, `pages_read`
    how many OCR read (at most `ocr.max_pages`), `cut` whether pages without text were left
    unread because of that limit."""

    id = fields.IntField(primary_key=True)
    version_file: fields.OneToOneRelation[VersionFile] = fields.OneToOneField(
        "docflow.VersionFile", related_name="ocr", on_delete=fields.RESTRICT
    )
    version_file_id: int
    status = fields.CharField(max_length=10)  # pending | ok | failed | not_needed
    pages = fields.IntField(null=True)
    pages_read = fields.IntField(default=0)
    cut = fields.BooleanField(default=False)
    seconds = fields.FloatField(null=True)
    error = fields.CharField(max_length=500, null=True)
    attempts = fields.IntField(default=0)
    next_attempt_at = fields.DatetimeField()
    claimed_until = fields.DatetimeField(null=True)  # an OCR process works on it until then

    class Meta:
        table = "file_ocr"


class SeenVersion(Model):
    """The latest version of a document a person opened on its page while signed in (a
    decision link's page shows what changed since). Link GETs never write it: mail
    scanners fetch links."""

    id = fields.IntField(primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "docflow.User", related_name="seen_versions", on_delete=fields.CASCADE
    )
    user_id: int
    document: fields.ForeignKeyRelation[Document] = fields.ForeignKeyField(
        "docflow.Document", related_name="seen_by", on_delete=fields.RESTRICT
    )
    document_id: int
    version_number = fields.IntField()
    seen_at = fields.DatetimeField()

    class Meta:
        table = "seen_versions"
        unique_together = (("user", "document"),)
