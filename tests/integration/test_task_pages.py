"""Approvers signed in: `/tasks`, a task's page with what changed since the version they
decided, deciding there (or through the API) by the rules of the links, and `/delegation`."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import aiohttp
from playwright.async_api import Browser

from docflow.documents.models import AuditEvent
from docflow.web import delegation_texts, task_texts
from docflow.workflow.models import Task
from tests.conftest import ADMIN_TOKEN, Stack
from tests.integration.conftest import DAY, ClockedStack
from tests.integration.test_decision_browser import browser  # noqa: F401 (fixture)
from tests.integration.test_decision_code import code_in, code_mails
from tests.integration.test_delegation import DEPUTY
from tests.integration.test_spine_mail import draft
from tests.integration.test_workflow_links import (
    REVIEWER,
    SIGNER,
    TITLE,
    people,
    status_of,
    task_mails,
)
from tests.webapp import PHONE, browser_as, csrf_of, http_as

V1 = "Đổi mới phương thức làm việc."
V2 = "Đổi mới phương thức làm việc của cơ quan."


async def open_task(stack: Stack, email: str, count: int = 1) -> int:
    """The id of `email`'s open task, once its mail has gone out."""
    await task_mails(stack, email, count)
    [task] = await Task.filter(assignee__email=email, state="open")
    return task.id


async def waiting_for_review(stack: Stack, subject: str = TITLE) -> tuple[str, int]:
    """A draft waiting for REVIEWER: the document's code and the task's id."""
    await people(stack)
    await stack.send(draft(subject, text=V1))
    task_id = await open_task(stack, REVIEWER)
    return (await stack.documents())[0]["code"], task_id


async def post(http: aiohttp.ClientSession, url: str, form: dict[str, str]) -> tuple[int, str]:
    async with http.post(url, data=form, allow_redirects=False) as r:
        return r.status, await r.text()


async def test_approver_sees_the_overdue_task_and_the_changes_since_v1_and_approves(
    clocked: ClockedStack,
    browser: Browser,  # noqa: F811
) -> None:
    stack = clocked
    code, first = await waiting_for_review(stack)
    await stack.services.decisions.by_user(first, REVIEWER, "changes", "Nói rõ cơ quan nào.")
    await stack.send(draft(f"[{code}] {TITLE}", text=V2))
    task_id = await open_task(stack, REVIEWER, 2)
    stack.clock.advance(3 * DAY)  # the review is due in 2 days

    async with browser_as(browser, stack, REVIEWER, viewport=PHONE) as context:
        page = await context.new_page()
        await page.goto(f"{stack.base}/tasks")
        item = page.locator("ol.tasks > li", has_text=TITLE)
        assert "Quá hạn" in await item.inner_text(), "overdue, in words"
        assert await item.get_attribute("class") == "overdue", "and in colour"
        assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        decided = await page.locator("ul.decided").inner_text()
        assert "yêu cầu chỉnh sửa" in decided, "what they decided on v1, below"

        async with page.expect_navigation():
            await item.get_by_role("link", name=TITLE).click()
        assert page.url.endswith(f"/tasks/{task_id}")
        diff = page.locator("section.diff")
        assert "Từ phiên bản 1 đến phiên bản 2" in await diff.inner_text()
        assert await diff.locator("ins").filter(has_text="của cơ quan").count() == 1
        assert "Nói rõ cơ quan nào." in await page.locator("body").inner_text()

        await page.fill("#comment", "Đã rõ, trình ký.")
        async with page.expect_navigation():
            await page.get_by_role("button", name="Đồng ý", exact=True).click()
        assert "đã được ghi nhận" in await page.locator("main").inner_text()
        async with page.expect_navigation():
            await page.get_by_role("link", name="Quay lại danh sách việc").click()
        assert await page.locator("ol.tasks > li").count() == 0

    tasks = (await stack.document(code))["tasks"]
    assert [(t["version"], t["stage"], t["state"]) for t in tasks[1:]] == [
        (2, "review", "approved"),
        (2, "signoff", "open"),
    ]
    assert tasks[2]["assignee"] == SIGNER
    event = await AuditEvent.filter(action="decision:approved").get()
    assert (event.actor, event.source, event.detail["comment"]) == (
        REVIEWER,
        "web",
        "Đã rõ, trình ký.",
    )


