"""JSON API of the archive: issued records and their files, registers, legal holds."""

from __future__ import annotations

from aiohttp import web

from docflow.errors import InvalidRequestError, NotFoundError
from docflow.storage.filenames import content_disposition
from docflow.web.keys import PRINCIPAL, SERVICES
from docflow.web.search_params import query_string, search_query
from docflow.web.signature_status import signature_status

routes = web.RouteTableDef()


def _hide_confidential(request: web.Request, confidential: bool, what: str) -> None:
    """Confidential registers are for admins: to any other token they do not exist (404, as
    the archive pages answer), so a token cannot even learn that a number was given."""
    if confidential and not request[PRINCIPAL].is_admin:
        raise NotFoundError(f"no {what}")


@routes.get("/api/v1/archive/{record}")
async def get_record(request: web.Request) -> web.Response:
    """A record by id or tracking code (numbers hold a slash: find them by search)."""
    view = await request.app[SERVICES].archive.view(request.match_info["record"])
    _hide_confidential(
        request, view["confidential"], f"archive record {request.match_info['record']}"
    )
    view["signatures"] = await signature_status(request.app[SERVICES], view["id"])
    return web.json_response(view)


@routes.get("/api/v1/archive/{record}/files/{position}")
async def download_issued(request: web.Request) -> web.StreamResponse:
    services = request.app[SERVICES]
    try:
        position = int(request.match_info["position"])
    except ValueError:
        raise InvalidRequestError("position must be a whole number") from None
    record = await services.archive.find(request.match_info["record"])
    _hide_confidential(
        request, record.confidential, f"archive record {request.match_info['record']}"
    )
    f = await services.archive.file(record.id, position)
    return web.FileResponse(
        services.blobs.path_of(f.sha256),
        headers={
            "Content-Type": f.mime,
            "Content-Disposition": content_disposition(f.name),
            "X-Content-SHA256": f.sha256,
        },
    )


@routes.post("/api/v1/archive/{record}/copies")
async def post_copy(request: web.Request) -> web.Response:
    """{"form": "SAO Y"|"SAO LỤC"|"TRÍCH SAO", "by": "…"}: a signed electronic copy."""
    try:
        body = await request.json()
    except ValueError:
        raise InvalidRequestError("expected a JSON object") from None
    if not isinstance(body, dict) or not isinstance(body.get("form"), str):
        raise InvalidRequestError('expected {"form": "SAO Y"}')
    services = request.app[SERVICES]
    key = request.match_info["record"]
    view = await services.archive.view(key)
    _hide_confidential(request, view["confidential"], f"archive record {key}")
    by = str(body.get("by") or request[PRINCIPAL].email)
    made = await services.copies.make(key, body["form"], by, "api")
    return web.json_response(
        {"position": made.position, "name": made.name, "role": made.role, "sha256": made.sha256},
        status=201,
    )


@routes.put("/api/v1/archive/{record}/legal-hold")
async def put_legal_hold(request: web.Request) -> web.Response:
    """{"held": true|false, "reason": "…", "by": "…"}: admins only (the admin token)."""
    try:
        body = await request.json()
    except ValueError:
        raise InvalidRequestError("expected a JSON object") from None
    if not isinstance(body, dict) or not isinstance(body.get("held"), bool):
        raise InvalidRequestError('expected {"held": true|false, "reason": "…"}')
    reason, by = str(body.get("reason", "")), str(body.get("by") or "api")
    services = request.app[SERVICES]
    await services.archive.set_hold(request.match_info["record"], body["held"], by, reason, "api")
    return web.json_response(await services.archive.view(request.match_info["record"]))


@routes.get("/api/v1/registers")
async def list_registers(request: web.Request) -> web.Response:
    items = await request.app[SERVICES].archive.registers()
    if not request[PRINCIPAL].is_admin:
        items = [r for r in items if not r["confidential"]]
    return web.json_response({"items": items, "next": None})


@routes.get("/api/v1/registers/{register}")
async def get_register_book(request: web.Request) -> web.Response:
    year = request.query.get("year")
    if year is not None and not year.isdigit():
        raise InvalidRequestError("year must be a whole number")
    services = request.app[SERVICES]
    register = services.settings.registers.get(request.match_info["register"])
    _hide_confidential(
        request,
        register is not None and register.confidential,
        f"register {request.match_info['register']!r}",
    )
    items = await services.archive.book(request.match_info["register"], int(year) if year else None)
    return web.json_response({"items": items, "next": None})


@routes.get("/api/v1/search")
async def search(request: web.Request) -> web.Response:
    """Issued documents by words and filters, ranked; `next` pages on (see search_params)."""
    page = await request.app[SERVICES].search.search(search_query(request.query))
    body = page.to_json()
    if page.next:
        body["next"] = f"/api/v1/search?{query_string(request.query, cursor=page.next)}"
        if request.query.get("limit"):
            body["next"] += f"&limit={request.query['limit']}"
    return web.json_response(body)
