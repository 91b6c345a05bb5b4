"""Archivists find issued documents: the pages in Chromium, the exports and the search API."""

from __future__ import annotations

import csv
import hashlib
import io
import zipfile

import aiohttp
from playwright.async_api import Browser

from tests.conftest import Stack
from tests.integration.test_accounts import ARCHIVIST, PASSWORD, archivist, log_in
from tests.integration.test_decision_browser import PHONE, browser  # noqa: F401 (fixture)
from tests.integration.test_issuing import office, sign_off

REFORM = "[KH] Kế hoạch Đổi mới công tác dân tộc năm 2027"
REPORT = "[KH] Kế hoạch kiểm tra đồng bào"  # longer subjects meet CPython gh-144156


async def two_issued(stack: Stack) -> tuple[str, str]:
    await office(stack)
    await archivist(stack)
    return await sign_off(stack, REFORM), await sign_off(stack, REPORT)


async def test_archivist_logs_in_finds_without_diacritics_and_opens_the_record(
    stack: Stack,
    browser: Browser,  # noqa: F811
) -> None:
    reform, _ = await two_issued(stack)
    context = await browser.new_context(viewport=PHONE, locale="vi-VN")
    try:
        page = await context.new_page()
        await page.goto(f"{stack.base}/archive")
        assert "/login" in page.url, "no session: the login page first"
        await page.fill("input[name=email]", ARCHIVIST)
        await page.fill("input[name=password]", PASSWORD)
        async with page.expect_navigation():
            await page.get_by_role("button", name="Đăng nhập", exact=True).click()
        assert page.url.endswith("/archive")

        await page.fill("input[name=q]", "doi moi dan toc")
        async with page.expect_navigation():
            await page.get_by_role("button", name="Tìm", exact=True).click()
        hits = page.locator("ol.hits > li")
        assert await hits.count() == 1
        first = await hits.first.inner_html()
        assert "<mark>Đổi</mark> <mark>mới</mark>" in first and "01/KH-BDT" in first
        scroll_width = await page.evaluate("document.documentElement.scrollWidth")
        assert scroll_width <= PHONE["width"], f"horizontal scroll: {scroll_width}px wide"

        async with page.expect_navigation():
            await hits.first.locator("a").first.click()
        body = await page.locator("body").inner_text()
        assert "01/KH-BDT" in body and reform in body and "issued" in body
        link = page.get_by_role("link", name="Kế hoạch Đại hội (01-KH-BDT).pdf")
        served = await context.request.get(f"{stack.base}{await link.get_attribute('href')}")
        data = await served.body()
        assert served.status == 200 and hashlib.sha256(data).hexdigest() in body

        async with page.expect_navigation():
            await page.get_by_role("button", name="Đăng xuất").click()
        await page.goto(f"{stack.base}/archive")
        assert "/login" in page.url, "logged out"
    finally:
        await context.close()


async def test_exports_and_the_search_api_give_the_same_documents(stack: Stack) -> None:
    reform, report = await two_issued(stack)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        assert (await log_in(http, stack.base, ARCHIVIST, PASSWORD)).status == 303
        async with http.get(f"{stack.base}/archive/export.csv?type=KH") as r:
            assert r.status == 200 and r.headers["Content-Type"].startswith("text/csv")
            text = (await r.read()).decode("utf-8-sig")
        rows = list(csv.DictReader(io.StringIO(text)))
        assert sorted(row["number"] for row in rows) == ["01/KH-BDT", "02/KH-BDT"]

        async with http.get(f"{stack.base}/archive/export.zip?q=dong+bao") as r:
            assert r.status == 200
            archive = zipfile.ZipFile(io.BytesIO(await r.read()))
        manifest = list(
            csv.DictReader(io.StringIO(archive.read("manifest.csv").decode("utf-8-sig")))
        )
        assert {m["number"] for m in manifest} == {"02/KH-BDT"}
        assert len(manifest) == 3  # main, annex, the stamped copy
        for m in manifest:
            assert hashlib.sha256(archive.read(m["path"])).hexdigest() == m["sha256"]

    token = await stack.services.accounts.add_token("tra cứu", ARCHIVIST)
    status, found = await stack.api("/api/v1/search?q=dong+bao&limit=1", token=token)
    assert status == 200 and [h["number"] for h in found["items"]] == ["02/KH-BDT"]
    status, found = await stack.api("/api/v1/search?type=KH&limit=1", token=token)
    assert len(found["items"]) == 1 and found["next"].startswith("/api/v1/search?")
    status, more = await stack.api(found["next"], token=token)
    assert {h["number"] for h in found["items"] + more["items"]} == {"01/KH-BDT", "02/KH-BDT"}
    status, bad = await stack.api("/api/v1/search?from=hôm-qua", token=token)
    assert status == 400 and "from must be a date" in bad["error"]["message"]
    # a forged cursor asking for the 10^20th result: a clear refusal, not a 500
    status, bad = await stack.api(
        "/api/v1/search?q=a&cursor=czk5OTk5OTk5OTk5OTk5OTk5OTk5", token=token
    )
    assert status == 400 and "bad cursor" in bad["error"]["message"]
    status, _ = await stack.api(f"/api/v1/archive/{reform}", token=token)
    assert status == 200 and report
