"""Review and sign-off through the links in docflow's mail, followed as a person clicks them."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from email.message import EmailMessage

import aiohttp
import pytest

from docflow.documents.models import AuditEvent
from tests.conftest import Stack, wait_for
from tests.integration.test_spine_mail import AUTHOR, draft

REVIEWER = "hung.nv@bandantoc.gov.vn"  # role chanh-van-phong: the default workflow's review
REVIEWER2 = "lan.pt@bandantoc.gov.vn"
SIGNER = "minh.td@bandantoc.gov.vn"  # role truong-ban: sign-off
TITLE = "Công văn về việc báo cáo công tác dân tộc quý IV"
LINK = re.compile(r"http://127\.0\.0\.1:\d+/t/[A-Za-z0-9_-]+(?![/A-Za-z0-9_-])")


async def people(stack: Stack, *reviewers: str) -> None:
    await stack.add_user(AUTHOR, "Lê Thị Thu")
    for i, r in enumerate(reviewers or (REVIEWER,)):
        await stack.add_user(r, f"Người xem xét {i + 1}", ["chanh-van-phong"])
    await stack.add_user(SIGNER, "Trần Đức Minh", ["truong-ban"], language="en")


async def task_mails(stack: Stack, to: str, count: int = 1) -> list[EmailMessage]:
    async def arrived() -> list[EmailMessage]:
        mails = [m for m in stack.relay.to(to) if "/t/" in m.get_content()]
        return mails if len(mails) >= count else []

    return await wait_for(arrived, what=f"{count} task mail(s) to {to}")


def links_of(mail: EmailMessage) -> dict[str, str]:
    """open, approve, changes, reject: in the order the task mail lists them."""
    found = [u for u in LINK.findall(mail.get_content()) if "/files/" not in u]
    return dict(zip(("open", "approve", "changes", "reject"), found, strict=True))


async def click(stack: Stack, url: str) -> tuple[int, str]:
    assert stack.http is not None
    async with stack.http.get(url) as r:
        return r.status, await r.text()


async def submit(stack: Stack, url: str, action: str, comment: str = "") -> tuple[int, str]:
    """Open the link's page and press one of its buttons, as a browser would."""
    status, page = await click(stack, url)
    csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', page)
    if csrf is None:
        return status, page
    assert stack.http is not None
    form = {"csrf": csrf.group(1), "action": action, "comment": comment}
    async with stack.http.post(url, data=form) as r:
        return r.status, await r.text()


async def status_of(stack: Stack, code: str) -> str:
    return str((await stack.document(code))["status"])


async def test_draft_is_reviewed_and_signed_off_through_mailed_links(stack: Stack) -> None:
    await people(stack)
    await stack.send(draft(TITLE))
    review = links_of((await task_mails(stack, REVIEWER))[0])
    code = (await stack.documents())[0]["code"]
    assert await status_of(stack, code) == "in_review"

    status, page = await click(stack, review["open"])
    assert status == 200 and TITLE in page and "Đồng ý" in page and "Kế hoạch.docx" in page
    status, page = await submit(stack, review["approve"], "approve", "Nhất trí, trình ký.")
    assert status == 200 and "đã được ghi nhận" in page

    signoff_mail = (await task_mails(stack, SIGNER))[0]
    assert signoff_mail["Content-Language"] == "en" and "To review" in str(signoff_mail["Subject"])
    status, page = await submit(stack, links_of(signoff_mail)["open"], "approve")
    assert status == 200 and "has been recorded" in page
    await wait_for(lambda: _has_status(stack, code, "issued"), what="approved and issued")

    await stack.settled()
    told = stack.relay.texts_to(AUTHOR)
    assert any("Lãnh đạo Ban ký" in t for t in told), "the author hears of the stage change"
    assert any("phê duyệt ở tất cả các bước" in t and "Nhất trí, trình ký." in t for t in told)
    [issued] = [m for m in stack.relay.to(AUTHOR) if "Ban hành" in str(m["Subject"])]
    assert "Số:           01/BDT-VP" in stack.relay.texts_to(AUTHOR)[-1]
    assert [a.get_filename() for a in issued.iter_attachments()] == ["Kế hoạch.docx"]
    doc = await stack.document(code)
    assert [(t["assignee"], t["state"]) for t in doc["tasks"]] == [
        (REVIEWER, "approved"),
        (SIGNER, "approved"),
    ]
    status, audit = await stack.api(f"/api/v1/documents/{code}/audit")
    actions = [e["action"] for e in audit["items"]]
    assert actions.count("stage_completed") == 2 and actions[-2:] == ["approved", "issued"]
    assert all(e["source"] in ("mail", "link", "system") for e in audit["items"])


