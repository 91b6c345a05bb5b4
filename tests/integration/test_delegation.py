"""While a delegation runs, new tasks go to the delegate, whose decisions are "on behalf of"."""

from __future__ import annotations

from docflow.documents.models import AuditEvent
from tests.integration.conftest import DAY, ClockedStack
from tests.integration.test_spine_mail import draft
from tests.integration.test_workflow_links import (
    REVIEWER,
    links_of,
    people,
    submit,
    task_mails,
)

DEPUTY = "khoa.pv@bandantoc.gov.vn"


async def test_tasks_go_to_the_delegate_only_inside_the_window(clocked: ClockedStack) -> None:
    stack = clocked
    await people(stack)
    await stack.add_user(DEPUTY, "Phạm Văn Khoa")
    now = stack.clock.now()
    await stack.services.delegations.add(REVIEWER, DEPUTY, now + DAY, now + 3 * DAY, "KT")

    await stack.send(draft("Văn bản trước thời gian ủy quyền"))
    await task_mails(stack, REVIEWER, 1)

    stack.clock.advance(1.5 * DAY)
    await stack.send(draft("Văn bản trong thời gian ủy quyền"))
    deputy_mail = (await task_mails(stack, DEPUTY, 1))[0]
    assert "KT. Người xem xét 1" in deputy_mail.get_content()
    assert len(await task_mails(stack, REVIEWER, 1)) == 1  # nothing more for the reviewer

    status, _ = await submit(stack, links_of(deputy_mail)["open"], "approve", "Thay mặt.")
    assert status == 200
    code = next(d["code"] for d in await stack.documents() if "trong thời gian" in d["title"])
    task = (await stack.document(code))["tasks"][0]
    assert (task["assignee"], task["on_behalf_of"], task["capacity"], task["state"]) == (
        DEPUTY,
        REVIEWER,
        "KT",
        "approved",
    )
    event = await AuditEvent.get(action="decision:approved")
    assert (event.actor, event.on_behalf_of, event.detail["capacity"]) == (DEPUTY, REVIEWER, "KT")

    stack.clock.advance(2 * DAY)  # past the end of the window
    await stack.send(draft("Văn bản sau thời gian ủy quyền"))
    await task_mails(stack, REVIEWER, 2)
    assert len(await task_mails(stack, DEPUTY, 1)) == 1
