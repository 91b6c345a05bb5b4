"""Everyone with an account signs in; archivists and admins search; approvers' links grant
nothing more; tokens for automation."""
# aiohttp keeps no cookies of an IP-address host unless its jar is "unsafe"; browsers do

from __future__ import annotations

import re
from datetime import timedelta
from http.cookies import SimpleCookie

import aiohttp

from tests.conftest import Stack
from tests.integration.conftest import ClockedStack

ARCHIVIST = "luutru@bandantoc.gov.vn"
PASSWORD = "Lưu trữ 2026 an toàn"
STAFF = "thu.lt@bandantoc.gov.vn"
CSRF = re.compile(r'name="csrf" value="([0-9a-f]+)"')


async def archivist(stack: Stack, roles: list[str] | None = None, email: str = ARCHIVIST) -> None:
    await stack.add_user(email, "Đỗ Thị Lưu", roles or ["archivist"])
    await stack.services.accounts.set_password(email, PASSWORD)


async def log_in(
    http: aiohttp.ClientSession, base: str, email: str, password: str, csrf: str | None = None
) -> aiohttp.ClientResponse:
    """Open the login page and submit it, as a browser does (redirects not followed)."""
    async with http.get(f"{base}/login?next=/archive") as r:
        assert r.status == 200
        page = await r.text()
    found = CSRF.search(page)
    assert found
    form = {
        "csrf": csrf or found.group(1),
        "email": email,
        "password": password,
        "next": "/archive",
    }
    async with http.post(f"{base}/login", data=form, allow_redirects=False) as r:
        await r.read()
        return r


def cookie_attributes(response: aiohttp.ClientResponse, name: str) -> dict[str, str]:
    for header in response.headers.getall("Set-Cookie", []):
        jar: SimpleCookie = SimpleCookie()
        jar.load(header)
        if name in jar:
            morsel = jar[name]
            attrs = {k: str(v) for k, v in morsel.items() if v}
            attrs["value"] = morsel.value
            return attrs
    raise AssertionError(f"no Set-Cookie for {name}")


async def test_login_gives_an_httponly_session_and_logout_ends_it(stack: Stack) -> None:
    await archivist(stack)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        refused = await log_in(http, stack.base, ARCHIVIST, PASSWORD, csrf="0" * 32)
        assert refused.status == 403, "the login form needs its own CSRF value"
        wrong = await log_in(http, stack.base, ARCHIVIST, "mật khẩu sai rồi")
        assert wrong.status == 401 and "không đúng" in await wrong.text()

        ok = await log_in(http, stack.base, ARCHIVIST.upper(), PASSWORD)
        assert ok.status == 303 and ok.headers["Location"] == "/archive"
        cookie = cookie_attributes(ok, "docflow_session")
        assert cookie["httponly"] and cookie["samesite"] == "Lax" and cookie["path"] == "/"
        assert not cookie.get("secure"), "plain HTTP on loopback"
        assert await stack.services.accounts.session(cookie["value"]) is not None

        async with http.post(f"{stack.base}/logout", data={"csrf": "nope"}) as r:
            assert r.status == 403, "logging out is a form with the session's CSRF value"
        principal, csrf = await stack.services.accounts.session(cookie["value"]) or (None, "")
        assert principal is not None and principal.email == ARCHIVIST
        async with http.post(
            f"{stack.base}/logout", data={"csrf": csrf}, allow_redirects=False
        ) as r:
            assert r.status == 303 and r.headers["Location"] == "/login"
        assert await stack.services.accounts.session(cookie["value"]) is None


async def test_five_wrong_passwords_lock_the_account_for_a_while(clocked: ClockedStack) -> None:
    await archivist(clocked)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        for _ in range(4):
            assert (await log_in(http, clocked.base, ARCHIVIST, "sai mật khẩu!!")).status == 401
        fifth = await log_in(http, clocked.base, ARCHIVIST, "sai mật khẩu!!")
        assert fifth.status == 429 and "tạm khóa" in await fifth.text()
        still = await log_in(http, clocked.base, ARCHIVIST, PASSWORD)
        assert still.status == 429, "the right password does not open a locked account"
        clocked.clock.advance(timedelta(minutes=16))
        assert (await log_in(http, clocked.base, ARCHIVIST, PASSWORD)).status == 303


async def test_staff_sign_in_but_only_archivists_and_admins_search(stack: Stack) -> None:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.get(f"{stack.base}/archive", allow_redirects=False) as r:
            assert r.status == 303 and r.headers["Location"].startswith("/login?next=/archive")
        await archivist(stack, ["staff"], email=STAFF)  # a password, but no archive role
        assert (await log_in(http, stack.base, STAFF, PASSWORD)).status == 303
        async with http.get(f"{stack.base}/archive", allow_redirects=False) as r:
            assert r.status == 403
        async with http.get(f"{stack.base}/api/v1/search?q=dan+toc") as r:
            assert r.status == 401, "a browser session is no API token"


async def test_api_tokens_act_with_their_users_roles_until_revoked(stack: Stack) -> None:
    await archivist(stack)
    await stack.add_user("quantri@bandantoc.gov.vn", "Quản trị", ["admin"])
    reader = await stack.services.accounts.add_token("tra cứu", ARCHIVIST)
    admin = await stack.services.accounts.add_token("đồng bộ", "quantri@bandantoc.gov.vn")
    assert (await stack.api("/api/v1/registers", token=reader))[0] == 200
    assert (await stack.api("/api/v1/documents", token=reader))[0] == 403
    assert (await stack.api("/api/v1/tasks", token=reader))[0] == 403
    assert (await stack.api("/api/v1/documents", token=admin))[0] == 200
    listed = await stack.services.accounts.tokens()
    assert [(t["name"], t["revoked"]) for t in listed] == [("tra cứu", False), ("đồng bộ", False)]
    assert all(reader not in str(t) for t in listed), "the token itself is never shown again"
    await stack.services.accounts.revoke_token(int(str(listed[0]["id"])))
    assert (await stack.api("/api/v1/registers", token=reader))[0] == 401
