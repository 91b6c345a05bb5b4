"""A document's files for the signed-in people who may read it (its author, admins, its
approvers): each version's files, their PDF renditions shown in place, and the issued
copies once it is issued."""

from __future__ import annotations

from aiohttp import web

from docflow.documents.renditions import rendition_name
from docflow.errors import NotFoundError
from docflow.storage.filenames import content_disposition
from docflow.web.document_pages import readable
from docflow.web.files import pdf_inline
from docflow.web.keys import SERVICES
from docflow.web.pages import require

routes = web.RouteTableDef()
FILE = "/documents/{code}/versions/{number:\\d+}/files/{position:\\d+}"


def _download(request: web.Request, sha256: str, mime: str, name: str) -> web.FileResponse:
    return web.FileResponse(
        request.app[SERVICES].blobs.path_of(sha256),
        headers={
            "Content-Type": mime,
            "Content-Disposition": content_disposition(name),
            "X-Content-Type-Options": "nosniff",
        },
    )


@routes.get(FILE)
async def version_file(request: web.Request) -> web.StreamResponse:
    session = await require(request)
    doc = await readable(request, session)
    try:
        f = await request.app[SERVICES].documents.file_of(
            doc.code, int(request.match_info["number"]), int(request.match_info["position"])
        )
    except NotFoundError:
        raise web.HTTPNotFound(text="Không tìm thấy tệp / No such file") from None
    return _download(request, f.sha256, f.mime, f.name)


@routes.get(FILE + "/pdf")
async def version_pdf(request: web.Request) -> web.StreamResponse:
    """The file as PDF, shown in the page: its rendition, or a PDF as it was sent."""
    session = await require(request)
    doc = await readable(request, session)
    services = request.app[SERVICES]
    number, position = int(request.match_info["number"]), int(request.match_info["position"])
    try:
        f = await services.documents.file_of(doc.code, number, position)
        if f.mime == "application/pdf":
            return pdf_inline(services.blobs.path_of(f.sha256), f.name)
        f, pdf = await services.documents.rendition_of(doc.code, number, position)
    except NotFoundError:
        raise web.HTTPNotFound(text="Chưa có bản PDF / No PDF yet") from None
    return pdf_inline(services.blobs.path_of(pdf), rendition_name(f.name))


@routes.get("/documents/{code}/issued/{position:\\d+}")
async def issued_file(request: web.Request) -> web.StreamResponse:
    session = await require(request)
    doc = await readable(request, session)
    services = request.app[SERVICES]
    issue = await services.archive.issue_of(doc.id)
    if issue["record"] is None:
        raise web.HTTPNotFound(text="Văn bản chưa ban hành / Not issued")
    try:
        f = await services.archive.file(issue["record"], int(request.match_info["position"]))
    except NotFoundError:
        raise web.HTTPNotFound(text="Không tìm thấy tệp / No such file") from None
    if f.mime == "application/pdf":
        return pdf_inline(services.blobs.path_of(f.sha256), f.name)
    return _download(request, f.sha256, f.mime, f.name)
