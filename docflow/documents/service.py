"""Documents and versions: creating them, threading mail to them, and reading them back."""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import F

from docflow.clock import Clock
from docflow.db import fetch
from docflow.documents.journal import Journal
from docflow.documents.models import (
    CodeCounter,
    Document,
    FileOcr,
    FileRendition,
    ThreadMessage,
    Version,
    VersionFile,
)
from docflow.documents.ocr import IMAGE_TYPES, ocr_view
from docflow.documents.renditions import CONVERTIBLE, rendition_view
from docflow.errors import InvalidRequestError, NotFoundError
from docflow.users.models import User

OPEN_STATUSES = ("received", "in_review", "changes_requested")
CODE_PATTERN = re.compile(r"DF-[0-9]{4}-[0-9]{6}")
VERSION_FILES = (
    'SELECT f."position", f."name", f."role", f."size", f."text", f."text_source",'
    ' r."status" AS "rendition", r."pages" AS "pages" FROM "version_files" f'
    ' JOIN "versions" v ON v."id" = f."version_id"'
    ' LEFT JOIN "file_renditions" r ON r."version_file_id" = f."id"'
    ' WHERE v."document_id" = $1 AND v."number" = $2 ORDER BY f."position"'
)


def normal_code(code: str) -> str:
    """The code uppercased; NotFoundError for anything that cannot be a tracking code."""
    code = code.strip().upper()
    if not CODE_PATTERN.fullmatch(code):
        raise NotFoundError(f"no document {code!r}")
    return code


@dataclass(frozen=True)
class NewFile:
    """A file ready to be attached to a version (its bytes are already in the blob store)."""

    name: str
    mime: str
    size: int
    sha256: str
    text: str | None
    extract_error: str | None
    legacy_encoding: str | None = None  # the old font encoding `text` was converted from


@dataclass(frozen=True)
class NewVersion:
    message_id: str
    source_key: str
    inbound_id: int | None
    subject: str
    body_text: str
    files: list[NewFile] = field(default_factory=list)