async def test_get_changes_nothing_and_spent_or_forged_links_say_why(stack: Stack) -> None:
    await people(stack)
    await stack.send(draft(TITLE))
    review = links_of((await task_mails(stack, REVIEWER))[0])
    code = (await stack.documents())[0]["code"]
    for url in review.values():  # a mail scanner fetching every link
        status, _ = await click(stack, url)
        assert status == 200
    assert [t["state"] for t in (await stack.document(code))["tasks"]] == ["open"]

    assert (await submit(stack, review["reject"], "reject", "Sai thể thức."))[0] == 200
    status, page = await click(stack, review["approve"])
    assert status == 410 and "đã được dùng" in page
    status, page = await click(stack, review["open"][:-6] + "AAAAAA")
    assert status == 404 and "không hợp lệ" in page
    assert await status_of(stack, code) == "rejected"
    await stack.settled()  # the notice to the author leaves through the outbox
    told = stack.relay.texts_to(AUTHOR)
    assert any("bị từ chối" in t and "Sai thể thức." in t for t in told)


async def test_link_only_does_its_own_action_and_needs_its_form(stack: Stack) -> None:
    await people(stack)
    await stack.send(draft(TITLE))
    review = links_of((await task_mails(stack, REVIEWER))[0])
    code = (await stack.documents())[0]["code"]
    status, page = await submit(stack, review["approve"], "reject")
    assert status == 410 and "không dùng cho quyết định đó" in page
    assert stack.http is not None
    async with stack.http.post(review["open"], data={"csrf": "0" * 64, "action": "approve"}) as r:
        assert r.status == 403  # a form from elsewhere
    assert [t["state"] for t in (await stack.document(code))["tasks"]] == ["open"]


async def test_changes_requested_then_revision_restarts_the_stage(stack: Stack) -> None:
    await people(stack)
    await stack.send(draft(TITLE))
    first = links_of((await task_mails(stack, REVIEWER))[0])
    code = (await stack.documents())[0]["code"]
    await submit(stack, first["changes"], "changes", "Bổ sung số liệu quý IV.")
    await wait_for(lambda: _has_status(stack, code, "changes_requested"), what="changes")
    notice = await wait_for(
        lambda: _mail_containing(stack, AUTHOR, "Bổ sung số liệu quý IV."),
        what="the author told with the comment",
    )

    revision = draft(f"Re: {notice['Subject']}", text="Đã bổ sung số liệu.")
    revision["In-Reply-To"] = notice["Message-ID"]
    await stack.send(revision)
    second = links_of((await task_mails(stack, REVIEWER, 2))[1])
    assert await status_of(stack, code) == "in_review"
    status, page = await click(stack, first["open"])
    assert status == 410 and "đã được dùng" in page  # the decided task's links are spent
    await submit(stack, second["approve"], "approve")
    await task_mails(stack, SIGNER)
    tasks = (await stack.document(code))["tasks"]
    assert [(t["version"], t["state"]) for t in tasks[:2]] == [
        (1, "changes_requested"),
        (2, "approved"),
    ]


async def test_author_withdraws_by_mail_and_open_links_stop(stack: Stack) -> None:
    await people(stack)
    await stack.send(draft(TITLE))
    review = links_of((await task_mails(stack, REVIEWER))[0])
    code = (await stack.documents())[0]["code"]
    withdraw = EmailMessage()
    withdraw["From"] = AUTHOR
    withdraw["To"] = stack.intake
    withdraw["Subject"] = f"[{code}] WITHDRAW"
    withdraw.set_content("Xin rút văn bản.")
    await stack.send(withdraw)
    await wait_for(lambda: _has_status(stack, code, "withdrawn"), what="withdrawn")
    status, page = await click(stack, review["open"])
    assert status == 410 and "không còn hiệu lực" in page


