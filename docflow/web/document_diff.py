"""What changed between two versions: `/documents/{code}/diff?from=N&to=M` (defaults: the
previous version against the latest) and `GET /api/v1/documents/{code}/diff`, whose JSON is
`documents.diffs.version_diff`'s. Both for the document's author, the approvers who have
a task on it, and admins."""

from __future__ import annotations

from aiohttp import web

from docflow.documents.diffs import version_diff, version_numbers
from docflow.errors import InvalidRequestError, NotFoundError
from docflow.web.diff_view import diff_context
from docflow.web.document_pages import authored, readable
from docflow.web.document_texts import TEXT
from docflow.web.keys import PRINCIPAL, SERVICES
from docflow.web.pages import digits, render, require

routes = web.RouteTableDef()


def _number(request: web.Request, name: str) -> int | None:
    raw = request.query.get(name, "").strip()
    if not raw:
        return None
    if not digits(raw) or not 0 < int(raw) < 10**6:
        raise InvalidRequestError(f"{name} must be a version number")
    return int(raw)


@routes.get("/documents/{code}/diff")
async def diff_page(request: web.Request) -> web.Response:
    session = await require(request)
    doc = await readable(request, session)
    lang = "en" if session.principal.language == "en" else "vi"
    numbers = await version_numbers(doc.id)
    try:
        result = await version_diff(doc.code, _number(request, "from"), _number(request, "to"))
    except (InvalidRequestError, NotFoundError):
        raise web.HTTPNotFound(text="Không có phiên bản này / No such version") from None
    return render(
        request,
        "diff.html",
        session,
        TEXT,
        doc=doc,
        numbers=numbers,
        **diff_context(result, lang),
    )


@routes.get("/api/v1/documents/{code}/diff")
async def diff_api(request: web.Request) -> web.Response:
    principal = request[PRINCIPAL]
    doc = await request.app[SERVICES].documents.by_code(request.match_info["code"])
    if doc is None:
        raise NotFoundError(f"no document {request.match_info['code']}")
    if not principal.is_admin and not await authored(request).may_read(doc, principal):
        raise web.HTTPForbidden(text="not allowed to read this document")
    result = await version_diff(doc.code, _number(request, "from"), _number(request, "to"))
    return web.json_response(result)
