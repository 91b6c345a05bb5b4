"""Decisions by reply: an approver answers the task mail from their mail client.

Replies go in through docflow's real SMTP port to the task mail's `Reply-To`, shaped as
Outlook, Gmail and Thunderbird write them; "authenticated" is the office MTA's
`Authentication-Results` header (its authserv-id trusted by docflow). docflow's
answers come out through the capturing relay.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import make_msgid
from html import escape
from pathlib import Path

import pytest

from docflow.clock import FrozenClock
from docflow.documents.models import AuditEvent
from docflow.intake.models import InboundMessage
from docflow.workflow.models import Task
from tests.conftest import PACKAGE_ROOT, Relay, Stack, make_settings
from tests.integration.conftest import DAY, ClockedStack
from tests.integration.test_decision_code import GUARDED, code_in, code_mails
from tests.integration.test_spine_mail import draft
from tests.integration.test_workflow_links import REVIEWER, links_of, people, task_mails

MX = "mx.bandantoc.gov.vn"  # the office MTA's authserv-id
PASS = f"{MX}; dkim=pass header.d=bandantoc.gov.vn"
OTHER = "lan.pt@bandantoc.gov.vn"  # a colleague the task mail was forwarded to
DEPUTY = "khoa.pv@bandantoc.gov.vn"
TITLE = "Công văn về việc báo cáo công tác dân tộc quý IV"
SENT = "Tuesday, March 3, 2026 9:12 AM"


@pytest.fixture
async def office(database_url: str, relay: Relay, tmp_path: Path) -> AsyncIterator[Stack]:
    """docflow trusting the office MTA's header, with the shipped workflows and `mat`
    (one stage that requires a code)."""
    workflows = tmp_path / "workflows"
    shutil.copytree(PACKAGE_ROOT / "config" / "workflows", workflows)
    (workflows / "mat.toml").write_text(GUARDED, encoding="utf-8")
    settings = make_settings(
        tmp_path / "data",
        database_url,
        relay.port,
        DOCFLOW_WORKFLOWS_DIR=str(workflows),
        DOCFLOW_TRUSTED_AUTHSERV_ID=MX,
    )
    s = Stack(settings, relay)
    await s.start()
    await people(s)
    await s.add_user(OTHER, "Phạm Thị Lan")
    yield s
    await s.stop()


def quoted(text: str) -> str:
    return "\n".join(f"> {line}" if line else ">" for line in text.split("\n"))


def answer(
    task_mail: EmailMessage,
    text: str,
    client: str = "outlook",
    *,
    sender: str = REVIEWER,
    auth: str | None = PASS,
    files: list[tuple[str, bytes]] | None = None,
) -> EmailMessage:
    """A reply to `task_mail` whose own text is `text`, as `client` writes one: Outlook
    (its header block, and an HTML part), Gmail (`On … wrote:`), Thunderbird, or Gmail's
    HTML without a plain part (`gmail-html`)."""
    mail = task_mail.get_content()
    fr, subject = str(task_mail["From"]), str(task_mail["Subject"])
    m = EmailMessage()
    if auth is not None:  # what the office MTA writes on top
        m["Authentication-Results"] = auth
    m["From"] = sender
    m["To"] = str(task_mail["Reply-To"])
    m["Subject"] = f"RE: {subject}" if client == "outlook" else f"Re: {subject}"
    m["Message-ID"] = make_msgid(domain="bandantoc.gov.vn")
    m["In-Reply-To"] = m["References"] = str(task_mail["Message-ID"])
    html = f"<div>{escape(text)}</div><blockquote>{escape(mail)}</blockquote>"
    if client == "outlook":
        head = f"From: {fr}\nSent: {SENT}\nTo: {REVIEWER}\nSubject: {subject}"
        m.set_content(f"{text}\n\n{head}\n\n{mail}")
        m.add_alternative(f"<html><body>{html}</body></html>", subtype="html")
    elif client == "gmail":
        m.set_content(f"{text}\n\nOn Tue, Mar 3, 2026 at 9:12 AM {fr} wrote:\n\n{quoted(mail)}")
    elif client == "thunderbird":
        m.set_content(f"{text}\n\nOn 03/03/2026 09:12, docflow wrote:\n{quoted(mail)}\n")
    else:
        attribution = f"On Tue, Mar 3, 2026 at 9:12 AM {escape(fr)} wrote:<br>"
        m.set_content(
            f'<div dir="ltr">{escape(text)}</div><br><div class="gmail_quote">'
            f'<div class="gmail_attr">{attribution}</div>{html}</div>',
            subtype="html",
        )
    for name, data in files or []:
        m.add_attachment(data, maintype="application", subtype="octet-stream", filename=name)
    return m


async def send(stack: Stack, reply: EmailMessage) -> None:
    await stack.send(reply, sender=str(reply["From"]), rcpts=[str(reply["To"])])
    await stack.settled()


def answers_to(stack: Stack, address: str) -> list[EmailMessage]:
    return [m for m in stack.relay.to(address) if "ghi nhận ý kiến" in str(m["Subject"])]


async def task_of(code: str) -> Task:
    """The document's first task."""
    return (await Task.filter(document__code=code).order_by("id"))[0]


