"""The archive pages for archivists and admins: search, a record, downloads, exports.

Every page needs a session (see web/auth.py). Confidential records are not in search
and their pages are for admins only. Exports take the same parameters as the search
page: CSV of the result rows, or a ZIP of their issued files with a manifest of hashes.
"""

from __future__ import annotations

import asyncio
import csv
import io
import os
import re
import tempfile
import zipfile
from datetime import datetime
from typing import Any

import aiohttp_jinja2
from aiohttp import web

from docflow.archive.copies import FORMS
from docflow.archive.records import ArchiveRecord
from docflow.archive.search import MAX_LIMIT, SearchHit
from docflow.errors import DocflowError, NotFoundError
from docflow.storage.filenames import content_disposition
from docflow.users.accounts import Principal
from docflow.web.auth import check_csrf, require_searcher, see_other
from docflow.web.csv_export import csv_response
from docflow.web.keys import SERVICES
from docflow.web.pages import Session, page_context
from docflow.web.search_params import query_string, search_query
from docflow.web.signature_status import signature_status

routes = web.RouteTableDef()
EXPORT_MAX = 5000  # rows in one export

TEXT = {
    "vi": {
        "archive": "Kho lưu trữ văn bản đã ban hành",
        "words": 'Từ khóa (không dấu cũng được; "cụm từ" trong ngoặc kép; -loại trừ)',
        "number": "Số văn bản",
        "type": "Loại",
        "register": "Sổ",
        "signer": "Người ký",
        "from": "Từ ngày",
        "until": "Đến ngày",
        "year": "Năm",
        "any": "Tất cả",
        "search": "Tìm",
        "none": "Không tìm thấy văn bản nào.",
        "more": "Trang sau",
        "csv": "Xuất CSV",
        "zip": "Tải ZIP các tệp ban hành",
        "logout": "Đăng xuất",
        "date": "Ngày ban hành",
        "summary": "Trích yếu",
        "retention": "Thời hạn lưu trữ",
        "hold": "Đang bị phong tỏa (legal hold)",
        "files": "Tệp ban hành",
        "versions": "Các phiên bản",
        "audit": "Nhật ký",
        "code": "Mã theo dõi",
        "author": "Người soạn",
        "issued": "bản ban hành",
        "main": "dự thảo chính",
        "annex": "phụ lục",
        "annex-pdf": "phụ lục ban hành (PDF, ký số)",
        "copy": "bản sao điện tử",
        "make_copy": "Tạo bản sao điện tử",
        "signatures": "Chữ ký số",
        "sig_ok": "hợp lệ",
        "sig_bad": "KHÔNG hợp lệ",
        "sig_none": "không có chữ ký số",
        "signed_at": "ký lúc",
        "back": "Quay lại tìm kiếm",
    },
    "en": {
        "archive": "Archive of issued documents",
        "words": 'Words (diacritics optional; "phrases" in quotes; -excluded)',
        "number": "Number",
        "type": "Type",
        "register": "Register",
        "signer": "Signer",
        "from": "From",
        "until": "Until",
        "year": "Year",
        "any": "Any",
        "search": "Search",
        "none": "No document found.",
        "more": "Next page",
        "csv": "Export CSV",
        "zip": "Download ZIP of issued files",
        "logout": "Log out",
        "date": "Issue date",
        "summary": "Summary",
        "retention": "Retention",
        "hold": "On legal hold",
        "files": "Issued files",
        "versions": "Versions",
        "audit": "Audit trail",
        "code": "Tracking code",
        "author": "Author",
        "issued": "issued copy",
        "main": "main draft",
        "annex": "annex",
        "annex-pdf": "issued annex (PDF, signed)",
        "copy": "electronic copy",
        "make_copy": "Make an electronic copy",
        "signatures": "Digital signatures",
        "sig_ok": "valid",
        "sig_bad": "NOT valid",
        "sig_none": "no digital signature",
        "signed_at": "signed",
        "back": "Back to search",
    },
}


@routes.get("/archive")
async def search_page(request: web.Request) -> web.Response:
    principal, csrf = await require_searcher(request)
    services = request.app[SERVICES]
    query = search_query(request.query)
    searched = any(
        request.query.get(k)
        for k in ("q", "number", "type", "register", "signer", "from", "until", "year")
    )
    page = await services.search.search(query) if searched else None
    workflows = list(services.workflows.by_key.values())
    context: dict[str, Any] = {
        **page_context(request, Session(principal, csrf), TEXT, "archive"),
        "principal": principal,
        "params": request.query,
        "types": sorted({w.type_code for w in workflows}),
        "registers": sorted(
            k for k, r in services.settings.registers.items() if not r.confidential
        ),
        "hits": page.items if page else None,
        "next": f"/archive?{query_string(request.query, cursor=page.next)}"
        if page and page.next
        else None,
        "export": query_string(request.query),
    }
    return aiohttp_jinja2.render_template("archive_search.html", request, context)


async def _record(request: web.Request, principal: Principal) -> ArchiveRecord:
    try:
        record = await request.app[SERVICES].archive.find(request.match_info["record"])
    except NotFoundError:
        raise web.HTTPNotFound(text="Không tìm thấy / Not found") from None
    if record.confidential and not principal.is_admin:
        raise web.HTTPNotFound(text="Không tìm thấy / Not found")
    return record


