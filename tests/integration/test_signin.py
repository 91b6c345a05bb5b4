"""Everyone signs in: by a one-time link mailed on request (GET shows a button, only the
POST signs in) or by password; sessions end on sign-out; every attempt is audited."""

from __future__ import annotations

import re
from datetime import timedelta

import aiohttp
from playwright.async_api import Browser

from docflow.users.models import AccessEvent, SignInLink, User
from docflow.web.pages import SESSION_COOKIE
from tests.conftest import Stack, wait_for
from tests.integration.conftest import ClockedStack
from tests.integration.test_decision_browser import browser  # noqa: F401 (fixture)
from tests.webapp import CSRF, PHONE

AUTHOR = "thu.lt@bandantoc.gov.vn"
OTHER = "nam.pv@bandantoc.gov.vn"
LINK = re.compile(r"(/login/link/[A-Za-z0-9_-]+)")


async def mailed_link(stack: Stack, address: str, count: int = 1) -> str:
    """The path of the newest sign-in link mailed to `address`."""

    async def mailed() -> list[str]:
        texts = [t for t in stack.relay.texts_to(address) if "/login/link/" in t]
        return texts if len(texts) >= count else []

    found = LINK.search((await wait_for(mailed, what="the sign-in mail"))[-1])
    assert found
    return found.group(1)


async def ask_for_link(http: aiohttp.ClientSession, base: str, email: str) -> int:
    async with http.get(f"{base}/login") as r:
        found = CSRF.search(await r.text())
    assert found
    async with http.post(f"{base}/login/link", data={"csrf": found.group(1), "email": email}) as r:
        await r.read()
        return r.status


async def test_author_signs_in_by_mailed_link_and_switches_to_english(
    stack: Stack,
    browser: Browser,  # noqa: F811
) -> None:
    await stack.add_user(AUTHOR, "Lê Thị Thu", ["staff"])
    context = await browser.new_context(viewport=PHONE, locale="vi-VN")
    try:
        page = await context.new_page()
        await page.goto(f"{stack.base}/")
        assert await page.locator("h1").inner_text() == "Đăng nhập"
        await page.fill("#link-email", AUTHOR)
        async with page.expect_navigation():
            await page.get_by_role("button", name="Gửi đường dẫn đăng nhập").click()
        assert "Hãy xem hộp thư" in await page.locator("h1").inner_text()

        path = await mailed_link(stack, AUTHOR)
        await page.goto(stack.base + path)
        assert "Lê Thị Thu" in await page.locator("main").inner_text()
        await page.goto(stack.base + path)  # opened twice (a scanner, a second look)
        assert await SignInLink.filter(used_at__isnull=False).count() == 0, "GET used the link"
        async with page.expect_navigation():
            await page.get_by_role("button", name="Đăng nhập").click()
        assert await page.locator("h1").inner_text() == "Xin chào, Lê Thị Thu"
        assert await page.get_attribute("html", "lang") == "vi"

        async with page.expect_navigation():
            await page.get_by_role("button", name="English").click()
        assert await page.locator("h1").inner_text() == "Hello, Lê Thị Thu"
        assert await page.get_attribute("html", "lang") == "en"
        assert (await User.get(email=AUTHOR)).language == "en", "remembered on the account"
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], f"horizontal scroll: {width}px wide"
    finally:
        await context.close()
    event = await AccessEvent.filter(action="sign_in").first()
    assert event is not None and event.actor == AUTHOR and event.detail["how"] == "link"


async def test_used_expired_and_forged_sign_in_links_are_refused_with_a_page(
    clocked: ClockedStack,
) -> None:
    await clocked.add_user(AUTHOR, "Lê Thị Thu", ["staff"])
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar) as http:
        assert await ask_for_link(http, clocked.base, AUTHOR) == 200
        path = await mailed_link(clocked, AUTHOR)
        async with http.get(clocked.base + path) as r:
            csrf = CSRF.search(await r.text())
        assert csrf
        form = {"csrf": csrf.group(1)}
        async with http.post(clocked.base + path, data=form, allow_redirects=False) as r:
            assert r.status == 303 and SESSION_COOKIE in r.cookies
        async with http.get(clocked.base + path) as r:
            assert r.status == 410 and "đã được dùng" in await r.text()

        assert await ask_for_link(http, clocked.base, AUTHOR) == 200
        second = await mailed_link(clocked, AUTHOR, count=2)
        clocked.clock.advance(timedelta(minutes=16))
        async with http.get(clocked.base + second) as r:
            assert r.status == 410 and "hết hạn" in await r.text()
        async with http.get(f"{clocked.base}/login") as r:
            fresh = CSRF.search(await r.text())
        assert fresh
        data = {"csrf": fresh.group(1)}
        async with http.post(clocked.base + second, data=data, allow_redirects=False) as r:
            assert r.status == 410, "an expired link signs nobody in, even posted"

        forged = second[:-4] + ("AAAA" if not second.endswith("AAAA") else "BBBB")
        async with http.get(clocked.base + forged) as r:
            assert r.status == 404 and "không tồn tại" in await r.text()
    reasons = [e.detail["reason"] for e in await AccessEvent.filter(action="sign_in_refused")]
    assert reasons == ["link_expired"], "each refused POST is audited (a GET is only a look)"


async def test_an_unknown_address_gets_the_same_answer_and_no_mail(stack: Stack) -> None:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        assert await ask_for_link(http, stack.base, "nobody@bandantoc.gov.vn") == 200
    await stack.settled()
    assert stack.relay.to("nobody@bandantoc.gov.vn") == []


async def test_link_requests_are_limited_per_address(stack: Stack) -> None:
    await stack.add_user(AUTHOR, "Lê Thị Thu", ["staff"])
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        answers = [await ask_for_link(http, stack.base, AUTHOR) for _ in range(4)]
    assert answers == [200, 200, 200, 429]
    await stack.settled()
    assert len(stack.relay.to(AUTHOR)) == 3


async def test_sign_in_without_the_form_csrf_is_refused(stack: Stack) -> None:
    await stack.add_user(AUTHOR, "Lê Thị Thu", ["staff"])
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        assert await ask_for_link(http, stack.base, AUTHOR) == 200
        path = await mailed_link(stack, AUTHOR)
        async with http.post(stack.base + path, data={}, allow_redirects=False) as r:
            assert r.status == 403
    assert await SignInLink.filter(used_at__isnull=False).count() == 0


async def test_sign_out_ends_the_session_on_the_server(stack: Stack) -> None:
    await stack.add_user(AUTHOR, "Lê Thị Thu", ["staff"])
    user = await User.get(email=AUTHOR)
    token = (await stack.services.accounts.open_session(user)).token
    cookies = {SESSION_COOKIE: token}
    async with aiohttp.ClientSession(cookies=cookies) as http:
        async with http.get(f"{stack.base}/") as r:
            page = await r.text()
            assert "Xin chào, Lê Thị Thu" in page
        csrf = CSRF.search(page)
        assert csrf
        async with http.post(f"{stack.base}/logout", data={}, allow_redirects=False) as r:
            assert r.status == 403, "no CSRF value: refused"
        async with http.post(
            f"{stack.base}/logout", data={"csrf": csrf.group(1)}, allow_redirects=False
        ) as r:
            assert r.status == 303
    async with aiohttp.ClientSession(cookies=cookies) as stolen:  # the old cookie, replayed
        async with stolen.get(f"{stack.base}/") as r:
            assert "Xin chào" not in await r.text() and "Đăng nhập" in await r.text()
    assert await AccessEvent.filter(action="sign_out", actor=AUTHOR).exists()
