"""A new version uploaded from a document's page: the form is read as a stream (up to
`smtp.max_message_size`, as a mail), then goes the mail's way (`intake.uploads`): type by
content, author only, the stage restarts, a receipt is mailed. A refusal is said on the
page in the words a refused mail gets (`notify.labels.REASONS`)."""

from __future__ import annotations

import secrets
import unicodedata

from aiohttp import BodyPartReader, web

from docflow.errors import Refused
from docflow.intake.parse import Attachment
from docflow.intake.uploads import upload_version
from docflow.notify.labels import REASONS, size_label
from docflow.web.auth import check_csrf, see_other
from docflow.web.document_pages import document_page, readable
from docflow.web.document_texts import TEXT
from docflow.web.keys import SERVICES
from docflow.web.pages import require

routes = web.RouteTableDef()


class TooBig(Exception):
    pass


async def _read_upload(request: web.Request, limit: int) -> tuple[dict[str, str], list[Attachment]]:
    """The form's fields and files, streamed; more than `limit` bytes in all: TooBig."""
    fields: dict[str, str] = {}
    files: list[Attachment] = []
    total = 0
    reader = await request.multipart()
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader):
            continue
        chunks: list[bytes] = []
        while chunk := await part.read_chunk(64 * 1024):
            total += len(chunk)
            if total > limit:
                raise TooBig()
            chunks.append(chunk)
        data = b"".join(chunks)
        if part.filename is not None:
            if data:
                ctype = part.headers.get("Content-Type", "application/octet-stream")
                files.append(Attachment(_nfc(part.filename), ctype, data))
        elif part.name:
            fields[part.name] = _nfc(data.decode("utf-8", "replace"))
    return fields, files


def _nfc(text: str) -> str:
    """A browser's text as stored: composed (a Mac sends file names decomposed)."""
    return unicodedata.normalize("NFC", text)


@routes.post("/documents/{code}/versions")
async def upload(request: web.Request) -> web.Response:
    session = await require(request)
    doc = await readable(request, session)
    services = request.app[SERVICES]
    lang = "en" if session.principal.language == "en" else "vi"
    t = TEXT[lang]
    limit = services.settings.smtp.max_message_size
    if not request.content_type.startswith("multipart/"):
        raise web.HTTPBadRequest(text="multipart/form-data expected")
    try:
        fields, files = await _read_upload(request, limit)
    except TooBig:
        error = t["too_big"].format(size=size_label(limit))
        return await document_page(request, session, doc, error=error, status=413)
    check_csrf(session.csrf, fields.get("csrf"))
    if doc.author.email != session.principal.email:
        raise web.HTTPForbidden(text="Chỉ người soạn mới gửi được phiên bản mới / Author only")
    if not files:
        return await document_page(request, session, doc, error=t["no_file"], status=400)
    try:
        outcome = await upload_version(
            services.intake.drafts,
            session.principal.email,
            doc.code,
            files,
            fields.get("key") or secrets.token_hex(16),
            fields.get("note", ""),
        )
    except Refused as r:
        if r.reason == "not_author":
            raise web.HTTPForbidden(text="Không có quyền / Not allowed") from None
        (problem_vi, advice_vi), (problem_en, advice_en) = REASONS.get(
            r.reason, (("{detail}", ""), ("{detail}", ""))
        )
        problem, advice = (problem_en, advice_en) if lang == "en" else (problem_vi, advice_vi)
        message = t["refused"].format(problem=problem.format(detail=r.detail), advice=advice)
        return await document_page(request, session, doc, error=message, status=422)
    return see_other(f"/documents/{doc.code}?uploaded={outcome.version}")