@routes.get("/archive/records/{record}")
async def record_page(request: web.Request) -> web.Response:
    principal, csrf = await require_searcher(request)
    services = request.app[SERVICES]
    record = await _record(request, principal)
    view = await services.archive.view(record.id)
    view["signatures"] = await signature_status(services, record.id)
    doc = await services.documents.view(view["code"])
    context: dict[str, Any] = {
        **page_context(request, Session(principal, csrf), TEXT, "archive"),
        "principal": principal,
        "r": view,
        "doc": doc,
        "forms": FORMS,
        "audit": await services.journal.events(record.document_id),
        "local": lambda iso: services.mailer.local_time(datetime.fromisoformat(iso)),
    }
    return aiohttp_jinja2.render_template("archive_record.html", request, context)


@routes.post("/archive/records/{record}/copies")
async def make_copy(request: web.Request) -> web.StreamResponse:
    """The archive page's button: an electronic copy, signed, kept with the record."""
    principal, csrf = await require_searcher(request)
    form = await request.post()
    check_csrf(csrf, form.get("csrf"))
    services = request.app[SERVICES]
    record = await _record(request, principal)
    try:
        await services.copies.make(record.id, str(form.get("form", "")), principal.email, "web")
    except DocflowError as e:  # a form not offered, a key that cannot sign: say so
        raise web.HTTPUnprocessableEntity(text=str(e)) from None
    return see_other(f"/archive/records/{record.id}#files")


@routes.get("/archive/records/{record}/files/{position}")
async def issued_file(request: web.Request) -> web.StreamResponse:
    principal, _ = await require_searcher(request)
    services = request.app[SERVICES]
    record = await _record(request, principal)
    try:
        f = await services.archive.file(record.id, int(request.match_info["position"]))
    except (NotFoundError, ValueError):
        raise web.HTTPNotFound(text="Không tìm thấy / Not found") from None
    return _download(request, f.sha256, f.mime, f.name)


@routes.get("/archive/records/{record}/versions/{number}/files/{position}")
async def version_file(request: web.Request) -> web.StreamResponse:
    principal, _ = await require_searcher(request)
    services = request.app[SERVICES]
    record = await _record(request, principal)
    doc = await record.document
    try:
        f = await services.documents.file_of(
            doc.code, int(request.match_info["number"]), int(request.match_info["position"])
        )
    except (NotFoundError, ValueError):
        raise web.HTTPNotFound(text="Không tìm thấy / Not found") from None
    return _download(request, f.sha256, f.mime, f.name)


def _download(request: web.Request, sha256: str, mime: str, name: str) -> web.FileResponse:
    return web.FileResponse(
        request.app[SERVICES].blobs.path_of(sha256),
        headers={
            "Content-Type": mime,
            "Content-Disposition": content_disposition(name),
            "X-Content-SHA256": sha256,
        },
    )


async def _all_hits(request: web.Request) -> list[SearchHit]:
    """Every result of the search the parameters describe, up to EXPORT_MAX."""
    services = request.app[SERVICES]
    params = dict(request.query)
    hits: list[SearchHit] = []
    while len(hits) < EXPORT_MAX:
        page = await services.search.search(search_query(params, MAX_LIMIT))
        hits += page.items
        if not page.next:
            break
        params["cursor"] = page.next
    return hits[:EXPORT_MAX]


@routes.get("/archive/export.csv")
async def export_csv(request: web.Request) -> web.Response:
    await require_searcher(request)
    hits = await _all_hits(request)
    head = ["number", "issue_date", "type", "register", "title", "signer", "record"]
    rows = [
        [h.number, h.issued_on.isoformat(), h.type, h.register, h.title, h.signer, h.record_id]
        for h in hits
    ]
    return csv_response([head, *rows], "docflow-tim-kiem.csv")


def _folder(number: str, title: str) -> str:
    text = f"{number} {title}".replace("/", "-")
    return re.sub(r"[\\\\:*?\"<>|\x00-\x1f]", "_", text)[:120].strip()


@routes.get("/archive/export.zip")
async def export_zip(request: web.Request) -> web.StreamResponse:
    """The issued files of every result, one folder each, and manifest.csv of hashes."""
    principal, _ = await require_searcher(request)
    services = request.app[SERVICES]
    entries: list[tuple[str, str, dict[str, Any]]] = []  # path in zip, blob path, row
    for h in await _all_hits(request):
        view = await services.archive.view(h.record_id)
        if view["confidential"] and not principal.is_admin:
            continue
        folder = _folder(view["number"], view["title"])
        for f in view["files"]:
            path = f"{folder}/{f['name']}"
            row = {
                "path": path,
                "sha256": f["sha256"],
                "size": f["size"],
                "role": f["role"],
                "number": view["number"],
                "record": view["id"],
            }
            entries.append((path, str(services.blobs.path_of(f["sha256"])), row))
    handle, name = tempfile.mkstemp(suffix=".zip", dir=services.settings.data_dir)
    os.close(handle)
    try:
        await asyncio.to_thread(_write_zip, name, entries)
        response = web.StreamResponse(
            headers={
                "Content-Type": "application/zip",
                "Content-Disposition": content_disposition("docflow-ban-hanh.zip"),
            }
        )
        await response.prepare(request)
        with open(name, "rb") as f:  # noqa: ASYNC230 - chunks of a local temp file
            while chunk := f.read(1 << 20):
                await response.write(chunk)
        await response.write_eof()
        return response
    finally:
        os.unlink(name)


def _write_zip(name: str, entries: list[tuple[str, str, dict[str, Any]]]) -> None:
    manifest = io.StringIO()
    fields = ["path", "sha256", "size", "role", "number", "record"]
    writer = csv.DictWriter(manifest, fieldnames=fields)
    writer.writeheader()
    with zipfile.ZipFile(name, "w", zipfile.ZIP_DEFLATED) as z:
        for path, blob, row in entries:
            z.write(blob, path)
            writer.writerow(row)
        z.writestr("manifest.csv", "\ufeff" + manifest.getvalue())
