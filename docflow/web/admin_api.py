"""JSON API of the admin's work on users and the quarantine: what /admin/users and
/admin/quarantine do, for admins' tokens (the middleware refuses others), audited with
source "api"."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from aiohttp import web

from docflow.errors import InvalidRequestError
from docflow.intake import quarantine as q
from docflow.web.admin_common import Actor, entry_id
from docflow.web.admin_quarantine import raw_message
from docflow.web.keys import PRINCIPAL, SERVICES
from docflow.web.pages import digits

routes = web.RouteTableDef()
USER_FIELDS = ("name", "roles", "language", "active")


def _actor(request: web.Request) -> Actor:
    principal = request[PRINCIPAL]
    if not principal.is_admin:  # the middleware refuses them already; never rely on one check
        raise web.HTTPForbidden(text="this token may not do that")
    return Actor.of(request, principal.email, "api")


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise InvalidRequestError("the body must be a JSON object") from None
    if not isinstance(body, dict):
        raise InvalidRequestError("the body must be a JSON object")
    return body


def _text(body: dict[str, Any], key: str, default: str | None = None) -> str:
    value = body.get(key, default)
    if not isinstance(value, str):
        raise InvalidRequestError(f"{key} must be text")
    return value


def _roles(value: object) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(r, str) for r in value):
        raise InvalidRequestError('roles must be a list of role names, such as ["staff"]')
    return value


# --- users ---------------------------------------------------------------------------


@routes.get("/api/v1/users")
async def list_users(request: web.Request) -> web.Response:
    _actor(request)
    users = await request.app[SERVICES].users.list()
    return web.json_response({"items": [asdict(u) for u in users], "next": None})


@routes.post("/api/v1/users")
async def add_user(request: web.Request) -> web.Response:
    actor = _actor(request)
    body = await _body(request)
    default_language = request.app[SERVICES].settings.org.default_language
    added = await actor.add_user(
        _text(body, "email", ""),
        _text(body, "name", ""),
        _roles(body.get("roles", ["staff"])),
        _text(body, "language", default_language),
    )
    return web.json_response(
        asdict(added), status=201, headers={"Location": f"/api/v1/users/{added.email}"}
    )


@routes.get("/api/v1/users/{email}")
async def get_user(request: web.Request) -> web.Response:
    _actor(request)
    user = await request.app[SERVICES].users.find(request.match_info["email"])
    return web.json_response(asdict(user))


@routes.patch("/api/v1/users/{email}")
async def change_user(request: web.Request) -> web.Response:
    """Any of name, roles (the whole set), language, active; each change audited."""
    actor = _actor(request)
    body = await _body(request)
    unknown = sorted(set(body) - set(USER_FIELDS))
    if unknown:
        raise InvalidRequestError(f"unknown fields {unknown}; expected some of {USER_FIELDS}")
    # every value checked before anything changes
    name = _text(body, "name") if "name" in body else None
    roles = _roles(body["roles"]) if "roles" in body else None
    language = _text(body, "language") if "language" in body else None
    active = body.get("active")
    if active is not None and not isinstance(active, bool):
        raise InvalidRequestError("active must be true or false")
    email = request.match_info["email"]
    user = await request.app[SERVICES].users.find(email)
    if name is not None and name.strip() != user.name:
        user = await actor.set_name(email, name)
    if roles is not None:
        user = await actor.set_roles(email, roles)
    if language is not None and language != user.language:
        user = await actor.set_language(email, language)
    if active is not None and active != user.active:
        user = await actor.set_active(email, active)
    return web.json_response(asdict(user))


@routes.post("/api/v1/users/{email}/signin-link")
async def signin_link(request: web.Request) -> web.Response:
    actor = _actor(request)
    user = await request.app[SERVICES].users.find(request.match_info["email"])
    await actor.send_signin_link(user.email)
    return web.json_response({"email": user.email, "sent": True}, status=202)


# --- the quarantine ----------------------------------------------------------------------


def _limit(request: web.Request) -> int:
    raw = request.query.get("limit", "100")
    if not digits(raw) or not 1 <= int(raw) <= 1000:
        raise InvalidRequestError("limit must be a whole number between 1 and 1000")
    return int(raw)


@routes.get("/api/v1/quarantine")
async def list_quarantine(request: web.Request) -> web.Response:
    _actor(request)
    discarded = request.query.get("discarded", "") in ("1", "true", "yes")
    items = await q.list_entries(_limit(request), discarded=discarded)
    return web.json_response({"items": items, "next": None})


@routes.get("/api/v1/quarantine/{id}")
async def get_entry(request: web.Request) -> web.Response:
    _actor(request)
    row = await q.find_entry(entry_id(request))
    try:
        raw = await request.app[SERVICES].spool.read(row.spool_name)
    except OSError:
        raw = b""
    view = q.entry_view(row)
    view["headers"] = [{"name": n, "value": v} for n, v in q.header_lines(raw)]
    return web.json_response(view)


@routes.get("/api/v1/quarantine/{id}/raw")
async def get_raw(request: web.Request) -> web.Response:
    _actor(request)
    return await raw_message(request, entry_id(request))


@routes.post("/api/v1/quarantine/{id}/release")
async def release(request: web.Request) -> web.Response:
    actor = _actor(request)
    inbound_id = entry_id(request)
    outcome = await actor.release(inbound_id)
    return web.json_response({"id": inbound_id, **asdict(outcome)})


@routes.post("/api/v1/quarantine/{id}/discard")
async def discard(request: web.Request) -> web.Response:
    actor = _actor(request)
    return web.json_response(await actor.discard(entry_id(request)))
