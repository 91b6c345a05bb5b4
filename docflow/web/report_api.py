"""JSON API of the reports: paper saved and decided on time, for leaders and admins (a
leader's API token may read them; see middleware.bearer_auth)."""

from __future__ import annotations

from aiohttp import web

from docflow.web.keys import PRINCIPAL, SERVICES
from docflow.web.report_pages import report_year

routes = web.RouteTableDef()

PAPER_FORMULA = (
    "every version: its main file's pages (its rendition's; until there is one, read from "
    "the file) x (the approvers it was sent to + 1 author's copy); every issued document: "
    "its issued pages x (its recipients + 1 file copy); sheets = ceil(pages / 2) per copy "
    "(duplex); annexes not counted"
)


def _leader(request: web.Request) -> None:
    if not request[PRINCIPAL].is_leader:
        raise web.HTTPForbidden(text="reports are for leaders and admins")


@routes.get("/api/v1/reports/paper")
async def paper(request: web.Request) -> web.Response:
    """?year=Y (this year by default): pages and sheets saved, per month and workflow."""
    _leader(request)
    services = request.app[SERVICES]
    report = await services.paper.report(report_year(request, services))
    return web.json_response({**report.as_dict(), "formula": PAPER_FORMULA})


@routes.get("/api/v1/reports/timeliness")
async def timeliness(request: web.Request) -> web.Response:
    """?year=Y: tasks decided on time per month, workflow and stage; open past due now."""
    _leader(request)
    services = request.app[SERVICES]
    report = await services.timeliness.report(report_year(request, services))
    return web.json_response(report.as_dict())
