"""Signing in and out (by password or by a one-time link mailed on request), the
language switch, and who a page request comes from.

The sign-in forms are protected by a double-submit CSRF value (a random cookie that
the form repeats); a session's own forms carry the session's CSRF value. The session
cookie is HttpOnly, SameSite=Lax, and Secure whenever docflow is served over TLS (the
request is HTTPS, or the base URL is https). Attempts are limited per address and per
client; every sign-in, refusal and sign-out is in the access log.
"""

from __future__ import annotations

import hmac
import re
import secrets

from aiohttp import web

from docflow.users.accounts import SESSION_TIME, LoginRefused, NewSession, Principal
from docflow.users.service import LANGUAGES
from docflow.web.keys import LIMITS, SERVICES
from docflow.web.pages import (
    LANGUAGE_COOKIE,
    SESSION_COOKIE,
    Session,
    language_of,
    render,
    require,
    session_of,
    texts,
)

routes = web.RouteTableDef()
LOGIN_COOKIE = "docflow_login"
MAX_ADDRESS = 320  # longer is no address docflow holds (and the column's limit)

TEXT = {
    "vi": {
        "title": "Đăng nhập",
        "email": "Thư điện tử",
        "password": "Mật khẩu",
        "submit": "Đăng nhập",
        "or": "Hoặc nhận đường dẫn đăng nhập qua thư",
        "send_link": "Gửi đường dẫn đăng nhập",
        "invalid": "Thư điện tử hoặc mật khẩu không đúng.",
        "locked": "Tài khoản tạm khóa vì nhập sai nhiều lần; hãy thử lại sau 15 phút.",
        "throttled": "Quá nhiều lần thử; hãy đợi 15 phút rồi thử lại.",
        "expired": "Phiên làm việc đã hết hạn; hãy đăng nhập lại.",
        "sent_title": "Hãy xem hộp thư",
        "sent": "Nếu địa chỉ này có tài khoản docflow, một thư với đường dẫn đăng nhập "
        "(dùng một lần, trong 15 phút) vừa được gửi tới đó.",
        "link_title": "Đăng nhập vào docflow",
        "link_for": "Đăng nhập với tư cách",
        "link_button": "Đăng nhập",
        "link_unknown": "Đường dẫn đăng nhập này không tồn tại hoặc đã bị sửa.",
        "link_used": "Đường dẫn đăng nhập này đã được dùng. Hãy xin một đường dẫn mới.",
        "link_expired": "Đường dẫn đăng nhập này đã hết hạn (15 phút). Hãy xin một đường dẫn mới.",
        "again": "Xin đường dẫn mới",
        "note": "Người duyệt văn bản cũng có thể quyết định ngay từ đường dẫn trong thư giao "
        "việc, không cần đăng nhập.",
    },
    "en": {
        "title": "Sign in",
        "email": "E-mail",
        "password": "Password",
        "submit": "Sign in",
        "or": "Or get a sign-in link by mail",
        "send_link": "Mail me a sign-in link",
        "invalid": "Wrong e-mail address or password.",
        "locked": "The account is locked after too many failures; try again in 15 minutes.",
        "throttled": "Too many attempts; wait 15 minutes and try again.",
        "expired": "Your session has ended; please sign in again.",
        "sent_title": "Check your mailbox",
        "sent": "If this address has a docflow account, a mail with a sign-in link (it works "
        "once, for 15 minutes) is on its way to it.",
        "link_title": "Sign in to docflow",
        "link_for": "Sign in as",
        "link_button": "Sign in",
        "link_unknown": "This sign-in link does not exist or has been altered.",
        "link_used": "This sign-in link has already been used. Ask for a new one.",
        "link_expired": "This sign-in link has expired (15 minutes). Ask for a new one.",
        "again": "Ask for a new link",
        "note": "Approvers may also decide straight from the links in their task mail, "
        "without signing in.",
    },
}


def secure(request: web.Request) -> bool:
    return request.secure or request.app[SERVICES].settings.http.base_url.startswith("https:")


def client_of(request: web.Request) -> str:
    return request.remote or ""


SAFE_PATH = re.compile(r"/(?![/\\])[\x21-\x7e]*")  # printable ASCII, no "//" or "/\\"


def _safe_next(value: str | None) -> str:
    """Only a path on this site: never an open redirect (browsers drop tabs and newlines,
    so "/\t/evil.example" would become "//evil.example")."""
    if value and SAFE_PATH.fullmatch(value):
        return value
    return "/"


async def require_searcher(request: web.Request) -> tuple[Principal, str]:
    """The archivist or admin behind a page request; otherwise off to the sign-in page."""
    session = await require(request, lambda p: p.may_search)
    return session.principal, session.csrf


def see_other(location: str) -> web.Response:
    return web.Response(status=303, headers={"Location": location})


def check_csrf(expected: str, given: object) -> None:
    if not expected or not hmac.compare_digest(expected, str(given or "")):
        raise web.HTTPForbidden(text="Yêu cầu không hợp lệ (CSRF) / Invalid request (CSRF)")


def _login_csrf(request: web.Request) -> str:
    return request.cookies.get(LOGIN_COOKIE) or secrets.token_hex(16)


def _with_login_cookie(request: web.Request, response: web.Response, csrf: str) -> web.Response:
    response.set_cookie(
        LOGIN_COOKIE, csrf, httponly=True, samesite="Strict", secure=secure(request), path="/"
    )
    return response


