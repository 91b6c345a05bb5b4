"""Logging in and out (archivists, admins), and who a page request comes from.

The login form is protected by a double-submit CSRF value (a random cookie that the
form repeats); a session's own forms carry the session's CSRF value. The session
cookie is HttpOnly, SameSite=Lax, and Secure whenever docflow is served over TLS
(the request is HTTPS, or the base URL is https).
"""

from __future__ import annotations

import hmac
import secrets
from typing import Any

import aiohttp_jinja2
from aiohttp import web

from docflow.users.accounts import SESSION_TIME, LoginRefused, Principal
from docflow.web.keys import SERVICES

routes = web.RouteTableDef()
SESSION_COOKIE = "docflow_session"
LOGIN_COOKIE = "docflow_login"

TEXT = {
    "vi": {
        "title": "Đăng nhập",
        "email": "Thư điện tử",
        "password": "Mật khẩu",
        "submit": "Đăng nhập",
        "invalid": "Thư điện tử hoặc mật khẩu không đúng.",
        "locked": "Tài khoản tạm khóa vì nhập sai nhiều lần; hãy thử lại sau 15 phút.",
        "expired": "Phiên làm việc đã hết hạn; hãy đăng nhập lại.",
        "note": "Dành cho văn thư, lưu trữ và quản trị. Người duyệt văn bản không cần "
        "đăng nhập: hãy dùng đường dẫn trong thư.",
    },
    "en": {
        "title": "Log in",
        "email": "E-mail",
        "password": "Password",
        "submit": "Log in",
        "invalid": "Wrong e-mail address or password.",
        "locked": "The account is locked after too many failures; try again in 15 minutes.",
        "expired": "Your session has ended; please log in again.",
        "note": "For clerks, archivists and admins. Approvers need no account: use the "
        "links in your mail.",
    },
}


def language_of(request: web.Request, principal: Principal | None = None) -> str:
    if principal is not None:
        return "en" if principal.language == "en" else "vi"
    asked = request.query.get("lang") or request.headers.get("Accept-Language") or ""
    return "en" if asked.lower().startswith("en") else "vi"


def secure(request: web.Request) -> bool:
    return request.secure or request.app[SERVICES].settings.http.base_url.startswith("https:")


def _safe_next(value: str | None) -> str:
    """Only a path on this site: never an open redirect."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/archive"


async def page_principal(request: web.Request) -> tuple[Principal, str] | None:
    """The logged-in principal and its CSRF value, from the session cookie."""
    token = request.cookies.get(SESSION_COOKIE, "")
    return await request.app[SERVICES].accounts.session(token)


async def require_searcher(request: web.Request) -> tuple[Principal, str]:
    """The archivist or admin behind a page request; otherwise off to the login page."""
    found = await page_principal(request)
    if found is None:
        raise web.HTTPSeeOther(f"/login?next={request.path_qs}")
    if not found[0].may_search:
        raise web.HTTPForbidden(text="Không có quyền / Not allowed")
    return found


def see_other(location: str) -> web.Response:
    return web.Response(status=303, headers={"Location": location})


def check_csrf(expected: str, given: object) -> None:
    if not expected or not hmac.compare_digest(expected, str(given or "")):
        raise web.HTTPForbidden(text="Yêu cầu không hợp lệ (CSRF) / Invalid request (CSRF)")


def _login_page(
    request: web.Request, lang: str, problem: str | None, status: int = 200
) -> web.Response:
    csrf = request.cookies.get(LOGIN_COOKIE) or secrets.token_hex(16)
    context: dict[str, Any] = {
        "lang": lang,
        "t": TEXT[lang],
        "problem": TEXT[lang][problem] if problem else None,
        "csrf": csrf,
        "next": _safe_next(request.query.get("next")),
    }
    response = aiohttp_jinja2.render_template("login.html", request, context, status=status)
    response.set_cookie(
        LOGIN_COOKIE, csrf, httponly=True, samesite="Strict", secure=secure(request), path="/"
    )
    return response


@routes.get("/login")
async def login_form(request: web.Request) -> web.Response:
    return _login_page(request, language_of(request), None)


@routes.post("/login")
async def log_in(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    check_csrf(request.cookies.get(LOGIN_COOKIE, ""), form.get("csrf"))
    lang = language_of(request)
    try:
        new = await request.app[SERVICES].accounts.log_in(
            str(form.get("email", "")), str(form.get("password", ""))
        )
    except LoginRefused as refused:
        status = 429 if refused.reason == "locked" else 401
        return _login_page(request, lang, refused.reason, status)
    response = see_other(_safe_next(str(form.get("next", ""))))
    response.set_cookie(
        SESSION_COOKIE,
        new.token,
        httponly=True,
        samesite="Lax",
        secure=secure(request),
        path="/",
        max_age=int(SESSION_TIME.total_seconds()),
    )
    response.del_cookie(LOGIN_COOKIE, path="/")
    return response


@routes.post("/logout")
async def log_out(request: web.Request) -> web.StreamResponse:
    found = await page_principal(request)
    if found is not None:
        form = await request.post()
        check_csrf(found[1], form.get("csrf"))
        await request.app[SERVICES].accounts.log_out(request.cookies.get(SESSION_COOKIE, ""))
    response = see_other("/login")
    response.del_cookie(SESSION_COOKIE, path="/")
    return response
