"""JSON API: documents, versions and their files."""

from __future__ import annotations

from urllib.parse import quote

from aiohttp import web

from docflow.documents.renditions import rendition_name
from docflow.errors import InvalidRequestError, NotFoundError
from docflow.storage.filenames import content_disposition
from docflow.web.files import pdf_inline
from docflow.web.keys import SERVICES

routes = web.RouteTableDef()


def _int(
    request: web.Request, name: str, default: int | None = None, lo: int = 0, hi: int = 10**9
) -> int:
    raw = request.match_info.get(name) or request.query.get(name)
    if raw is None:
        if default is None:
            raise InvalidRequestError(f"{name} is required")
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InvalidRequestError(f"{name} must be a whole number") from None
    if not lo <= value <= hi:
        raise InvalidRequestError(f"{name} must be between {lo} and {hi}")
    return value


@routes.get("/api/v1/documents")
async def list_documents(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    limit = _int(request, "limit", 50, 1, 500)
    items, cursor = await services.documents.list(
        request.query.get("cursor"), limit, request.query.get("status")
    )
    nxt = None
    if cursor:
        nxt = f"/api/v1/documents?cursor={cursor}&limit={limit}"
        if request.query.get("status"):
            nxt += f"&status={quote(request.query['status'])}"
    return web.json_response({"items": items, "next": nxt})


@routes.get("/api/v1/documents/{code}")
async def get_document(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    view = await services.documents.view(request.match_info["code"])
    doc = await services.documents.by_code(view["code"])
    assert doc is not None
    view.update(await services.views.document(doc))
    view.update(await services.archive.issue_of(doc.id))
    view["deliveries_failed"] = await services.bounces.failures(doc.code)
    return web.json_response(view)


@routes.get("/api/v1/documents/{code}/audit")
async def get_audit(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    doc = await services.documents.by_code(request.match_info["code"])
    if doc is None:
        raise NotFoundError(f"no document {request.match_info['code']}")
    events = await services.journal.events(doc.id)
    return web.json_response({"items": events, "next": None})


@routes.get("/api/v1/tasks")
async def list_tasks(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    items = await services.views.tasks(
        assignee=request.query.get("assignee"),
        state=request.query.get("state"),
        overdue=request.query.get("overdue") in ("1", "true", "yes"),
        limit=_int(request, "limit", 100, 1, 500),
    )
    return web.json_response({"items": items, "next": None})


@routes.get("/api/v1/documents/{code}/versions/{number}")
async def get_version(request: web.Request) -> web.Response:
    number = _int(request, "number", lo=1)
    view = await request.app[SERVICES].documents.version_view(request.match_info["code"], number)
    return web.json_response(view)


@routes.get("/api/v1/documents/{code}/versions/{number}/files/{position}/rendition")
async def download_rendition(request: web.Request) -> web.StreamResponse:
    """The file's PDF rendition, shown inline (a browser opens it; nobody needs Word)."""
    services = request.app[SERVICES]
    f, pdf = await services.documents.rendition_of(
        request.match_info["code"], _int(request, "number", lo=1), _int(request, "position")
    )
    return pdf_inline(services.blobs.path_of(pdf), rendition_name(f.name))


@routes.get("/api/v1/documents/{code}/versions/{number}/files/{position}")
async def download_file(request: web.Request) -> web.StreamResponse:
    services = request.app[SERVICES]
    f = await services.documents.file_of(
        request.match_info["code"], _int(request, "number", lo=1), _int(request, "position")
    )
    return web.FileResponse(
        services.blobs.path_of(f.sha256),
        headers={
            "Content-Type": f.mime,
            "Content-Disposition": content_disposition(f.name),
            "X-Content-SHA256": f.sha256,
        },
    )