async def reasons() -> list[str | None]:
    rows = await InboundMessage.filter(state="reply").order_by("id")
    return [r.reason for r in rows]


async def one_document(stack: Stack, title: str = TITLE) -> tuple[str, EmailMessage]:
    """A draft in review: its code and the reviewer's task mail."""
    await stack.send(draft(title))
    [mail] = await task_mails(stack, REVIEWER)
    return (await stack.documents())[0]["code"], mail


async def test_replies_from_outlook_gmail_and_thunderbird_decide_as_their_first_line_says(
    office: Stack,
) -> None:
    cases = [  # (client, first lines, the task's state, its comment)
        ("outlook", "Đồng ý", "approved", ""),
        ("gmail", "dong y", "approved", ""),
        ("thunderbird", "APPROVE\nTrình ký.", "approved", "Trình ký."),
        ("outlook", "Yêu cầu sửa: thêm số liệu quý IV", "changes_requested",
         "thêm số liệu quý IV"),
        ("gmail-html", "Từ chối", "rejected", ""),
    ]  # fmt: skip
    for i, _ in enumerate(cases):
        await office.send(draft(f"{TITLE} ({i + 1})"))
    mails = await task_mails(office, REVIEWER, len(cases))
    assert all(str(m["Reply-To"]).startswith("vanban+t-") for m in mails)
    assert "Hoặc trả lời thư này" in mails[0].get_content()
    by_code = {str(m["Subject"]).split("]")[0][1:]: m for m in mails}
    replies = {}
    for code, (client, text, _, _) in zip(sorted(by_code), cases, strict=True):
        files = [("Góp ý.docx", b"PK\x03\x04 not a version")] if client == "outlook" else None
        replies[code] = answer(by_code[code], text, client, files=files)
        await send(office, replies[code])

    for code, (client, text, state, comment) in zip(sorted(by_code), cases, strict=True):
        task = await task_of(code)
        assert (task.state, task.comment) == (state, comment), (client, text)
        event = await AuditEvent.get(action=f"decision:{state}", document__code=code)
        assert (event.actor, event.source) == (REVIEWER, "mail")
        assert event.detail["message_id"] == str(replies[code]["Message-ID"]).strip("<>")
        assert len((await office.document(code))["versions"]) == 1, "a reply adds no version"
    confirmations = answers_to(office, REVIEWER)
    assert len(confirmations) == len(cases)
    assert all("Đã ghi nhận ý kiến" in str(m["Subject"]) for m in confirmations)
    first = confirmations[0]
    assert first["In-Reply-To"] == replies[sorted(by_code)[0]]["Message-ID"]
    assert first["Auto-Submitted"] == "auto-replied" and first["Reply-To"] is None
    assert "không được lưu thành phiên bản mới" in first.get_content()  # its Góp ý.docx
    assert "thêm số liệu quý IV" in confirmations[3].get_content()
    assert await reasons() == ["decided"] * len(cases)


async def test_a_reply_that_cannot_count_changes_nothing_and_only_an_authenticated_one_is_answered(
    office: Stack,
) -> None:
    code, mail = await one_document(office)
    unknown = "ai.do@bandantoc.gov.vn"  # of the office's domain, but no user
    await send(office, answer(mail, "Đồng ý", auth=None))
    await send(office, answer(mail, "Đồng ý", auth=f"mx.evil.example; {PASS.split('; ')[1]}"))
    await send(office, answer(mail, "Đồng ý", auth=f"{MX}; dkim=fail header.d=bandantoc.gov.vn"))
    await send(office, answer(mail, "Đồng ý", sender=unknown))
    assert answers_to(office, REVIEWER) == [] and office.relay.to(unknown) == []  # no backscatter

    await send(office, answer(mail, "Đồng ý", "gmail", sender=OTHER))  # forwarded to a colleague
    [told] = answers_to(office, OTHER)
    assert "giao cho người khác" in told.get_content() and "/t/" not in told.get_content()

    await send(office, answer(mail, "Kính gửi anh Hùng,\nĐồng ý", "thunderbird"))
    [puzzled] = answers_to(office, REVIEWER)
    text = puzzled.get_content()
    assert "“Kính gửi anh Hùng,”" in text and "không phải là một quyết định" in text
    assert (await task_of(code)).state == "open"
    assert await reasons() == [
        *["unauthenticated_sender"] * 3,
        *["wrong_sender"] * 2,
        "not_understood",
    ]

    # the answer carries fresh links and the same reply address: replying to it decides
    assert puzzled["Reply-To"] == mail["Reply-To"]
    assert set(links_of(puzzled)) == {"open", "approve", "changes", "reject"}
    await send(office, answer(puzzled, "Đồng ý"))
    assert (await task_of(code)).state == "approved"


