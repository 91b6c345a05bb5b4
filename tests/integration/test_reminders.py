"""Reminders and escalation, driven by a clock the test moves; mail read from the relay.

The default workflow (cong-van) reminds its review stage every day, is due in two
days and escalates to role pho-truong-ban; its sign-off stage does neither.
"""

from __future__ import annotations

from datetime import timedelta
from email.message import EmailMessage

from docflow.documents.models import AuditEvent
from docflow.workflow.models import Task
from tests.conftest import Stack
from tests.integration.conftest import DAY, ClockedStack
from tests.integration.test_spine_mail import AUTHOR, draft
from tests.integration.test_workflow_links import (
    REVIEWER,
    SIGNER,
    TITLE,
    click,
    links_of,
    people,
    submit,
    task_mails,
)

DEPUTY = "khoa.pv@bandantoc.gov.vn"  # role pho-truong-ban: the review stage's escalation target


def mails(stack: Stack, to: str, subject_word: str) -> list[EmailMessage]:
    return [m for m in stack.relay.to(to) if subject_word in str(m["Subject"])]


async def reviewed_draft(stack: ClockedStack) -> tuple[str, EmailMessage]:
    """A draft in the review stage: its code and the reviewer's task mail."""
    await people(stack)
    await stack.add_user(DEPUTY, "Phạm Văn Khoa", ["pho-truong-ban"], language="en")
    await stack.send(draft(TITLE))
    task = (await task_mails(stack, REVIEWER))[0]
    await stack.settled()
    return (await stack.documents())[0]["code"], task


async def test_reminder_goes_once_an_interval_with_fresh_links_that_decide(
    clocked: ClockedStack,
) -> None:
    code, task_mail = await reviewed_draft(clocked)
    assert await clocked.sweep() == (0, 0), "nothing is due the moment a task is created"
    clocked.clock.advance(DAY - timedelta(minutes=1))
    assert await clocked.sweep() == (0, 0)
    clocked.clock.advance(timedelta(minutes=1))
    assert await clocked.sweep() == (1, 0)
    assert await clocked.sweep() == (0, 0), "never twice in one interval"
    clocked.clock.advance(DAY / 2)
    assert await clocked.sweep() == (0, 0)

    [reminder] = mails(clocked, REVIEWER, "Nhắc việc")
    assert reminder["Content-Language"] == "vi" and code in str(reminder["Subject"])
    assert task_mail["Message-ID"] in str(reminder["References"]), "threaded with the task mail"
    old, fresh = links_of(task_mail), links_of(reminder)
    assert set(old.values()).isdisjoint(fresh.values())
    assert (await click(clocked, old["open"]))[0] == 200, "earlier links still work"

    status, page = await submit(clocked, fresh["approve"], "approve", "Đồng ý.")
    assert status == 200 and "đã được ghi nhận" in page
    await task_mails(clocked, SIGNER)
    clocked.clock.advance(3 * DAY)
    assert await clocked.sweep() == (0, 0), "a decided stage reminds nobody"
    assert len(mails(clocked, REVIEWER, "Nhắc việc")) == 1
    reminded = await AuditEvent.filter(action="reminded").values("actor", "source", "detail")
    assert reminded == [{"actor": "docflow", "source": "system", "detail": {"assignee": REVIEWER}}]


async def test_reminders_repeat_each_interval_while_the_task_waits(clocked: ClockedStack) -> None:
    await reviewed_draft(clocked)
    for expected in (1, 2, 3):
        clocked.clock.advance(DAY)
        await clocked.sweep()
        assert len(mails(clocked, REVIEWER, "Nhắc việc")) == expected
        await clocked.sweep()
        assert len(mails(clocked, REVIEWER, "Nhắc việc")) == expected
    assert "quá hạn" in mails(clocked, REVIEWER, "Nhắc việc")[-1].get_content()


async def test_overdue_task_escalates_once_and_both_are_told(clocked: ClockedStack) -> None:
    code, _ = await reviewed_draft(clocked)
    clocked.clock.advance(2 * DAY - timedelta(minutes=1))
    await clocked.sweep()
    assert mails(clocked, DEPUTY, "To review") == [], "not yet overdue"
    clocked.clock.advance(timedelta(minutes=1))
    assert (await clocked.sweep())[1] == 1
    assert await clocked.sweep() == (0, 0)
    clocked.clock.advance(5 * DAY)
    assert (await clocked.sweep())[1] == 0, "an escalation happens once"

    [deputy_task] = mails(clocked, DEPUTY, "To review")
    assert code in str(deputy_task["Subject"])
    [told] = mails(clocked, REVIEWER, "Đã chuyển cấp trên")
    assert DEPUTY in told.get_content() and "Phạm Văn Khoa" in told.get_content()
    escalations = await AuditEvent.filter(action="escalated").values("source", "detail")
    assert escalations == [
        {"source": "system", "detail": {"assignee": REVIEWER, "added": [DEPUTY]}}
    ]

    status, page = await submit(clocked, links_of(deputy_task)["approve"], "approve")
    assert status == 200 and "has been recorded" in page  # quorum "any": the deputy's suffices
    await task_mails(clocked, SIGNER)
    doc = await clocked.document(code)
    assert [(t["assignee"], t["state"]) for t in doc["tasks"]] == [
        (REVIEWER, "superseded"),
        (DEPUTY, "approved"),
        (SIGNER, "open"),
    ]
    told_author = clocked.relay.texts_to(AUTHOR)
    assert any("Lãnh đạo Ban ký" in t for t in told_author)


async def test_escalation_without_anyone_in_the_target_role_adds_nobody(
    clocked: ClockedStack,
) -> None:
    await people(clocked)  # nobody holds pho-truong-ban
    await clocked.send(draft(TITLE))
    await task_mails(clocked, REVIEWER)
    clocked.clock.advance(3 * DAY)
    assert await clocked.sweep() == (1, 1)
    assert await clocked.sweep() == (0, 0)
    assert mails(clocked, REVIEWER, "Đã chuyển cấp trên") == []
    assert await Task.all().count() == 1