def login_page(
    request: web.Request, problem: str | None = None, status: int = 200, next_path: str = ""
) -> web.Response:
    """The sign-in forms: a password, or a link by mail (also the home page signed out)."""
    csrf = _login_csrf(request)
    t = TEXT[language_of(request)]
    response = render(
        request,
        "login.html",
        None,
        TEXT,
        status=status,
        problem=t[problem] if problem else None,
        login_csrf=csrf,
        next=_safe_next(next_path or request.query.get("next")),
    )
    return _with_login_cookie(request, response, csrf)


def _signed_in(request: web.Request, new: NewSession, to: str) -> web.Response:
    response = see_other(to)
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


@routes.get("/login")
async def login_form(request: web.Request) -> web.Response:
    return login_page(request)


@routes.post("/login")
async def log_in(request: web.Request) -> web.StreamResponse:
    services = request.app[SERVICES]
    form = await request.post()
    check_csrf(request.cookies.get(LOGIN_COOKIE, ""), form.get("csrf"))
    email = str(form.get("email", "")).strip().lower()[:MAX_ADDRESS]
    client = client_of(request)
    next_path = str(form.get("next", ""))
    try:
        if not request.app[LIMITS].password(email, client):
            raise LoginRefused("throttled")
        new = await services.accounts.log_in(email, str(form.get("password", "")))
    except LoginRefused as refused:
        await services.access_log.record(
            email, "sign_in_refused", source="web", client=client, how="password",
            reason=refused.reason,
        )  # fmt: skip
        status = 401 if refused.reason == "invalid" else 429
        return login_page(request, refused.reason, status, next_path)
    await services.access_log.record(email, "sign_in", source="web", client=client, how="password")
    return _signed_in(request, new, _safe_next(next_path))


@routes.get("/login/link")
async def link_form(request: web.Request) -> web.Response:
    return login_page(request)


@routes.post("/login/link")
async def send_link(request: web.Request) -> web.Response:
    """Mails a sign-in link; the answer is the same whether the address is known or not."""
    services = request.app[SERVICES]
    form = await request.post()
    check_csrf(request.cookies.get(LOGIN_COOKIE, ""), form.get("csrf"))
    email = str(form.get("email", "")).strip().lower()[:MAX_ADDRESS]
    client = client_of(request)
    if not request.app[LIMITS].link_mail(email, client):
        return login_page(request, "throttled", 429)
    if await services.signin_mail.send(email):
        await services.access_log.record(email, "sign_in_link_sent", source="web", client=client)
    t = TEXT[language_of(request)]
    return render(request, "message.html", None, TEXT, heading=t["sent_title"], message=t["sent"])


def _link_problem(request: web.Request, reason: str) -> web.Response:
    t = TEXT[language_of(request)]
    return render(
        request,
        "message.html",
        None,
        TEXT,
        status=404 if reason == "link_unknown" else 410,
        heading=t["link_title"],
        message=t[reason],
        action=("/login", t["again"]),
    )


@routes.get("/login/link/{token}")
async def link_page(request: web.Request) -> web.Response:
    """Shows who the link signs in and a button; opening it changes nothing."""
    services = request.app[SERVICES]
    try:
        user = await services.signin_mail.links.check(request.match_info["token"])
    except LoginRefused as refused:
        return _link_problem(request, refused.reason)
    csrf = _login_csrf(request)
    lang = "en" if user.language == "en" else "vi"
    response = render(
        request,
        "signin_link.html",
        None,
        TEXT,
        lang=lang,
        t=texts(TEXT, lang, "signin_link"),
        user=user,
        login_csrf=csrf,
    )
    return _with_login_cookie(request, response, csrf)


@routes.post("/login/link/{token}")
async def use_link(request: web.Request) -> web.StreamResponse:
    services = request.app[SERVICES]
    form = await request.post()
    check_csrf(request.cookies.get(LOGIN_COOKIE, ""), form.get("csrf"))
    client = client_of(request)
    if not request.app[LIMITS].link_use(client):
        return login_page(request, "throttled", 429)
    try:
        new = await services.signin_mail.links.use(request.match_info["token"])
    except LoginRefused as refused:
        await services.access_log.record(
            "", "sign_in_refused", source="web", client=client, how="link", reason=refused.reason
        )
        return _link_problem(request, refused.reason)
    await services.access_log.record(
        new.principal.email, "sign_in", source="web", client=client, how="link"
    )
    return _signed_in(request, new, "/")


@routes.post("/logout")
async def log_out(request: web.Request) -> web.StreamResponse:
    session = await session_of(request)
    if session is not None:
        form = await request.post()
        check_csrf(session.csrf, form.get("csrf"))
        services = request.app[SERVICES]
        await services.accounts.log_out(request.cookies.get(SESSION_COOKIE, ""))
        await services.access_log.record(
            session.principal.email, "sign_out", source="web", client=client_of(request)
        )
    response = see_other("/login")
    response.del_cookie(SESSION_COOKIE, path="/")
    return response


@routes.post("/language")
async def switch_language(request: web.Request) -> web.StreamResponse:
    """vi ⇄ en: kept on the account when signed in, in a cookie otherwise."""
    form = await request.post()
    lang = str(form.get("lang", ""))
    if lang not in LANGUAGES:
        raise web.HTTPBadRequest(text="vi | en")
    session: Session | None = await session_of(request)
    response = see_other(_safe_next(str(form.get("next", ""))))
    if session is not None:
        check_csrf(session.csrf, form.get("csrf"))
        await request.app[SERVICES].accounts.set_language(session.principal.email, lang)
    else:
        check_csrf(request.cookies.get(LOGIN_COOKIE, ""), form.get("csrf"))
        response.set_cookie(
            LANGUAGE_COOKIE,
            lang,
            samesite="Lax",
            path="/",
            max_age=365 * 24 * 3600,
            secure=secure(request),
        )
    return response
