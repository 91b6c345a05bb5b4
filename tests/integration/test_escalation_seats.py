"""Escalation fills the overdue assignee's seat; stages nobody can decide wait and say so.

ke-hoach's review stage: every `truong-phong` must approve (quorum all), due in two
days, escalating to `pho-truong-ban`.
"""

from __future__ import annotations

from datetime import timedelta
from email.message import EmailMessage

from docflow.documents.models import AuditEvent
from tests.conftest import Stack
from tests.integration.conftest import DAY, ClockedStack
from tests.integration.test_spine_mail import AUTHOR, draft
from tests.integration.test_workflow_links import (
    SIGNER,
    click,
    links_of,
    status_of,
    submit,
    task_mails,
)

HEAD_A = "an.nt@bandantoc.gov.vn"
HEAD_B = "binh.lv@bandantoc.gov.vn"
DEPUTY = "khoa.pv@bandantoc.gov.vn"
STANDIN = "thao.dt@bandantoc.gov.vn"
ADMIN = "quantri@bandantoc.gov.vn"
PLAN = "[KH] Kế hoạch công tác dân tộc năm 2027"


def task_mails_now(stack: Stack, to: str) -> list[EmailMessage]:
    return [m for m in stack.relay.to(to) if "/t/" in m.get_content()]


async def plan_under_review(stack: ClockedStack) -> tuple[str, EmailMessage, EmailMessage]:
    await stack.add_user(AUTHOR, "Lê Thị Thu")
    await stack.add_user(HEAD_A, "Nguyễn Thị An", ["truong-phong"])
    await stack.add_user(HEAD_B, "Lê Văn Bình", ["truong-phong"])
    await stack.add_user(DEPUTY, "Phạm Văn Khoa", ["pho-truong-ban"])
    await stack.add_user(SIGNER, "Trần Đức Minh", ["truong-ban"], language="en")
    await stack.send(draft(PLAN))
    a, b = (await task_mails(stack, HEAD_A))[0], (await task_mails(stack, HEAD_B))[0]
    await stack.settled()
    return (await stack.documents())[0]["code"], a, b


async def test_escalated_task_fills_the_overdue_seat_under_quorum_all(
    clocked: ClockedStack,
) -> None:
    code, a_mail, b_mail = await plan_under_review(clocked)
    status, _ = await submit(clocked, links_of(b_mail)["approve"], "approve", "Nhất trí.")
    assert status == 200
    clocked.clock.advance(2 * DAY + timedelta(minutes=1))
    assert (await clocked.sweep())[1] == 1, "only An's task is open and overdue"

    [deputy_mail] = await task_mails(clocked, DEPUTY)
    assert "thay Nguyễn Thị An" in deputy_mail.get_content()
    status, page = await submit(clocked, links_of(deputy_mail)["approve"], "approve", "Thay.")
    assert status == 200 and "đã được ghi nhận" in page

    await task_mails(clocked, SIGNER)  # An's seat is filled: the stage is complete
    doc = await clocked.document(code)
    assert [(t["assignee"], t["state"]) for t in doc["tasks"]] == [
        (HEAD_A, "superseded"),
        (HEAD_B, "approved"),
        (DEPUTY, "approved"),
        (SIGNER, "open"),
    ]
    status, page = await click(clocked, links_of(a_mail)["approve"])
    assert status == 410 and "không còn hiệu lực" in page
    completed = await AuditEvent.get(action="stage_completed")
    assert completed.detail == {"approvals": 2}


async def test_an_overdue_seat_still_needs_someone_under_quorum_all(clocked: ClockedStack) -> None:
    code, a_mail, _b_mail = await plan_under_review(clocked)
    clocked.clock.advance(2 * DAY + timedelta(minutes=1))
    assert (await clocked.sweep())[1] == 2
    deputy_mails = await task_mails(clocked, DEPUTY, 2)
    assert {"thay Nguyễn Thị An" in m.get_content() for m in deputy_mails} == {True, False}

    await submit(clocked, links_of(a_mail)["approve"], "approve")  # An decides after all
    await clocked.settled()
    assert await status_of(clocked, code) == "in_review", "Bình's seat is still open"
    for_an = next(m for m in deputy_mails if "thay Nguyễn Thị An" in m.get_content())
    status, _page = await click(clocked, links_of(for_an)["open"])
    assert status == 410, "An's seat is settled: the deputy's task for it ended"

    for_binh = next(m for m in deputy_mails if "thay Lê Văn Bình" in m.get_content())
    status, _ = await submit(clocked, links_of(for_binh)["approve"], "approve")
    assert status == 200
    await task_mails(clocked, SIGNER)


async def test_escalation_follows_the_targets_delegation(clocked: ClockedStack) -> None:
    _code, _a_mail, b_mail = await plan_under_review(clocked)
    await clocked.add_user(STANDIN, "Đỗ Thị Thảo")
    now = clocked.clock.now()
    await clocked.services.delegations.add(DEPUTY, STANDIN, now, now + 5 * DAY, "TUQ")
    await submit(clocked, links_of(b_mail)["approve"], "approve")
    clocked.clock.advance(2 * DAY + timedelta(minutes=1))
    await clocked.sweep()

    assert task_mails_now(clocked, DEPUTY) == [], "the delegate decides instead"
    [standin_mail] = await task_mails(clocked, STANDIN)
    text = standin_mail.get_content()
    assert "TUQ. Phạm Văn Khoa" in text and "thay Nguyễn Thị An" in text
    await submit(clocked, links_of(standin_mail)["approve"], "approve")
    event = await AuditEvent.filter(action="decision:approved").order_by("-id").first()
    assert event is not None
    assert (event.actor, event.on_behalf_of, event.detail["capacity"]) == (
        STANDIN,
        DEPUTY,
        "TUQ",
    )
    await task_mails(clocked, SIGNER)


async def test_stage_nobody_can_decide_waits_tells_the_admins_then_starts(
    clocked: ClockedStack,
) -> None:
    await clocked.add_user(AUTHOR, "Lê Thị Thu")
    await clocked.add_user(ADMIN, "Quản trị", ["admin"], language="en")
    await clocked.add_user(HEAD_A, "Nguyễn Thị An")  # not yet truong-phong
    await clocked.send(draft(PLAN))
    await clocked.settled()
    code = (await clocked.documents())[0]["code"]
    assert await status_of(clocked, code) == "in_review"

    [admin_told] = [m for m in clocked.relay.to(ADMIN) if code in str(m["Subject"])]
    text = admin_told.get_content()
    assert "has nobody to decide" in text and "role:truong-phong" in text
    assert await clocked.sweep() == (0, 0)
    assert task_mails_now(clocked, HEAD_A) == []

    await clocked.services.users.add_role(HEAD_A, "truong-phong")
    await clocked.sweep()
    [task] = await task_mails(clocked, HEAD_A)
    await clocked.sweep()
    assert len(await task_mails(clocked, HEAD_A)) == 1, "assigned once"
    assigned = await AuditEvent.get(action="stage_assigned")
    assert assigned.detail == {"assignees": [HEAD_A]}
    status, _ = await submit(clocked, links_of(task)["approve"], "approve")
    assert status == 200
