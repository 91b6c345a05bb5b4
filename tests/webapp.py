"""Signed-in browsers and HTTP clients for the web app's tests.

The sign-in itself is tested in tests/integration/test_signin.py (by password and by
mailed link); other tests open a session the quick way, through the accounts service,
and hand its cookie to aiohttp or to a Playwright context.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

import aiohttp
from playwright.async_api import Browser, BrowserContext

from docflow.users.models import User
from docflow.web.pages import SESSION_COOKIE
from tests.conftest import Stack

PHONE = {"width": 390, "height": 844}
DESK = {"width": 1280, "height": 900}
CSRF = re.compile(r'name="csrf" value="([0-9a-f]+)"')


async def session_token(stack: Stack, email: str) -> str:
    user = await User.get(email=email.lower())
    return (await stack.services.accounts.open_session(user)).token


@asynccontextmanager
async def http_as(stack: Stack, email: str) -> AsyncIterator[aiohttp.ClientSession]:
    """An aiohttp client carrying `email`'s session cookie (no redirects followed by
    default is the caller's choice per request)."""
    token = await session_token(stack, email)
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar) as http:
        jar.update_cookies({SESSION_COOKIE: token}, aiohttp.client.URL(stack.base))
        yield http


async def csrf_of(http: aiohttp.ClientSession, url: str) -> str:
    """The CSRF value of the forms on a page (the session's own)."""
    async with http.get(url) as r:
        assert r.status == 200, (url, r.status)
        found = CSRF.search(await r.text())
    assert found, f"no form on {url}"
    return found.group(1)


@asynccontextmanager
async def browser_as(
    browser: Browser,
    stack: Stack,
    email: str,
    viewport: dict[str, int] | None = None,
    locale: str = "vi-VN",
) -> AsyncIterator[BrowserContext]:
    """A Playwright context signed in as `email` (a phone screen unless told otherwise)."""
    token = await session_token(stack, email)
    context = await browser.new_context(viewport=viewport or PHONE, locale=locale)  # type: ignore[arg-type]
    host = urlsplit(stack.base).hostname or "127.0.0.1"
    await context.add_cookies(
        [{"name": SESSION_COOKIE, "value": token, "domain": host, "path": "/"}]
    )
    try:
        yield context
    finally:
        await context.close()
