"""Bad input to the web app gets a clear answer, never a 500 or a redirect elsewhere."""

from __future__ import annotations

import aiohttp

from tests.conftest import Stack
from tests.integration.test_accounts import PASSWORD, archivist
from tests.webapp import CSRF, csrf_of, http_as

ADMIN = "quantri@bandantoc.gov.vn"
DEPUTY = "khoa.pv@bandantoc.gov.vn"


async def test_sign_in_never_redirects_off_the_site(stack: Stack) -> None:
    await archivist(stack, ["archivist"], email=ADMIN)
    for hostile in (
        "/\t/evil.example",
        "//evil.example",
        "/\\evil.example",
        "https://evil.example",
    ):
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            async with http.get(f"{stack.base}/login", params={"next": hostile}) as r:
                found = CSRF.search(await r.text())
            assert found
            form = {"csrf": found.group(1), "email": ADMIN, "password": PASSWORD, "next": hostile}
            async with http.post(f"{stack.base}/login", data=form, allow_redirects=False) as r:
                assert r.status == 303 and r.headers["Location"] == "/", hostile


async def test_an_overlong_address_is_just_a_wrong_one(stack: Stack) -> None:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.get(f"{stack.base}/login") as r:
            found = CSRF.search(await r.text())
        assert found
        form = {"csrf": found.group(1), "email": "a" * 400 + "@x.vn", "password": "x" * 12}
        async with http.post(f"{stack.base}/login", data=form) as r:
            assert r.status == 401
        async with http.post(f"{stack.base}/login/link", data=form) as r:
            assert r.status == 200


async def test_odd_numbers_and_dates_in_queries_get_400_or_a_page(stack: Stack) -> None:
    await stack.add_user(ADMIN, "Trần Quản Trị", ["admin"])
    await stack.add_user(DEPUTY, "Phạm Văn Khoa")
    async with http_as(stack, ADMIN) as http:
        for path in ("/reports/paper?year=²", "/registers/KH?year=" + "9" * 5000):
            async with http.get(stack.base + path) as r:
                assert r.status == 400, path
        for path in (
            "/tasks?from=" + "9" * 30,
            "/documents?page=" + "9" * 30,
            "/admin/audit?until=9999-12-31",
            "/admin/audit?code=not-a-code",
        ):
            async with http.get(stack.base + path) as r:
                assert r.status in (200, 400), (path, r.status)
        csrf = await csrf_of(http, f"{stack.base}/delegation")
        form = {
            "csrf": csrf,
            "from": "2026-12-01",
            "until": "9999-12-31",
            "delegate": DEPUTY,
            "capacity": "KT",
        }
        async with http.post(f"{stack.base}/delegation", data=form) as r:
            assert r.status == 422