class DocumentService:
    """Every write to documents goes through here, inside the caller's transaction."""

    def __init__(self, clock: Clock, journal: Journal) -> None:
        self.clock = clock
        self.journal = journal

    async def next_code(self, conn: BaseDBAsyncClient) -> str:
        """Allocate `DF-YYYY-NNNNNN`: the counter row is locked by the UPDATE until commit."""
        year = self.clock.now().year
        bumped = (
            await CodeCounter.filter(year=year)
            .using_db(conn)
            .update(last_number=F("last_number") + 1)
        )
        if not bumped:  # the year's first document: get_or_create copes with a concurrent one
            await CodeCounter.get_or_create(year=year, defaults={"last_number": 0}, using_db=conn)
            await (
                CodeCounter.filter(year=year)
                .using_db(conn)
                .update(last_number=F("last_number") + 1)
            )
        counter = await CodeCounter.filter(year=year).using_db(conn).get()
        return f"DF-{year}-{counter.last_number:06d}"

    async def create(
        self, conn: BaseDBAsyncClient, author: User, title: str, workflow: str, new: NewVersion
    ) -> tuple[Document, Version]:
        now = self.clock.now()
        doc = await Document.create(
            code=await self.next_code(conn),
            title=title,
            author=author,
            workflow=workflow,
            status="received",
            created_at=now,
            updated_at=now,
            using_db=conn,
        )
        version = await self._add_version(conn, doc, 1, new)
        return doc, version

    async def add_version(self, conn: BaseDBAsyncClient, doc: Document, new: NewVersion) -> Version:
        last = await Version.filter(document=doc).using_db(conn).order_by("-number").first()
        doc.updated_at = self.clock.now()
        await doc.save(using_db=conn, update_fields=["updated_at"])
        return await self._add_version(conn, doc, (last.number if last else 0) + 1, new)

    async def _add_version(
        self, conn: BaseDBAsyncClient, doc: Document, number: int, new: NewVersion
    ) -> Version:
        version = await Version.create(
            document=doc,
            number=number,
            created_at=self.clock.now(),
            message_id=new.message_id,
            source_key=new.source_key,
            inbound_id=new.inbound_id,
            subject=new.subject,
            body_text=new.body_text,
            using_db=conn,
        )
        await VersionFile.bulk_create(
            [
                VersionFile(
                    version=version,
                    position=pos,
                    name=f.name,
                    role="main" if pos == 0 else "annex",
                    mime=f.mime,
                    size=f.size,
                    sha256=f.sha256,
                    text=f.text,
                    extract_error=f.extract_error,
                    legacy_encoding=f.legacy_encoding,
                )
                for pos, f in enumerate(new.files)
            ],
            using_db=conn,
        )
        if new.message_id:
            await self.journal.remember(conn, doc, new.message_id, "in")
        return version

    async def version_exists(self, source_key: str) -> Version | None:
        return await Version.get_or_none(source_key=source_key).prefetch_related("document")

    async def by_code(self, code: str) -> Document | None:
        return await Document.get_or_none(code=normal_code(code)).prefetch_related("author")

    async def by_message_ids(self, message_ids: list[str]) -> Document | None:
        """The document one of these Message-IDs belongs to (the latest named wins)."""
        ids = [m[:255] for m in message_ids if m]
        if not ids:
            return None
        rows = await ThreadMessage.filter(message_id__in=ids).prefetch_related("document__author")
        if not rows:
            return None
        order = {m: i for i, m in enumerate(ids)}
        best = max(rows, key=lambda r: order.get(r.message_id, -1))
        return best.document

    # --- reading ----------------------------------------------------------------

    async def view(self, code: str) -> dict[str, Any]:
        """The document as the API shows it (SPEC: code, title, status, author, versions…)."""
        doc = await Document.get_or_none(code=normal_code(code)).prefetch_related("author")
        if doc is None:
            raise NotFoundError(f"no document {code}")
        versions = await Version.filter(document=doc).order_by("number").prefetch_related("files")
        out = _doc_summary(doc)
        made = await _renditions(versions)
        read = await _ocr(versions)
        out["versions"] = [
            _version_view(v, doc.code, made, with_text=False, read=read) for v in versions
        ]
        return out

    async def version_view(self, code: str, number: int) -> dict[str, Any]:
        version = await Version.get_or_none(document__code=normal_code(code), number=number)
        if version is None:
            raise NotFoundError(f"no version {number} of {code}")
        await version.fetch_related("files")
        out = _version_view(
            version,
            normal_code(code),
            await _renditions([version]),
            with_text=True,
            read=await _ocr([version]),
        )
        out["code"] = normal_code(code)
        out["subject"] = version.subject
        out["body_text"] = version.body_text
        return out

    async def files_with_text(self, document_id: int, number: int) -> list[dict[str, Any]]:
        """A version's files in order (position, name, role, size, text, rendition status and
        pages): one query, as every decision page shows them."""
        return await fetch(None, VERSION_FILES, document_id, number)

    async def file_of(self, code: str, number: int, position: int) -> VersionFile:
        f = await VersionFile.get_or_none(
            version__document__code=normal_code(code), version__number=number, position=position
        )
        if f is None:
            raise NotFoundError(f"no file {position} in version {number} of {code}")
        return f

    async def rendition_of(self, code: str, number: int, position: int) -> tuple[VersionFile, str]:
        """The file and its PDF rendition's hash, once it is ready; else NotFound."""
        f = await self.file_of(code, number, position)
        made = await FileRendition.get_or_none(version_file_id=f.id, status="ok")
        if made is None or made.sha256 is None:
            raise NotFoundError(f"file {position} of version {number} has no PDF rendition yet")
        return f, made.sha256

    async def list(
        self, cursor: str | None, limit: int, status: str | None = None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """Newest first; the cursor is opaque (the last id seen)."""
        query = Document.all().prefetch_related("author").order_by("-id")
        if cursor:
            query = query.filter(id__lt=_decode_cursor(cursor))
        if status:
            query = query.filter(status=status)
        docs = await query.limit(limit + 1)
        ids = [d.id for d in docs[:limit]]
        counts: dict[int, int] = {}
        for v in await Version.filter(document_id__in=ids).values("document_id", "number"):
            counts[v["document_id"]] = max(counts.get(v["document_id"], 0), v["number"])
        items = []
        for d in docs[:limit]:
            item = _doc_summary(d)
            item["version_count"] = counts.get(d.id, 0)
            items.append(item)
        nxt = _encode_cursor(docs[limit - 1].id) if len(docs) > limit else None
        return items, nxt


def _iso(t: datetime) -> str:
    return t.isoformat()


def _doc_summary(doc: Document) -> dict[str, Any]:
    return {
        "code": doc.code,
        "title": doc.title,
        "status": doc.status,
        "author": doc.author.email,
        "author_name": doc.author.name,
        "workflow": doc.workflow,
        "created_at": _iso(doc.created_at),
        "updated_at": _iso(doc.updated_at),
    }


async def _renditions(versions: list[Version]) -> dict[int, FileRendition]:
    """The rendition rows of these versions' files, by file id (one query)."""
    ids = [f.id for v in versions for f in v.files]  # type: ignore[attr-defined]
    rows = await FileRendition.filter(version_file_id__in=ids) if ids else []
    return {r.version_file_id: r for r in rows}


async def _ocr(versions: list[Version]) -> dict[int, FileOcr]:
    """The OCR rows of these versions' files, by file id (one query)."""
    ids = [f.id for v in versions for f in v.files]  # type: ignore[attr-defined]
    rows = await FileOcr.filter(version_file_id__in=ids) if ids else []
    return {r.version_file_id: r for r in rows}


def _rendition(
    f: VersionFile, code: str, number: int, made: dict[int, FileRendition], read: dict[int, FileOcr]
) -> Any:
    if f.mime not in CONVERTIBLE and f.mime not in IMAGE_TYPES:
        return None  # a PDF is its own rendition; other types have none
    url = f"/api/v1/documents/{code}/versions/{number}/files/{f.position}/rendition"
    found = made.get(f.id)
    ocr = read.get(f.id)
    if found is None and f.mime in IMAGE_TYPES:  # OCR makes an image's searchable PDF
        if ocr is None:
            return None  # not seen by OCR (yet, or OCR is off)
        if ocr.status == "failed":
            return {"status": "failed", "pages": None, "url": None, "error": ocr.error}
    if found is None:
        return {"status": "pending", "pages": None, "url": None, "error": None}
    return rendition_view(found, url)


def _version_view(
    v: Version,
    code: str,
    made: dict[int, FileRendition],
    with_text: bool,
    read: dict[int, FileOcr],
) -> dict[str, Any]:
    files = []
    files_of: list[VersionFile] = list(v.files)  # type: ignore[attr-defined]  # reverse FK
    for f in sorted(files_of, key=lambda f: f.position):
        item: dict[str, Any] = {
            "position": f.position,
            "name": f.name,
            "role": f.role,
            "mime": f.mime,
            "size": f.size,
            "sha256": f.sha256,
            "legacy_encoding": f.legacy_encoding,  # "tcvn3", "vni": text converted from it
            "rendition": _rendition(f, code, v.number, made, read),
            "ocr": ocr_view(read.get(f.id)),
        }
        if with_text:
            item["text"] = f.text
            item["text_source"] = f.text_source or "file"  # "ocr": read from its images
            item["extract_error"] = f.extract_error
        files.append(item)
    return {
        "number": v.number,
        "created_at": _iso(v.created_at),
        "message_id": v.message_id,
        "files": files,
    }


def _encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"id:{last_id}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> int:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        prefix, _, value = text.partition(":")
        last_id = int(value)
        if prefix != "id" or not 0 < last_id < 2**31:
            raise ValueError(cursor)
        return last_id
    except (ValueError, UnicodeDecodeError):
        raise InvalidRequestError(f"bad cursor {cursor!r}") from None