async def test_hundred_concurrent_posts_on_one_link_make_one_decision(stack: Stack) -> None:
    await people(stack)
    await stack.send(draft(TITLE))
    url = links_of((await task_mails(stack, REVIEWER))[0])["approve"]
    code = (await stack.documents())[0]["code"]
    _, page = await click(stack, url)
    csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', page)
    assert csrf is not None

    async def post(session: aiohttp.ClientSession) -> int:
        async with session.post(url, data={"csrf": csrf.group(1), "action": "approve"}) as r:
            await r.read()
            return r.status

    async with aiohttp.ClientSession() as session:
        statuses = await asyncio.gather(*(post(session) for _ in range(100)))
    assert sorted(statuses).count(200) == 1 and statuses.count(410) == 99
    decisions = await AuditEvent.filter(action__startswith="decision:").count()
    assert decisions == 1
    assert len(await task_mails(stack, SIGNER)) == 1
    assert (await stack.document(code))["status"] == "in_review"


async def test_quorum_all_completes_once_when_both_approve_at_the_same_moment(
    stack: Stack,
) -> None:
    # the default workflow's review is quorum "any": use ke-hoach (quorum "all") instead
    await people(stack, REVIEWER, REVIEWER2)
    for email in (REVIEWER, REVIEWER2):
        await stack.services.users.add_role(email, "truong-phong")
    await stack.send(draft(f"[KH] {TITLE}"))
    urls = [links_of((await task_mails(stack, r))[0])["approve"] for r in (REVIEWER, REVIEWER2)]
    await asyncio.gather(*(submit(stack, u, "approve") for u in urls))
    await task_mails(stack, SIGNER)
    await stack.settled()
    assert len([m for m in stack.relay.to(SIGNER) if "/t/" in m.get_content()]) == 1
    assert await AuditEvent.filter(action="stage_completed").count() == 1


async def _has_status(stack: Stack, code: str, status: str) -> bool:
    return await status_of(stack, code) == status


async def _mail_containing(stack: Stack, to: str, text: str) -> EmailMessage | None:
    for m in stack.relay.to(to):
        if text in m.get_content():
            return m
    return None


async def test_revision_while_in_review_supersedes_the_open_links(stack: Stack) -> None:
    await people(stack)
    first_draft = draft(TITLE)
    await stack.send(first_draft)
    old = links_of((await task_mails(stack, REVIEWER))[0])
    revision = draft(TITLE, text="Bản sửa trước khi có ý kiến.")
    revision["In-Reply-To"] = first_draft["Message-ID"]
    await stack.send(revision)
    new = links_of((await task_mails(stack, REVIEWER, 2))[1])
    status, page = await click(stack, old["approve"])
    assert status == 410 and "không còn hiệu lực" in page
    assert (await submit(stack, old["open"], "approve"))[0] == 410
    assert (await submit(stack, new["approve"], "approve"))[0] == 200
    code = (await stack.documents())[0]["code"]
    assert [(t["version"], t["state"]) for t in (await stack.document(code))["tasks"]][:2] == [
        (1, "superseded"),
        (2, "approved"),
    ]


async def test_a_token_appears_nowhere_but_in_its_mail(
    stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    await people(stack)
    await stack.send(draft(TITLE))
    review = links_of((await task_mails(stack, REVIEWER))[0])
    tokens = [u.rsplit("/", 1)[1] for u in review.values()]
    code = (await stack.documents())[0]["code"]
    await submit(stack, review["open"], "approve", "Đồng ý.")
    await click(stack, review["open"])  # a used link's page
    await task_mails(stack, SIGNER)
    seen = [json.dumps(vars(r), default=str) for r in caplog.records]
    for path in (
        f"/api/v1/documents/{code}",
        f"/api/v1/documents/{code}/audit",
        "/api/v1/tasks",
        "/api/v1/documents",
    ):
        seen.append(json.dumps((await stack.api(path))[1], default=str))
    _, page = await click(stack, review["approve"])
    seen.append(page)
    seen += [m.as_string() for m in stack.relay.to(AUTHOR)]  # the author's mails too
    for token in tokens:
        assert not any(token in s for s in seen)