async def test_another_users_session_can_neither_open_nor_decide_a_task(stack: Stack) -> None:
    code, task_id = await waiting_for_review(stack)
    async with http_as(stack, SIGNER) as http:
        csrf = await csrf_of(http, f"{stack.base}/tasks")
        async with http.get(f"{stack.base}/tasks") as r:
            assert TITLE not in await r.text()
        for path in (f"/tasks/{task_id}", f"/tasks/{task_id}/files/0"):
            async with http.get(f"{stack.base}{path}") as r:
                assert r.status == 403, path
        form = {"csrf": csrf, "action": "approve"}
        assert (await post(http, f"{stack.base}/tasks/{task_id}", form))[0] == 403
    assert await status_of(stack, code) == "in_review"
    assert (await Task.get(id=task_id)).state == "open"


async def test_a_decision_without_the_sessions_csrf_value_is_refused(stack: Stack) -> None:
    _, task_id = await waiting_for_review(stack)
    async with http_as(stack, REVIEWER) as http:
        page = f"{stack.base}/tasks/{task_id}"
        async with http.get(page) as r:
            assert r.status == 200 and "Kế hoạch.docx" in await r.text()
        async with http.get(f"{page}/files/0") as r:
            assert r.status == 200 and (await r.read())[:2] == b"PK"
        assert (await post(http, page, {"action": "approve"}))[0] == 403
        assert (await post(http, page, {"action": "approve", "csrf": "0" * 32}))[0] == 403
    assert (await Task.get(id=task_id)).state == "open"


async def test_a_version_opened_signed_in_is_the_one_the_next_is_compared_with(
    stack: Stack,
) -> None:
    code, first = await waiting_for_review(stack)
    async with http_as(stack, REVIEWER) as http:
        async with http.get(f"{stack.base}/tasks/{first}") as r:
            assert 'section class="diff"' not in await r.text(), "nothing before v1"
        await stack.send(draft(f"[{code}] {TITLE}", text=V2))
        second = await open_task(stack, REVIEWER, 2)
        async with http.get(f"{stack.base}/tasks/{first}") as r:
            assert "Việc này đã kết thúc" in await r.text(), "v1's task, superseded"
        async with http.get(f"{stack.base}/tasks/{second}") as r:
            page = await r.text()
        assert "Từ phiên bản 1 đến phiên bản 2" in page and "<ins>" in page


async def test_a_stage_asking_for_a_code_decides_only_with_the_mailed_code(stack: Stack) -> None:
    _, task_id = await waiting_for_review(stack, "[BC] Báo cáo tình hình vùng đồng bào")
    mailed = code_in((await code_mails(stack, REVIEWER))[0])
    assert stack.http is not None
    async with stack.http.post(
        f"{stack.base}/api/v1/tasks/{task_id}/decision",
        json={"action": "approve"},
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
    ) as r:
        assert r.status == 403, "an admin's token does not enter a decision that needs a code"
    async with http_as(stack, REVIEWER) as http:
        page = f"{stack.base}/tasks/{task_id}"
        csrf = await csrf_of(http, page)
        async with http.get(page) as r:
            assert 'name="code"' in await r.text()
        status, text = await post(http, page, {"csrf": csrf, "action": "approve"})
        assert status == 422 and "cần mã xác nhận" in text
        wrong = f"{(int(mailed) + 1) % 10**6:06d}"
        form = {"csrf": csrf, "action": "approve", "code": wrong, "comment": "Nhất trí."}
        status, text = await post(http, page, form)
        assert status == 422 and "không đúng" in text and "Nhất trí." in text
        assert (await Task.get(id=task_id)).code_attempts == 1
        status, text = await post(http, page, {**form, "code": mailed})
        assert status == 200 and "đã được ghi nhận" in text
    assert (await Task.get(id=task_id)).state == "approved"


