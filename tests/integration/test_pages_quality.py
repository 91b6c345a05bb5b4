"""Every page of the web app, in Vietnamese and in English, on a 390 px phone: it renders
(an untranslated word is an error, not a gap), its `lang` is the reader's, nothing scrolls
sideways, it loads nothing from outside the service, and axe-core finds no serious or
critical accessibility violation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from playwright.async_api import Browser, Page

from docflow.archive.records import ArchiveRecord
from docflow.workflow.models import Task
from tests.conftest import Stack
from tests.integration.test_admin_pages import refused_mail
from tests.integration.test_decision_browser import browser  # noqa: F401 (fixture)
from tests.integration.test_issuing import AUTHOR, office, sign_off
from tests.integration.test_spine_mail import draft
from tests.integration.test_workflow_links import REVIEWER, links_of, task_mails
from tests.webapp import PHONE, browser_as

AXE = Path(__file__).resolve().parents[2] / ".venv/node/node_modules/axe-core/axe.min.js"
ISSUED = "[KH] Kế hoạch tổ chức Đại hội đại biểu các dân tộc thiểu số"
DRAFT = "Công văn về việc báo cáo công tác dân tộc quý IV"
EVERY_ROLE = ["staff", "admin", "archivist", "van-thu", "lanh-dao"]


async def the_office(stack: Stack) -> dict[str, Any]:
    """An issued plan, a letter in review with two versions, a quarantined mail; AUTHOR
    holds every role, REVIEWER has the open task."""
    await office(stack)
    await stack.add_user(REVIEWER, "Nguyễn Văn Hùng", ["chanh-van-phong"])
    for role in EVERY_ROLE[1:]:
        await stack.services.users.add_role(AUTHOR, role)
    issued = await sign_off(stack, ISSUED)
    await stack.send(draft(DRAFT, text="Báo cáo công tác dân tộc quý IV."))
    await task_mails(stack, REVIEWER, 1)
    code = next(d["code"] for d in await stack.documents() if d["title"] == DRAFT)
    await stack.send(draft(f"[{code}] {DRAFT}", text="Báo cáo công tác dân tộc quý IV năm 2026."))
    mails = await task_mails(stack, REVIEWER, 2)
    task = await Task.get(assignee__email=REVIEWER, state="open")
    record = await ArchiveRecord.get(document__code=issued)
    entry = await refused_mail(stack)
    return {
        "issued": issued,
        "code": code,
        "task": task.id,
        "record": record.id,
        "entry": entry,
        "link": links_of(mails[-1])["approve"],
    }


def pages(o: dict[str, Any]) -> list[tuple[str, str]]:
    """(who, path) of every page; who: AUTHOR (every role) or REVIEWER."""
    author = [
        "/",
        "/documents",
        f"/documents/{o['code']}",
        f"/documents/{o['code']}/diff?from=1&to=2",
        f"/documents/{o['issued']}",
        "/delegation",
        "/archive",
        "/archive?q=dai+hoi",
        f"/archive/records/{o['record']}",
        "/registers",
        "/registers/KH",
        "/reports/paper",
        "/reports/timeliness",
        "/admin",
        "/admin/users",
        f"/admin/users/{AUTHOR}",
        "/admin/quarantine",
        f"/admin/quarantine/{o['entry']}",
        "/admin/workflows",
        "/admin/outbox",
        "/admin/tokens",
        "/admin/audit",
    ]
    reviewer = ["/tasks", f"/tasks/{o['task']}"]
    return [(AUTHOR, p) for p in author] + [(REVIEWER, p) for p in reviewer]


async def check(
    page: Page, url: str, lang: str, base: str, status: int = 200, axe: bool = True
) -> list[str]:
    """What is wrong with one page (nothing: an empty list)."""
    outside: list[str] = []
    page.on(
        "request",
        lambda r: (
            outside.append(r.url)
            if r.url.startswith(("http:", "https:", "ws:", "wss:")) and not r.url.startswith(base)
            else None
        ),
    )
    response = await page.goto(url)
    problems = []
    if response is None or response.status != status:
        return [f"{url}: HTTP {response.status if response else '—'}"]
    if await page.get_attribute("html", "lang") != lang:
        problems.append(f"{url}: lang is not {lang}")
    width = await page.evaluate("document.documentElement.scrollWidth")
    if width > PHONE["width"]:
        problems.append(f"{url}: {width}px wide on a {PHONE['width']}px phone")
    if outside:
        problems.append(f"{url}: loads from outside: {outside}")
    if not axe:
        return problems
    await page.add_script_tag(path=str(AXE))
    found = await page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
        ".filter(v => v.impact === 'serious' || v.impact === 'critical')"
        ".map(v => v.id + ': ' + v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(', '))"
    )
    problems += [f"{url} ({lang}): {v}" for v in found]
    return problems


async def test_every_page_in_both_languages_fits_a_phone_and_passes_axe(
    stack: Stack,
    browser: Browser,  # noqa: F811
) -> None:
    assert AXE.exists(), "axe-core is missing: run scripts/bootstrap --test"
    o = await the_office(stack)
    problems: list[str] = []
    for lang in ("vi", "en"):
        for who in (AUTHOR, REVIEWER):
            await stack.services.accounts.set_language(who, lang)
        for who in (AUTHOR, REVIEWER):
            async with browser_as(browser, stack, who, locale=f"{lang}-VN") as context:
                page = await context.new_page()
                for w, path in pages(o):
                    if w == who:
                        url = stack.base + path  # the markup is the same in en: axe once
                        problems += await check(page, url, lang, stack.base, axe=lang == "vi")
    signed_out = [("/", 200), ("/login", 200), ("/login/link/forged-token", 404)]
    for lang in ("vi", "en"):
        context = await browser.new_context(viewport=PHONE, locale=f"{lang}-VN")  # type: ignore[arg-type]
        try:
            page = await context.new_page()
            for path, status in signed_out:
                url = f"{stack.base}{path}?lang={lang}"
                problems += await check(page, url, lang, stack.base, status)
            if lang == "en":  # a decision link's page speaks its recipient's language (now en)
                problems += await check(page, o["link"], lang, stack.base)
        finally:
            await context.close()
    assert problems == [], "\n".join(problems)
