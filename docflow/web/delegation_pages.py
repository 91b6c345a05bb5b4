"""`/delegation`: while someone is away, their new tasks go to a delegate who decides in a
capacity (KT., TUQ., TL.): what `docflow user delegate` does, from the browser.

Days are the office's (org.timezone): from the start of the first day to the end of the
last, as the CLI counts them. Each change is audited in the access log.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from aiohttp import web

from docflow.errors import DocflowError, NotFoundError
from docflow.web.auth import check_csrf, see_other
from docflow.web.delegation_texts import TEXT
from docflow.web.keys import SERVICES
from docflow.web.pages import Session, render, require
from docflow.workflow.delegation import CAPACITIES
from docflow.workflow.models import Delegation

routes = web.RouteTableDef()


def _lang(session: Session) -> str:
    return "en" if session.principal.language == "en" else "vi"


@routes.get("/delegation")
async def delegation(request: web.Request) -> web.Response:
    session = await require(request)
    return await _page(request, session)


async def _page(
    request: web.Request,
    session: Session,
    errors: list[str] | None = None,
    form: dict[str, str] | None = None,
    status: int = 200,
) -> web.Response:
    services = request.app[SERVICES]
    tz = services.settings.org.timezone
    now = services.clock.now()
    me = session.principal.email
    today = now.astimezone(tz).date().isoformat()
    people = [u for u in await services.users.list() if u.active and u.email != me]
    return render(
        request,
        "delegation.html",
        session,
        TEXT,
        status=status,
        mine=[_view(d, d.delegate, tz, now) for d in await services.delegations.of(me)],
        to_me=[_view(d, d.user, tz, now) for d in await services.delegations.to(me)],
        people=people,
        capacities=CAPACITIES,
        errors=errors or [],
        form=form or {"from": today, "until": today, "delegate": "", "capacity": "KT"},
        today=today,
        zone=str(tz),
    )


def _view(d: Delegation, person: Any, tz: Any, now: datetime) -> dict[str, Any]:
    """A delegation in office days (its last day is the one before it ends at midnight);
    `person`: the other side of it."""
    last = (d.ends_at.astimezone(tz) - timedelta(microseconds=1)).date()
    return {
        "id": d.id,
        "person": person,
        "capacity": d.capacity,
        "from": d.starts_at.astimezone(tz).strftime("%d/%m/%Y"),
        "until": last.strftime("%d/%m/%Y"),
        "running": d.starts_at <= now,
    }


@routes.post("/delegation")
async def add(request: web.Request) -> web.Response:
    session = await require(request)
    data = await request.post()
    check_csrf(session.csrf, data.get("csrf"))
    services = request.app[SERVICES]
    t = TEXT[_lang(session)]
    form = {k: str(data.get(k, "")).strip() for k in ("from", "until", "delegate", "capacity")}
    tz = services.settings.org.timezone
    errors = []
    first, last = _day(form["from"]), _day(form["until"])
    if first is None or last is None:
        errors.append(t["err_dates"])
    elif last < first:
        errors.append(t["err_order"])
    elif last < services.clock.now().astimezone(tz).date():
        errors.append(t["err_past"])
    delegate = await services.users.get(form["delegate"]) if form["delegate"] else None
    if delegate is None or not delegate.active:
        errors.append(t["err_delegate"].format(email=form["delegate"] or "—"))
    elif delegate.email == session.principal.email:
        errors.append(t["err_self"])
    if form["capacity"].upper().rstrip(".") not in CAPACITIES:
        errors.append(t["err_capacity"])
    if errors or first is None or last is None or delegate is None:
        return await _page(request, session, errors, form, 422)
    starts = datetime.combine(first, datetime.min.time(), tz)
    ends = datetime.combine(last + timedelta(days=1), datetime.min.time(), tz)
    try:
        made = await services.delegations.add(
            session.principal.email, delegate.email, starts, ends, form["capacity"]
        )
    except DocflowError as e:  # what the form could not check
        return await _page(request, session, [str(e)], form, 422)
    await services.access_log.record(
        session.principal.email,
        "delegation_added",
        source="web",
        client=request.remote or "",
        subject=delegate.email,
        delegation=made.id,
        capacity=made.capacity,
        starts_at=starts.isoformat(),
        ends_at=ends.isoformat(),
    )
    return see_other("/delegation")


@routes.post("/delegation/{id:\\d+}/end")
async def end(request: web.Request) -> web.Response:
    """End one of my delegations now (one to come is called off)."""
    session = await require(request)
    data = await request.post()
    check_csrf(session.csrf, data.get("csrf"))
    services = request.app[SERVICES]
    try:
        ended = await services.delegations.end(
            int(request.match_info["id"]), session.principal.email
        )
    except NotFoundError:
        raise web.HTTPNotFound(text="Không có ủy quyền này / No such delegation") from None
    await services.access_log.record(
        session.principal.email,
        "delegation_ended",
        source="web",
        client=request.remote or "",
        subject=ended.delegate.email,
        delegation=ended.id,
        ends_at=ended.ends_at.isoformat(),
    )
    return see_other("/delegation")


def _day(value: str) -> date | None:
    try:
        day = date.fromisoformat(value)
    except ValueError:
        return None
    return day if day.year < 9999 else None  # the day after must exist
