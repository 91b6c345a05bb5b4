"""The status page a receipt links to: signed link, no account needed, read-only."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import aiohttp_jinja2
from aiohttp import web

from docflow.errors import NotFoundError
from docflow.notify.labels import MAIL_KINDS, STATUS_NAMES, size_label
from docflow.web.keys import SERVICES

routes = web.RouteTableDef()


@routes.get("/status/{code}")
@aiohttp_jinja2.template("status.html")
async def status_page(request: web.Request) -> dict[str, Any]:
    services = request.app[SERVICES]
    code = request.match_info["code"].upper()
    if not services.status_links.valid(code, request.query.get("t", "")):
        raise web.HTTPNotFound(text="Không tìm thấy / Not found")
    try:
        doc = await services.documents.view(code)
    except NotFoundError:
        raise web.HTTPNotFound(text="Không tìm thấy / Not found") from None
    vi, en = STATUS_NAMES.get(doc["status"], (doc["status"], doc["status"]))

    def local_time(iso: str) -> str:
        return services.mailer.local_time(datetime.fromisoformat(iso))

    workflow = services.workflows.by_key.get(doc["workflow"])
    found = await services.documents.by_code(code)
    return {
        "doc": doc,
        "status_vi": vi,
        "status_en": en,
        "size_label": size_label,
        "local_time": local_time,
        "workflow_vi": workflow.name("vi") if workflow else doc["workflow"],
        "workflow_en": workflow.name("en") if workflow else doc["workflow"],
        "stage_vi": services.stages.stage_name(found, "vi") if found else None,
        "stage_en": services.stages.stage_name(found, "en") if found else None,
        "failures": await services.bounces.failures(code),
        "mail_kinds": MAIL_KINDS,
    }
