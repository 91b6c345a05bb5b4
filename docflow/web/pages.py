"""What every page of the web app shares: who is signed in, the language, the words of
the navigation, and rendering with them.

A page's words come from its own `TEXT = {"vi": {...}, "en": {...}}`; templates read them
as `t.key`. A key missing in one language is an error (`UntranslatedText`), never an
empty place on the page, so that a test rendering every page in both languages finds it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import aiohttp_jinja2
from aiohttp import web

from docflow.users.accounts import Principal
from docflow.web.keys import SERVICES

SESSION_COOKIE = "docflow_session"
LANGUAGE_COOKIE = "docflow_lang"  # the choice of someone not signed in

NAV = {
    "vi": {
        "home": "Trang chủ",
        "documents": "Văn bản của tôi",
        "tasks": "Việc cần duyệt",
        "delegation": "Ủy quyền",
        "archive": "Lưu trữ",
        "registers": "Sổ văn bản đi",
        "paper": "Giấy đã tiết kiệm",
        "timeliness": "Đúng hạn",
        "admin": "Quản trị",
        "logout": "Đăng xuất",
        "language": "Ngôn ngữ",
        "switch": "English",
        "skip": "Bỏ qua điều hướng",
        "signed_in_as": "Đang đăng nhập:",
    },
    "en": {
        "home": "Home",
        "documents": "My documents",
        "tasks": "Tasks",
        "delegation": "Delegation",
        "archive": "Archive",
        "registers": "Register books",
        "paper": "Paper saved",
        "timeliness": "On time",
        "admin": "Admin",
        "logout": "Sign out",
        "language": "Language",
        "switch": "Tiếng Việt",
        "skip": "Skip to content",
        "signed_in_as": "Signed in:",
    },
}


def digits(raw: str, most: int = 9) -> bool:
    """A plain decimal number of at most `most` digits (`str.isdigit` also takes "²" and
    numbers too long for `int` or the database)."""
    return raw.isascii() and raw.isdigit() and 0 < len(raw) <= most


class UntranslatedText(Exception):
    """A template asked for a word its page has not written in this language."""


class Texts:
    """A page's words in one language; `t.key` and `t[key]` in templates."""

    def __init__(self, words: Mapping[str, str], where: str) -> None:
        self._words = words
        self._where = where

    def __getattr__(self, key: str) -> str:
        if key.startswith("__"):
            raise AttributeError(key)
        return self[key]

    def __getitem__(self, key: str) -> str:
        try:
            return self._words[key]
        except KeyError:
            raise UntranslatedText(f"{self._where}: no text {key!r}") from None

    def __contains__(self, key: object) -> bool:
        return key in self._words


def texts(table: Mapping[str, Mapping[str, str]], lang: str, where: str = "page") -> Texts:
    return Texts(table[lang], f"{where} ({lang})")


@dataclass(frozen=True)
class Session:
    """A signed-in browser: who, and the CSRF value its forms must carry."""

    principal: Principal
    csrf: str


async def session_of(request: web.Request) -> Session | None:
    found = await request.app[SERVICES].accounts.session(request.cookies.get(SESSION_COOKIE, ""))
    return Session(*found) if found else None


def language_of(request: web.Request, session: Session | None = None) -> str:
    """The signed-in user's language; otherwise the one chosen on this browser, `?lang=`,
    or the browser's own."""
    if session is not None:
        return "en" if session.principal.language == "en" else "vi"
    asked = (
        request.query.get("lang")
        or request.cookies.get(LANGUAGE_COOKIE)
        or request.headers.get("Accept-Language")
        or ""
    )
    return "en" if asked.lower().startswith("en") else "vi"


async def require(
    request: web.Request, allowed: Callable[[Principal], bool] | None = None
) -> Session:
    """The signed-in session behind a page; off to the sign-in page without one, and a
    403 page for someone whose roles do not reach this page."""
    session = await session_of(request)
    if session is None:
        raise web.HTTPSeeOther(f"/login?next={quote(request.path_qs, safe='/')}")
    if allowed is not None and not allowed(session.principal):
        raise web.HTTPForbidden(text="Không có quyền / Not allowed")
    return session


def nav_items(p: Principal) -> list[tuple[str, str]]:
    """(path, NAV key) of the pages this user's roles reach, in menu order."""
    items = [("/", "home"), ("/documents", "documents"), ("/tasks", "tasks")]
    items.append(("/delegation", "delegation"))
    if p.may_search:
        items.append(("/archive", "archive"))
    if p.is_clerk:
        items.append(("/registers", "registers"))
    if p.is_leader:
        items += [("/reports/paper", "paper"), ("/reports/timeliness", "timeliness")]
    if p.is_admin:
        items.append(("/admin", "admin"))
    return items


def page_context(
    request: web.Request,
    session: Session | None,
    table: Mapping[str, Mapping[str, str]] | None = None,
    where: str = "page",
) -> dict[str, Any]:
    """The context every page template gets: lang, t (the page's words), nav, me, csrf."""
    lang = language_of(request, session)
    context: dict[str, Any] = {
        "lang": lang,
        "nav_t": texts(NAV, lang, "nav"),
        "path": request.path,
    }
    if table is not None:
        context["t"] = texts(table, lang, where)
    if session is not None:
        context["me"] = session.principal
        context["csrf"] = session.csrf
        context["nav"] = nav_items(session.principal)
    return context


def render(
    request: web.Request,
    template: str,
    session: Session | None,
    table: Mapping[str, Mapping[str, str]] | None = None,
    status: int = 200,
    **extra: Any,
) -> web.Response:
    context = page_context(request, session, table, template)
    context.update(extra)
    return aiohttp_jinja2.render_template(template, request, context, status=status)
