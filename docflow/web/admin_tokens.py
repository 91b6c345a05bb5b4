"""The admin's API tokens (create, shown once; revoke) and the audit search: the access
log by who, what and when, and one document's audit trail by its tracking code."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from aiohttp import web

from docflow.errors import NotFoundError
from docflow.web.admin_common import (
    PROBLEMS,
    Actor,
    admin_form,
    done_of,
    local_of,
    require_admin,
    with_nav,
)
from docflow.web.auth import see_other
from docflow.web.keys import SERVICES
from docflow.web.pages import Session, language_of, render

routes = web.RouteTableDef()
ACTIONS = (
    "sign_in",
    "sign_in_refused",
    "sign_out",
    "sign_in_link_sent",
    "user_add",
    "user_role_add",
    "user_role_remove",
    "user_roles",
    "user_language",
    "user_name",
    "user_deactivate",
    "user_reactivate",
    "token_add",
    "token_revoke",
    "quarantine_release",
    "quarantine_discard",
    "outbox_retry",
)

TEXT = with_nav(
    {
        "vi": {
            "intro": "Mỗi khóa hoạt động với vai trò của người dùng gắn với nó: khóa của người "
            "quản trị làm được mọi việc, khóa của người lưu trữ chỉ đọc kho lưu trữ.",
            "name": "Tên khóa (để nhận ra chương trình dùng nó)",
            "user": "Người dùng",
            "token_name": "Khóa",
            "no_token_name": "Hãy đặt tên cho khóa.",
            "create": "Tạo khóa",
            "none": "Chưa có khóa API nào.",
            "created": "Tạo lúc",
            "last_used": "Dùng lần cuối",
            "never": "chưa dùng",
            "revoked": "đã thu hồi",
            "revoke": "Thu hồi",
            "made_title": "Khóa API mới",
            "made": "Hãy chép khóa này ngay: docflow chỉ lưu mã băm của nó và sẽ không hiện lại.",
            "made_for": "Khóa của",
            "back": "Danh sách khóa API",
            "done_revoked": "Đã thu hồi khóa.",
            # audit
            "actor": "Người thực hiện (một phần địa chỉ)",
            "who": "Người thực hiện",
            "action": "Hành động",
            "any": "Tất cả",
            "from": "Từ ngày",
            "until": "Đến ngày",
            "search": "Tìm",
            "at": "Lúc",
            "subject": "Đối tượng",
            "source": "Nguồn",
            "client": "Địa chỉ máy",
            "detail": "Chi tiết",
            "no_events": "Không có sự kiện nào.",
            "latest": "Mới nhất trước; tối đa 200 sự kiện.",
            "document": "Nhật ký của một văn bản",
            "events": "Đăng nhập và việc quản trị",
            "code": "Mã theo dõi (DF-…)",
            "show": "Xem",
            "no_document": "Không có văn bản mang mã này.",
            "stage": "Bước",
            "version": "Phiên bản",
            "bad_date": "Ngày phải có dạng NNNN-TT-NN.",
        },
        "en": {
            "intro": "Each token acts with its user's roles: an admin's does everything, an "
            "archivist's reads the archive.",
            "name": "Token name (to tell which program uses it)",
            "user": "User",
            "token_name": "Token",
            "no_token_name": "Please name the token.",
            "create": "Create token",
            "none": "No API token yet.",
            "created": "Created",
            "last_used": "Last used",
            "never": "never",
            "revoked": "revoked",
            "revoke": "Revoke",
            "made_title": "New API token",
            "made": "Copy this token now: docflow keeps only its hash and will not show it again.",
            "made_for": "Token of",
            "back": "All API tokens",
            "done_revoked": "Token revoked.",
            "actor": "Actor (part of an address)",
            "who": "Actor",
            "action": "Action",
            "any": "Any",
            "from": "From",
            "until": "Until",
            "search": "Search",
            "at": "At",
            "subject": "Subject",
            "source": "Source",
            "client": "Client",
            "detail": "Detail",
            "no_events": "No event found.",
            "latest": "Latest first; at most 200 events.",
            "document": "One document's audit trail",
            "events": "Sign-ins and admin actions",
            "code": "Tracking code (DF-…)",
            "show": "Show",
            "no_document": "No document has this code.",
            "stage": "Stage",
            "version": "Version",
            "bad_date": "A date is written YYYY-MM-DD.",
        },
    }
)


async def _tokens_page(
    request: web.Request,
    session: Session,
    problem: str | None = None,
    form: dict[str, str] | None = None,
) -> web.Response:
    services = request.app[SERVICES]
    return render(
        request,
        "admin_tokens.html",
        session,
        TEXT,
        status=422 if problem else 200,
        tokens=await services.accounts.tokens(),
        users=[u.email for u in await services.users.list() if u.active],
        local=local_of(services),
        form=form or {},
        problem=problem,
        done=done_of(request, TEXT),
    )


@routes.get("/admin/tokens")
async def tokens_page(request: web.Request) -> web.Response:
    return await _tokens_page(request, await require_admin(request))


@routes.post("/admin/tokens")
async def create_token(request: web.Request) -> web.StreamResponse:
    """A new token, shown on this answer only (not stored, not logged, not cached)."""
    session, form = await admin_form(request)
    services = request.app[SERVICES]
    lang = language_of(request, session)
    name = str(form.get("name", "")).strip()
    email = str(form.get("user", "")).strip().lower()
    user = await services.users.get(email)
    problem = None
    if not name:
        problem = TEXT[lang]["no_token_name"]
    elif user is None:
        problem = PROBLEMS[lang]["no_user"].format(email)
    elif not user.active:
        problem = PROBLEMS[lang]["inactive"].format(email)
    if problem or user is None:
        return await _tokens_page(request, session, problem, {"name": name, "user": email})
    token = await services.accounts.add_token(name, user.email)
    made = [t for t in await services.accounts.tokens() if t["user"] == user.email]
    made_id = max((int(str(t["id"])) for t in made if t["name"] == name), default=None)
    actor = Actor.of(request, session.principal.email, "web")
    await actor.audit("token_add", user.email, token_id=made_id, name=name)
    response = render(
        request, "admin_token_made.html", session, TEXT, token=token, name=name, user=user
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@routes.post("/admin/tokens/{id:[0-9]+}/revoke")
async def revoke_token(request: web.Request) -> web.StreamResponse:
    session, _ = await admin_form(request)
    services = request.app[SERVICES]
    token_id = int(request.match_info["id"])
    found = [t for t in await services.accounts.tokens() if t["id"] == token_id]
    if not found:
        raise NotFoundError(f"no API token {token_id}")
    await services.accounts.revoke_token(token_id)
    actor = Actor.of(request, session.principal.email, "web")
    await actor.audit(
        "token_revoke", str(found[0]["user"]), token_id=token_id, name=found[0]["name"]
    )
    return see_other("/admin/tokens?done=done_revoked")


def _day(value: str) -> date | None:
    """A date of the form (ValueError for anything else, the last day of year 9999 too:
    the search goes to the day after)."""
    day = date.fromisoformat(value) if value else None
    if day is not None and day.year >= 9999:
        raise ValueError(value)
    return day


def detail_text(detail: Any) -> str:
    """An event's detail as `key: value; …`."""
    if not isinstance(detail, dict):
        return str(detail or "")
    parts = []
    for k, v in detail.items():
        if isinstance(v, list):
            v = ", ".join(map(str, v))
        if v not in (None, "", []):
            parts.append(f"{k}: {v}")
    return "; ".join(parts)


@routes.get("/admin/audit")
async def audit_page(request: web.Request) -> web.Response:
    session = await require_admin(request)
    services = request.app[SERVICES]
    tz = services.settings.org.timezone
    query = request.query
    problem = None
    try:
        since, until = _day(query.get("from", "")), _day(query.get("until", ""))
    except ValueError:
        since = until = None
        problem = TEXT[language_of(request, session)]["bad_date"]
    events = await services.access_log.search(
        actor=query.get("actor", ""),
        action=query.get("action", ""),
        since=datetime.combine(since, time.min, tz) if since else None,
        until=datetime.combine(until + timedelta(days=1), time.min, tz) if until else None,
    )
    code = query.get("code", "").strip().upper()
    trail = None
    if code:
        try:
            doc = await services.documents.by_code(code)
        except NotFoundError:  # not even the shape of a code
            doc = None
        trail = await services.journal.events(doc.id) if doc else []
    return render(
        request,
        "admin_audit.html",
        session,
        TEXT,
        status=400 if problem else 200,
        params=query,
        actions=ACTIONS,
        events=events,
        code=code,
        trail=trail,
        detail_text=detail_text,
        local=local_of(services),
        problem=problem,
    )