async def test_the_api_decides_with_the_assignees_token_only(stack: Stack) -> None:
    _, task_id = await waiting_for_review(stack)
    accounts = stack.services.accounts
    mine = await accounts.add_token("review robot", REVIEWER)
    theirs = await accounts.add_token("sign-off robot", SIGNER)
    assert stack.http is not None

    async def decide(token: str, task: int, body: dict[str, str]) -> tuple[int, Any]:
        assert stack.http is not None
        url = f"{stack.base}/api/v1/tasks/{task}/decision"
        headers = {"Authorization": f"Bearer {token}"}
        async with stack.http.post(url, json=body, headers=headers) as r:
            return r.status, await r.json()

    approve = {"action": "approve", "comment": "Qua API."}
    assert (await decide(theirs, task_id, approve))[0] == 403
    assert (await decide(mine, task_id, {"action": "sign"}))[0] == 400
    assert (await decide(mine, task_id + 100, approve))[0] == 404
    assert (await stack.api("/api/v1/documents", token=mine))[0] == 403, "nothing else"
    status, body = await decide(mine, task_id, approve)
    assert status == 200 and body["decision"] == "approved", body
    assert (await decide(mine, task_id, approve))[0] == 409
    event = await AuditEvent.filter(action="decision:approved").get()
    assert (event.actor, event.source) == (REVIEWER, "api")

    signoff = await open_task(stack, SIGNER)
    status, body = await decide(mine, signoff, approve)
    assert status == 403 and "not assigned" in body["error"]["message"]
    status, body = await decide(ADMIN_TOKEN, signoff, approve)
    assert status == 200 and body["document_status"] in ("approved", "issued")
    entered = await AuditEvent.filter(action="decision:approved", source="api").order_by("-id")
    assert (entered[0].actor, entered[0].detail["entered_by"]) == (SIGNER, "admin-token")


async def test_a_delegation_made_on_the_page_routes_the_next_task_to_the_delegate(
    stack: Stack,
) -> None:
    await people(stack)
    await stack.add_user(DEPUTY, "Phạm Văn Khoa")
    today = stack.services.clock.now().astimezone(stack.settings.org.timezone).date()
    async with http_as(stack, REVIEWER) as http:
        url = f"{stack.base}/delegation"
        csrf = await csrf_of(http, url)
        form = {
            "csrf": csrf,
            "from": today.isoformat(),
            "until": (today + timedelta(days=2)).isoformat(),
            "delegate": "nobody@bandantoc.gov.vn",
            "capacity": "TUQ",
        }
        status, page = await post(http, url, form)
        assert status == 422 and "Không có người dùng đang hoạt động" in page
        assert (await post(http, url, {**form, "delegate": DEPUTY}))[0] == 303
        async with http.get(url) as r:
            page = await r.text()
        assert "<strong>Phạm Văn Khoa</strong>" in page and "đang có hiệu lực" in page
        [event] = await stack.services.access_log.search(action="delegation_added")
        assert (event["actor"], event["subject"], event["source"]) == (REVIEWER, DEPUTY, "web")

        await stack.send(draft("Văn bản trong thời gian ủy quyền"))
        task_id = await open_task(stack, DEPUTY)
        task = await Task.get(id=task_id).prefetch_related("on_behalf_of")
        assert (task.on_behalf_of.email, task.capacity) == (REVIEWER, "TUQ")

        ended = re.search(r'action="(/delegation/\d+/end)"', page)
        assert ended is not None
        assert (await post(http, f"{stack.base}{ended.group(1)}", {"csrf": csrf}))[0] == 303
        async with http.get(url) as r:
            page = await r.text()
        assert "<strong>Phạm Văn Khoa</strong>" not in page and "không có ủy quyền nào" in page
    async with http_as(stack, DEPUTY) as http:
        async with http.get(f"{stack.base}/tasks") as r:
            page = await r.text()
        assert "Văn bản trong thời gian ủy quyền" in page and "TUQ. Người xem xét 1" in page
    await stack.send(draft("Văn bản sau khi kết thúc ủy quyền"))
    await task_mails(stack, REVIEWER, 1)
    assert await Task.filter(assignee__email=REVIEWER, state="open").count() == 1


def test_the_pages_have_every_word_in_both_languages() -> None:
    for table in (task_texts.TEXT, delegation_texts.TEXT):
        assert set(table["vi"]) == set(table["en"])
