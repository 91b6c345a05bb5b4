"""Stages with `require_code`: a decision counts only with the code mailed separately.

Some mail scanners submit the forms of the pages they fetch. On such a stage the
decision page asks for a six-digit code that travels in a mail of its own; a form
submitted without it, or with a wrong one, changes nothing but the count of guesses.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import AsyncIterator
from email.message import EmailMessage
from pathlib import Path

import pytest

from docflow.documents.models import AuditEvent
from docflow.workflow.models import Task
from tests.conftest import PACKAGE_ROOT, Relay, Stack, make_settings, wait_for
from tests.integration.test_spine_mail import draft
from tests.integration.test_workflow_links import (
    REVIEWER,
    click,
    links_of,
    people,
    status_of,
    task_mails,
)

GUARDED = """\
key = "mat"
name = { vi = "Văn bản mật", en = "Confidential" }
type = "MAT"
register = "VB"

[[stages]]
key = "signoff"
name = { vi = "Ký duyệt có mã", en = "Sign-off with a code" }
assignees = ["role:chanh-van-phong"]
quorum = "any"
due = "2d"
require_code = true
"""
CODE = re.compile(r"^\s+(\d{6})\s*$", re.MULTILINE)
CSRF = re.compile(r'name="csrf" value="([0-9a-f]+)"')
TITLE = "[MAT] Báo cáo tình hình an ninh vùng đồng bào dân tộc"


@pytest.fixture
async def guarded(database_url: str, relay: Relay, tmp_path: Path) -> AsyncIterator[Stack]:
    """docflow with the shipped workflows plus `mat`, whose one stage requires a code."""
    workflows = tmp_path / "workflows"
    shutil.copytree(PACKAGE_ROOT / "config" / "workflows", workflows)
    (workflows / "mat.toml").write_text(GUARDED, encoding="utf-8")
    settings = make_settings(
        tmp_path / "data", database_url, relay.port, DOCFLOW_WORKFLOWS_DIR=str(workflows)
    )
    s = Stack(settings, relay)
    await s.start()
    yield s
    await s.stop()


async def code_mails(stack: Stack, to: str, count: int = 1) -> list[EmailMessage]:
    async def arrived() -> list[EmailMessage]:
        found = [m for m in stack.relay.to(to) if "Mã xác nhận" in str(m["Subject"])]
        return found if len(found) >= count else []

    return await wait_for(arrived, what=f"{count} code mail(s) to {to}")


def code_in(mail: EmailMessage) -> str:
    found = CODE.search(mail.get_content())
    assert found, mail.get_content()
    return found.group(1)


async def post(stack: Stack, url: str, action: str, code: str | None) -> tuple[int, str]:
    """Open the link's page and submit its form, with the code box filled as given."""
    status, page = await click(stack, url)
    assert status == 200, page
    csrf = CSRF.search(page)
    assert csrf
    form = {"csrf": csrf.group(1), "action": action, "comment": "Đồng ý ban hành."}
    if code is not None:
        form["code"] = code
    assert stack.http is not None
    async with stack.http.post(url, data=form) as r:
        return r.status, await r.text()


async def guarded_draft(stack: Stack) -> tuple[str, dict[str, str], str]:
    """A [MAT] draft waiting for its reviewer: code, the task mail's links, the code."""
    await people(stack)
    await stack.send(draft(TITLE))
    links = links_of((await task_mails(stack, REVIEWER))[0])
    code = code_in((await code_mails(stack, REVIEWER))[0])
    return (await stack.documents())[0]["code"], links, code


async def test_decision_counts_only_with_the_separately_mailed_code(guarded: Stack) -> None:
    doc_code, links, code = await guarded_draft(guarded)
    [task_mail] = await task_mails(guarded, REVIEWER)
    assert code not in task_mail.get_content(), "the code never travels with the links"

    status, page = await click(guarded, links["approve"])
    assert status == 200 and 'name="code"' in page and "Mã xác nhận" in page

    status, page = await post(guarded, links["approve"], "approve", None)
    assert status == 403 and "Cần mã xác nhận" in page, "a scanner's empty submit"
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    status, page = await post(guarded, links["approve"], "approve", wrong)
    assert status == 403 and "Mã xác nhận không đúng" in page
    assert f'href="/t/{links["approve"].rsplit("/", 1)[1]}"' in page, "the way back"
    assert await status_of(guarded, doc_code) == "in_review"
    assert (await Task.get()).code_attempts == 1, "only the wrong code was counted"

    status, page = await post(guarded, links["approve"], "approve", f" {code} ")
    assert status == 200 and "đã được ghi nhận" in page
    assert await status_of(guarded, doc_code) == "issued"
    decisions = await AuditEvent.filter(action="decision:approved").count()
    assert decisions == 1


async def test_five_wrong_codes_lock_it_and_a_fresh_link_brings_a_new_code(
    guarded: Stack,
) -> None:
    doc_code, links, code = await guarded_draft(guarded)
    wrong = f"{(int(code) + 7) % 10**6:06d}"
    for _ in range(4):
        status, page = await post(guarded, links["open"], "approve", wrong)
        assert status == 403 and "không đúng" in page
    status, page = await post(guarded, links["open"], "approve", wrong)
    assert status == 403 and "đã bị khóa" in page and "/renew" in page

    status, page = await post(guarded, links["open"], "approve", code)
    assert status == 403 and "đã bị khóa" in page, "the right code no longer helps"
    assert await status_of(guarded, doc_code) == "in_review"

    renew = re.search(r'action="(/t/[^"]+/renew)"', page)
    csrf = CSRF.search(page)
    assert renew and csrf and guarded.http is not None
    async with guarded.http.post(guarded.base + renew.group(1), data={"csrf": csrf.group(1)}) as r:
        assert r.status == 200
    fresh = links_of((await task_mails(guarded, REVIEWER, 2))[-1])
    new_code = code_in((await code_mails(guarded, REVIEWER, 2))[-1])

    status, page = await post(guarded, fresh["reject"], "reject", code)
    assert status == 403 and "không đúng" in page, "the old code stopped working"
    status, page = await post(guarded, fresh["reject"], "reject", new_code)
    assert status == 200 and "đã được ghi nhận" in page
    assert await status_of(guarded, doc_code) == "rejected"


async def test_stages_without_the_setting_ask_for_no_code(guarded: Stack) -> None:
    await people(guarded)
    await guarded.send(draft("Công văn không cần mã xác nhận"))
    links = links_of((await task_mails(guarded, REVIEWER))[0])
    status, page = await click(guarded, links["open"])
    assert status == 200 and 'name="code"' not in page
    await guarded.settled()
    assert not [m for m in guarded.relay.to(REVIEWER) if "Mã xác nhận" in str(m["Subject"])]
