"""Admins do in the browser, and through the API, what they did with the CLI: users, the
quarantine, workflows, outgoing mail, API tokens, the audit."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
from playwright.async_api import Browser, Page

from docflow.config import PACKAGE_ROOT
from docflow.intake.quarantine import list_entries
from docflow.users.models import User
from tests.conftest import ADMIN_TOKEN, Relay, Stack, make_settings, wait_for
from tests.integration.test_decision_browser import browser  # noqa: F401 (fixture)
from tests.integration.test_intake_rules import STRANGER, TITLE, draft, quarantined, send
from tests.webapp import PHONE, browser_as, csrf_of, http_as

ADMIN = "quantri@bandantoc.gov.vn"
ARCHIVIST = "luutru@bandantoc.gov.vn"
PAGES = ["/admin", "/admin/users", "/admin/workflows", "/admin/outbox", "/admin/tokens"]
PAGES += ["/admin/audit", "/admin/quarantine", f"/admin/users/{ADMIN}"]


async def office(stack: Stack) -> None:
    await stack.add_user(ADMIN, "Trần Quản Trị", ["admin"])
    await stack.add_user(ARCHIVIST, "Đỗ Thị Lưu", ["archivist"])


async def refused_mail(stack: Stack) -> int:
    """A draft from someone docflow does not know: quarantined, unanswered."""
    await send(stack, draft(sender=STRANGER))
    entries = await quarantined(stack)
    assert [e["reason"] for e in entries] == ["unknown_sender"]
    return int(entries[0]["id"])


async def no_side_scroll(page: Page) -> None:
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"{page.url}: horizontal scroll, {width}px wide"


async def click(page: Page, name: str, role: str = "button") -> None:
    async with page.expect_navigation():
        await page.get_by_role(role, name=name, exact=True).first.click()  # type: ignore[arg-type]


async def test_admin_adds_the_sender_releases_their_mail_and_revokes_a_token_on_a_phone(
    stack: Stack,
    browser: Browser,  # noqa: F811
) -> None:
    await office(stack)
    entry = await refused_mail(stack)
    async with browser_as(browser, stack, ADMIN, PHONE) as context:
        page = await context.new_page()
        await page.goto(f"{stack.base}/admin")
        await no_side_scroll(page)
        await click(page, "Người dùng", "link")
        await page.fill("#email", STRANGER)
        await page.fill("#name", "Ai Đó")
        await no_side_scroll(page)
        await click(page, "Thêm")
        assert "Đã thêm người dùng." in await page.locator("main").inner_text()
        assert await page.locator("h1").inner_text() == "Ai Đó"

        await page.goto(f"{stack.base}/admin/quarantine")
        await no_side_scroll(page)
        row = page.locator("table.entries tbody tr")
        assert await row.count() == 1
        assert "người gửi chưa có tài khoản" in await row.inner_text()
        await click(page, f"Q-{entry}", "link")
        headers = await page.locator("table.headers").inner_text()
        assert TITLE in headers and STRANGER in headers
        await no_side_scroll(page)
        await click(page, "Cho qua (xử lý lại)")
        main = await page.locator("main").inner_text()
        assert "Đã cho qua." in main and "Đã thành văn bản" in main
        code = await page.locator(".notice .code").inner_text()
        await click(page, "Mở văn bản", "link")
        assert page.url == f"{stack.base}/documents/{code}"
        assert await page.locator("h1").inner_text() == TITLE
        doc = await stack.document(code)
        assert (doc["title"], doc["author"], doc["status"]) == (TITLE, STRANGER, "in_review")
        await page.goto(f"{stack.base}/admin/audit?code={code}")
        trail = await page.locator("table.trail").inner_text()
        assert "version_added" in trail and STRANGER in trail
        await no_side_scroll(page)

        await page.goto(f"{stack.base}/admin/tokens")
        await page.fill("#name", "đồng bộ danh bạ")
        await page.fill("#user", ADMIN)
        await click(page, "Tạo khóa")
        token = await page.locator("#token").inner_text()
        assert token.startswith("dft_")
        await no_side_scroll(page)
        assert (await stack.api("/api/v1/users", token))[0] == 200
        await page.goto(f"{stack.base}/admin/tokens")
        assert token not in await page.content(), "shown once"
        await click(page, "Thu hồi đồng bộ danh bạ")
        assert "Đã thu hồi khóa." in await page.locator("main").inner_text()
        await no_side_scroll(page)
    assert (await stack.api("/api/v1/users", token))[0] == 401
    actions = [e["action"] for e in await stack.services.access_log.search(actor=ADMIN)]
    assert actions == ["token_revoke", "token_add", "quarantine_release", "user_add"]
    assert not any(token in str(e) for e in await stack.services.access_log.search())


async def post(http: aiohttp.ClientSession, url: str, data: dict[str, str]) -> tuple[int, str]:
    async with http.post(url, data=data, allow_redirects=False) as r:
        return r.status, r.headers.get("Location", "") or await r.text()


async def test_every_admin_page_is_refused_to_others_and_every_form_wants_its_csrf(
    stack: Stack,
) -> None:
    await office(stack)
    entry = await refused_mail(stack)
    pages = [*PAGES, f"/admin/quarantine/{entry}", f"/admin/quarantine/{entry}/raw"]
    async with http_as(stack, ARCHIVIST) as http:
        for path in pages:
            async with http.get(stack.base + path, allow_redirects=False) as r:
                assert r.status == 403, path
        csrf = await csrf_of(http, f"{stack.base}/")
        form = {"csrf": csrf, "email": "moi@bandantoc.gov.vn", "name": "Mới"}
        assert (await post(http, f"{stack.base}/admin/users", form))[0] == 403
        discard = f"{stack.base}/admin/quarantine/{entry}/discard"
        assert (await post(http, discard, {"csrf": csrf}))[0] == 403
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{stack.base}/admin/users", allow_redirects=False) as r:
            assert r.status == 303 and r.headers["Location"].startswith("/login")
    async with http_as(stack, ADMIN) as http:
        for path in pages:
            async with http.get(stack.base + path) as r:
                assert r.status == 200, path
        form = {"email": "moi@bandantoc.gov.vn", "name": "Mới"}
        assert (await post(http, f"{stack.base}/admin/users", form))[0] == 403
        bad = {**form, "csrf": "0" * 32}
        assert (await post(http, f"{stack.base}/admin/users", bad))[0] == 403
        assert (await post(http, f"{stack.base}/admin/quarantine/{entry}/discard", {}))[0] == 403
    assert await User.get_or_none(email="moi@bandantoc.gov.vn") is None
    assert [e["id"] for e in await list_entries()] == [entry]


async def test_discarded_mail_leaves_the_list_keeps_its_raw_message_and_is_in_the_log(
    stack: Stack,
) -> None:
    await office(stack)
    entry = await refused_mail(stack)
    async with http_as(stack, ADMIN) as http:
        async with http.get(f"{stack.base}/admin/quarantine/{entry}/raw") as r:
            raw = await r.read()
            assert r.headers["Content-Type"] == "message/rfc822" and STRANGER.encode() in raw
        csrf = await csrf_of(http, f"{stack.base}/admin/quarantine/{entry}")
        status, location = await post(
            http, f"{stack.base}/admin/quarantine/{entry}/discard", {"csrf": csrf}
        )
        assert (status, location) == (303, "/admin/quarantine?done=done_discarded")
        async with http.get(stack.base + location) as r:
            page = await r.text()
        assert "Đã loại bỏ." in page and f"Q-{entry}" not in page
        async with http.get(f"{stack.base}/admin/quarantine?discarded=1") as r:
            assert f"Q-{entry}" in await r.text()
        async with http.get(f"{stack.base}/admin/quarantine/{entry}/raw") as r:
            assert await r.read() == raw
        today = stack.services.clock.now().astimezone(stack.settings.org.timezone).date()
        search = f"{stack.base}/admin/audit?action=quarantine_discard&from={today}&until={today}"
        async with http.get(search) as r:
            assert f"Q-{entry}" in await r.text()
        async with http.get(
            search.replace(f"from={today}", f"from={today.replace(year=2099)}")
        ) as r:
            assert f"Q-{entry}" not in await r.text()
        async with http.get(f"{stack.base}/admin/audit?from=hôm-qua") as r:
            assert r.status == 400 and "NNNN-TT-NN" in await r.text()
        status, _ = await post(
            http, f"{stack.base}/admin/quarantine/{entry}/release", {"csrf": csrf}
        )
        assert status == 404, "a discarded entry is not released"
    (event,) = await stack.services.access_log.search(action="quarantine_discard")
    assert (event["actor"], event["subject"], event["source"]) == (ADMIN, f"Q-{entry}", "web")
    assert event["detail"]["reason"] == "unknown_sender"
    assert await list_entries() == []


async def call(
    stack: Stack, method: str, path: str, token: str, body: Any = None
) -> tuple[int, Any]:
    assert stack.http is not None
    headers = {"Authorization": f"Bearer {token}"}
    async with stack.http.request(method, stack.base + path, json=body, headers=headers) as r:
        if "json" in r.headers.get("Content-Type", ""):
            return r.status, await r.json()
        return r.status, await r.read()


async def test_users_and_quarantine_api_work_for_admins_and_refuse_an_archivist(
    stack: Stack,
) -> None:
    await office(stack)
    entry = await refused_mail(stack)
    reader = await stack.services.accounts.add_token("tra cứu", ARCHIVIST)
    person = quote(STRANGER)
    calls = [
        ("GET", "/api/v1/users", None),
        ("POST", "/api/v1/users", {"email": STRANGER, "name": "Ai Đó"}),
        ("GET", f"/api/v1/users/{person}", None),
        ("PATCH", f"/api/v1/users/{person}", {"roles": ["staff", "lanh-dao"], "language": "en"}),
        ("POST", f"/api/v1/users/{person}/signin-link", None),
        ("GET", "/api/v1/quarantine", None),
        ("GET", f"/api/v1/quarantine/{entry}", None),
        ("GET", f"/api/v1/quarantine/{entry}/raw", None),
        ("POST", f"/api/v1/quarantine/Q-{entry}/release", None),
        ("POST", f"/api/v1/quarantine/{entry}/discard", None),
    ]
    for method, path, body in calls:
        assert (await call(stack, method, path, reader, body))[0] == 403, (method, path)

    answers = [await call(stack, method, path, ADMIN_TOKEN, body) for method, path, body in calls]
    statuses = [status for status, _ in answers]
    assert statuses == [200, 201, 200, 200, 202, 200, 200, 200, 200, 404]
    assert answers[1][1] == {
        "email": STRANGER,
        "name": "Ai Đó",
        "roles": ["staff"],
        "language": "vi",
        "active": True,
    }
    assert answers[3][1]["roles"] == ["lanh-dao", "staff"] and answers[3][1]["language"] == "en"
    assert [e["id"] for e in answers[5][1]["items"]] == [entry]
    headers = {h["name"]: h["value"] for h in answers[6][1]["headers"]}
    assert headers["Subject"] == TITLE and answers[6][1]["state"] == "quarantined"
    assert STRANGER.encode() in answers[7][1]
    released = answers[8][1]
    assert released["state"] == "accepted" and released["code"].startswith("DF-")
    status, after = await call(stack, "GET", f"/api/v1/quarantine/{entry}", ADMIN_TOKEN)
    assert (after["state"], after["document_code"]) == ("accepted", released["code"])
    await wait_for(lambda: _mailed(stack.relay, STRANGER, "/login/link/"), what="sign-in link")

    status, body = await call(
        stack, "PATCH", f"/api/v1/users/{person}", ADMIN_TOKEN, {"active": False}
    )
    assert (status, body["active"]) == (200, False)
    status, body = await call(stack, "PATCH", f"/api/v1/users/{ADMIN}", ADMIN_TOKEN, {"roles": []})
    assert status == 422 and "last active admin" in body["error"]["message"]
    status, body = await call(stack, "PATCH", f"/api/v1/users/{person}", ADMIN_TOKEN, {"x": 1})
    assert status == 400

    log = await stack.services.access_log.search(actor="admin-token")
    assert {e["source"] for e in log} == {"api"}
    assert [e["action"] for e in reversed(log)] == [
        "user_add",
        "user_roles",
        "user_language",
        "sign_in_link_sent",
        "quarantine_release",
        "user_deactivate",
    ]


async def _mailed(relay: Relay, to: str, words: str) -> bool:
    return any(words in text for text in relay.texts_to(to))


async def test_a_mail_the_relay_refused_is_retried_from_the_outbox_page(stack: Stack) -> None:
    await office(stack)
    stack.relay.unknown.add(ARCHIVIST)
    async with http_as(stack, ADMIN) as http:
        csrf = await csrf_of(http, f"{stack.base}/admin/users/{ARCHIVIST}")
        link = f"{stack.base}/admin/users/{ARCHIVIST}/signin-link"
        assert (await post(http, link, {"csrf": csrf}))[0] == 303
        await stack.settled()
        async with http.get(f"{stack.base}/admin/outbox") as r:
            page = await r.text()
        assert "máy chủ thư từ chối" in page and "5.1.1" in page and ARCHIVIST in page
        (failed,) = await _given_up(stack)
        stack.relay.unknown.clear()
        retry = f"{stack.base}/admin/outbox/{failed}/retry"
        assert (await post(http, retry, {"csrf": csrf})) == (303, "/admin/outbox?done=done_retry")
        await wait_for(lambda: _mailed(stack.relay, ARCHIVIST, "/login/link/"), what="the retry")
        assert (await post(http, retry, {"csrf": csrf}))[0] == 400, "sent: nothing to retry"
    (event,) = await stack.services.access_log.search(action="outbox_retry")
    assert (event["actor"], event["detail"]["to"]) == (ADMIN, [ARCHIVIST])


async def _given_up(stack: Stack) -> list[int]:
    from docflow.notify.outbox_admin import given_up

    return [int(m["id"]) for m in await given_up()]


async def test_workflows_page_shows_the_stages_and_a_broken_file_on_disk(
    database_url: str, relay: Relay, tmp_path: Path
) -> None:
    flows = tmp_path / "workflows"
    shutil.copytree(PACKAGE_ROOT / "config" / "workflows", flows)
    settings = make_settings(
        tmp_path / "data", database_url, relay.port, DOCFLOW_WORKFLOWS_DIR=str(flows)
    )
    stack = Stack(settings, relay)
    await stack.start()
    try:
        await office(stack)
        (flows / "to-trinh.toml").write_text('key = "to-trinh"\nname = { vi = "Tờ trình" }\n')
        async with http_as(stack, ADMIN) as http:
            async with http.get(f"{stack.base}/admin/workflows") as r:
                page = await r.text()
        assert r.status == 200
        assert "to-trinh.toml: type" in page, "the broken file, named with its field"
        for w in stack.services.workflows:
            assert w.name_vi in page and w.source.name in page
            for s in w.stages:
                assert s.name_vi in page
    finally:
        await stack.stop()
