"""A reviewer opens the link in their task mail in headless Chromium and approves."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, async_playwright

from tests.conftest import Stack
from tests.integration.test_spine_mail import draft
from tests.integration.test_status_page_browser import FLAGS
from tests.integration.test_workflow_links import REVIEWER, TITLE, links_of, people, task_mails

CHROMIUM = "/usr/bin/chromium"
PHONE = {"width": 390, "height": 844}


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    if shutil.which(CHROMIUM) is None:
        pytest.fail("chromium is missing: run scripts/bootstrap --test")
    async with async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            yield b
        finally:
            await b.close()


async def test_reviewer_approves_from_the_mailed_link_in_a_browser(
    stack: Stack, browser: Browser, tmp_path: Path
) -> None:
    await people(stack)
    await stack.send(draft(TITLE))
    url = links_of((await task_mails(stack, REVIEWER))[0])["open"]
    code = (await stack.documents())[0]["code"]

    context = await browser.new_context(viewport=PHONE, locale="vi-VN")
    try:
        page = await context.new_page()
        response = await page.goto(url)
        assert response is not None and response.status == 200
        assert await page.locator("h1").inner_text() == TITLE
        assert "Kế hoạch.docx" in await page.locator("ul").inner_text()
        await page.locator("details summary").click()  # the draft's text, unfolded
        await page.screenshot(path=tmp_path / "decision-390x844.png", full_page=True)
        scroll_width = await page.evaluate("document.documentElement.scrollWidth")
        assert scroll_width <= PHONE["width"], f"horizontal scroll: {scroll_width}px wide"

        await page.fill("textarea[name=comment]", "Nhất trí, trình ký.")
        async with page.expect_navigation():
            await page.get_by_role("button", name="Đồng ý", exact=True).click()
        assert "đã được ghi nhận" in await page.locator("body").inner_text()
    finally:
        await context.close()

    assert (tmp_path / "decision-390x844.png").stat().st_size > 0
    task = (await stack.document(code))["tasks"][0]
    assert (task["assignee"], task["state"]) == (REVIEWER, "approved")
    assert task["comment"] == "Nhất trí, trình ký."