async def test_a_reply_acts_once_however_often_it_arrives(office: Stack) -> None:
    code, mail = await one_document(office)
    reply = answer(mail, "Đồng ý", "gmail")
    await send(office, reply)
    await send(office, reply)  # the same message delivered again
    assert await AuditEvent.filter(action="decision:approved").count() == 1
    assert len(answers_to(office, REVIEWER)) == 1

    await send(office, answer(mail, "Từ chối", "outlook"))  # a second thought, by reply
    assert (await task_of(code)).state == "approved"
    again = answers_to(office, REVIEWER)[-1]
    assert "đã được ghi nhận trước đó (đồng ý)" in again.get_content()
    assert "/status/" in again.get_content() and "/t/" not in again.get_content()
    assert await reasons() == ["decided", "duplicate", "used"]
    row = await InboundMessage.filter(state="reply").order_by("id").first()
    assert row is not None
    status, entry = await office.api(f"/api/v1/quarantine/{row.id}")  # kept, not quarantined
    assert status == 200 and (entry["state"], entry["reason"]) == ("reply", "decided")
    assert "dkim=pass header.d=bandantoc.gov.vn" in entry["detail"]


async def test_a_reply_to_a_superseded_task_changes_nothing(office: Stack) -> None:
    code, first = await one_document(office)
    await office.send(draft(f"[{code}] {TITLE}", text="Bản sửa theo góp ý."))  # version 2
    await task_mails(office, REVIEWER, 2)
    await send(office, answer(first, "Đồng ý"))
    tasks = (await office.document(code))["tasks"]
    assert [(t["version"], t["state"]) for t in tasks] == [(1, "superseded"), (2, "open")]
    [told] = answers_to(office, REVIEWER)
    assert "không còn hiệu lực" in told.get_content() and "“Đồng ý”" in told.get_content()
    assert await reasons() == ["superseded"]


async def test_a_stage_with_a_code_needs_the_code_on_the_decision_line(office: Stack) -> None:
    await office.send(draft("[MAT] Báo cáo tình hình an ninh vùng đồng bào dân tộc"))
    [mail] = await task_mails(office, REVIEWER)
    code = code_in((await code_mails(office, REVIEWER))[0])
    assert "Đồng ý 123456" in mail.get_content()  # the task mail says how
    doc = (await office.documents())[0]["code"]

    await send(office, answer(mail, f"Đồng ý\n{code}"))  # not on the line
    await send(office, answer(mail, f"Đồng ý {(int(code) + 1) % 10**6:06d}"))
    assert [(t.state, t.code_attempts) for t in await Task.all()] == [("open", 1)]
    missing, wrong = answers_to(office, REVIEWER)
    assert "cần mã xác nhận" in missing.get_content() and links_of(missing)
    assert "mã xác nhận trên dòng đó không đúng" in wrong.get_content()

    await send(office, answer(mail, f"Đồng ý, mã {code}: trình ký"))
    task = await task_of(doc)
    assert (task.state, task.comment) == ("approved", "trình ký")
    assert await reasons() == ["code_missing", "bad_code", "decided"]


async def test_a_delegate_decides_by_reply_on_behalf_of_the_principal(office: Stack) -> None:
    await office.add_user(DEPUTY, "Phạm Văn Khoa")
    now = office.services.clock.now()
    await office.services.delegations.add(REVIEWER, DEPUTY, now, now + timedelta(days=2), "KT")
    await office.send(draft(TITLE))
    [mail] = await task_mails(office, DEPUTY)
    await send(office, answer(mail, "Đồng ý: thay mặt anh Hùng", sender=DEPUTY))
    event = await AuditEvent.get(action="decision:approved")
    assert (event.actor, event.on_behalf_of, event.detail["capacity"]) == (DEPUTY, REVIEWER, "KT")
    assert event.source == "mail" and event.detail["comment"] == "thay mặt anh Hùng"
    assert len(answers_to(office, DEPUTY)) == 1 and answers_to(office, REVIEWER) == []


async def test_a_reminder_is_answered_as_its_task_mail_is(
    database_url: str, relay: Relay, tmp_path: Path
) -> None:
    """A reminder carries a reply address of its own: replying to it decides."""
    clock = FrozenClock(datetime.now(UTC).replace(microsecond=0))
    settings = make_settings(
        tmp_path / "data", database_url, relay.port, DOCFLOW_TRUSTED_AUTHSERV_ID=MX
    )
    stack = ClockedStack(settings, relay, clock)
    await stack.start()
    try:
        await people(stack)
        code, task_mail = await one_document(stack)
        clock.advance(DAY)
        assert await stack.sweep() == (1, 0)
        [reminder] = [m for m in relay.to(REVIEWER) if "Nhắc việc" in str(m["Subject"])]
        address = str(reminder["Reply-To"])
        assert address.startswith("vanban+t-") and address != str(task_mail["Reply-To"])
        assert "Hoặc trả lời thư này" in reminder.get_body(("plain",)).get_content()  # type: ignore[union-attr]

        await send(stack, answer(reminder, "Đồng ý, trình ký.", "gmail"))
        task = await task_of(code)
        assert (task.state, task.comment) == ("approved", "trình ký.")
    finally:
        await stack.stop()
