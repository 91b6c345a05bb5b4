"""Bounces of docflow's own mail, through the SMTP port: a DSN to the VERP address of a task
mail marks the approver's delivery failed, shows it on the document and tells the author.

(The same path through a real Postfix and Dovecot: tests/system/test_mailstack.py.)
"""

from __future__ import annotations

import asyncio
import re
from email.message import EmailMessage

import aiosmtplib

from docflow.documents.models import AuditEvent
from docflow.intake.models import InboundMessage
from docflow.notify.models import DeliveryFailure, OutboxMessage
from tests.conftest import Stack, wait_for
from tests.integration.conftest import DAY, ClockedStack
from tests.integration.test_spine_mail import AUTHOR, draft
from tests.integration.test_workflow_links import REVIEWER, people, task_mails

TITLE = "Công văn về việc họp giao ban"
VERP = re.compile(r"^docflow-bounce\+[0-9a-f]{20}@docflow\.localhost$")


def dsn(
    verp: str,
    recipient: str,
    original_id: str,
    action: str = "failed",
    status: str = "5.1.1",
) -> bytes:
    """An RFC 3464 delivery status notification, as an MTA writes it."""
    return f"""\
From: MAILER-DAEMON@mx.bandantoc.gov.vn (Mail Delivery System)
To: {verp}
Subject: Undelivered Mail Returned to Sender
Message-ID: <dsn.{original_id.strip("<>")}>
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="BOUNDARY"

--BOUNDARY
Content-Type: text/plain; charset=us-ascii

I'm sorry to have to inform you that your message could not be delivered.

--BOUNDARY
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.bandantoc.gov.vn
Arrival-Date: Wed, 25 Nov 2026 10:00:00 +0700

Final-Recipient: rfc822; {recipient}
Original-Recipient: rfc822;{recipient}
Action: {action}
Status: {status}
Diagnostic-Code: smtp; 550 5.1.1 <{recipient}> User doesn't exist: {recipient}

--BOUNDARY
Content-Type: text/rfc822-headers

From: docflow <docflow@docflow.localhost>
Message-ID: {original_id}

--BOUNDARY--
""".replace("\n", "\r\n").encode()


async def bounce(stack: Stack, raw: bytes, to: str) -> None:
    """Sent as an MTA sends a DSN: from the null sender."""
    async with aiosmtplib.SMTP(
        hostname="127.0.0.1", port=stack.settings.smtp.port, timeout=30
    ) as client:
        await client.sendmail("", [to], raw)


async def task_mail_to_reviewer(stack: Stack) -> tuple[str, EmailMessage, str]:
    """A document in review; its code, the reviewer's task mail and its envelope sender."""
    await people(stack)
    await stack.send(draft(TITLE))
    [mail] = await task_mails(stack, REVIEWER)
    code = (await stack.documents())[0]["code"]
    verp = stack.relay.envelope_from[str(mail["Message-ID"])]
    return code, mail, verp


def told_author(stack: Stack) -> list[EmailMessage]:
    return [m for m in stack.relay.to(AUTHOR) if "Thư không đến được" in str(m["Subject"])]


async def test_a_task_mail_that_bounces_is_failed_on_the_document_and_told_to_the_author(
    stack: Stack,
) -> None:
    code, mail, verp = await task_mail_to_reviewer(stack)
    assert VERP.match(verp), verp
    await stack.settled()
    other_verps = {stack.relay.envelope_from[str(m["Message-ID"])] for m in stack.relay.to(AUTHOR)}
    assert verp not in other_verps and all(VERP.match(v) for v in other_verps)  # one per mail
    documents_before = len(await stack.documents())

    await bounce(stack, dsn(verp, REVIEWER, str(mail["Message-ID"])), verp)

    [notice] = await wait_for(lambda: _async(told_author(stack)), what="the author told")
    # the author is told from the bounce's own transaction; the inbound row is marked after it
    await wait_for(lambda: _bounces_done(1), what="the bounce recorded")
    doc = await stack.document(code)
    [failed] = doc["deliveries_failed"]
    assert (failed["to"], failed["kind"], failed["status"], failed["source"]) == (
        REVIEWER,
        "task",
        "5.1.1",
        "dsn",
    )
    assert "User doesn't exist" in failed["diagnostic"]
    assert notice["Auto-Submitted"] == "auto-generated"
    assert code in str(notice["Subject"])
    assert str(mail["Message-ID"]) in str(notice["References"])  # in the document's thread
    text = stack.relay.texts_to(AUTHOR)[-1]
    assert REVIEWER in text and "5.1.1" in text and "Người xem xét 1" in text

    # the status page (the receipt's link) shows it too
    status_url = stack.services.status_links.url(code)
    assert stack.http is not None
    async with stack.http.get(status_url) as r:
        page = await r.text()
    assert r.status == 200 and "Thư không đến được" in page and REVIEWER in page
    assert "Thư giao việc" in page and "5.1.1" in page

    audit = await AuditEvent.filter(action="delivery_failed").values("actor", "detail")
    assert [(a["actor"], a["detail"]["to"]) for a in audit] == [("system", REVIEWER)]
    assert (await OutboxMessage.get(bounce_token=verp.split("+")[1].split("@")[0])).state == (
        "bounced"
    )
    [row] = await InboundMessage.filter(state="bounce").values("reason", "document_code")
    assert row == {"reason": "delivery_failed", "document_code": code}
    assert await InboundMessage.filter(state="quarantined").count() == 0

    # the same DSN again (an MTA retrying): nothing twice; never a document, never a reply
    await bounce(stack, dsn(verp, REVIEWER, str(mail["Message-ID"])), verp)
    await wait_for(lambda: _bounces_done(2), what="the second bounce")
    await stack.settled()
    assert await DeliveryFailure.all().count() == 1
    assert len(told_author(stack)) == 1
    assert len(await stack.documents()) == documents_before
    assert stack.relay.to("MAILER-DAEMON@mx.bandantoc.gov.vn") == []

    # the author's own mail bouncing (here the receipt) is shown, but mails nobody
    [receipt] = [m for m in stack.relay.to(AUTHOR) if "Đã tiếp nhận" in str(m["Subject"])]
    receipt_verp = stack.relay.envelope_from[str(receipt["Message-ID"])]
    await bounce(stack, dsn(receipt_verp, AUTHOR, str(receipt["Message-ID"])), receipt_verp)
    await wait_for(lambda: _bounces_done(3), what="the receipt's bounce")
    await stack.settled()
    doc = await stack.document(code)
    assert [(f["to"], f["kind"]) for f in doc["deliveries_failed"]] == [
        (REVIEWER, "task"),
        (AUTHOR, "receipt"),
    ]
    assert len(told_author(stack)) == 1


async def test_delays_forged_tokens_and_other_addresses_record_nothing(stack: Stack) -> None:
    code, mail, verp = await task_mail_to_reviewer(stack)
    forged = "docflow-bounce+" + "0" * 20 + "@docflow.localhost"

    await bounce(stack, dsn(verp, REVIEWER, str(mail["Message-ID"]), "delayed", "4.4.1"), verp)
    await bounce(stack, dsn(forged, REVIEWER, str(mail["Message-ID"])), forged)
    await wait_for(lambda: _bounces_done(2), what="both bounces processed")
    await stack.settled()

    assert (await stack.document(code))["deliveries_failed"] == []
    assert await DeliveryFailure.all().count() == 0 and told_author(stack) == []
    details = (
        await InboundMessage.filter(state="bounce").order_by("id").values_list("detail", flat=True)
    )
    assert "nothing failed" in str(details[0]) and "no mail of docflow" in str(details[1])
    try:  # only intake and bounce addresses are taken
        await bounce(stack, b"Subject: x\r\n\r\nx\r\n", "docflow@docflow.localhost")
    except aiosmtplib.SMTPRecipientsRefused as e:
        assert e.recipients[0].code == 550
    else:
        raise AssertionError("docflow@docflow.localhost was accepted")


async def test_a_plain_bounce_is_read_by_its_verp_token_alone(stack: Stack) -> None:
    """A non-standard bounce (no message/delivery-status): the address names the mail."""
    code, _, verp = await task_mail_to_reviewer(stack)
    plain = (
        f"From: postmaster@old-mx.example\r\nTo: {verp}\r\n"
        "Subject: Mail delivery failed: returning message to sender\r\n\r\n"
        f"This message could not be delivered to {REVIEWER}.\r\n"
    ).encode()

    await bounce(stack, plain, verp)

    await wait_for(lambda: _async(told_author(stack)), what="the author told")
    [failed] = (await stack.document(code))["deliveries_failed"]
    assert (failed["to"], failed["status"]) == (REVIEWER, "5.0.0")


def reply(verp: str, sender: str, subject: str, **headers: str) -> bytes:
    """A mail to the VERP address that is no DSN: a bounce, an auto-reply, or a person's."""
    extra = "".join(f"{k.replace('_', '-')}: {v}\r\n" for k, v in headers.items())
    return (
        f"From: {sender}\r\nTo: {verp}\r\nSubject: {subject}\r\n{extra}"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        "Tôi đang đi công tác đến hết tuần.\r\n"
    ).encode()


async def test_an_out_of_office_reply_to_the_verp_address_fails_nobody(stack: Stack) -> None:
    """RFC 3834 sends auto-replies to the Return-Path, which is the VERP address: the
    approver got the task mail, and the author must not hear otherwise."""
    code, mail, verp = await task_mail_to_reviewer(stack)
    await stack.settled()
    subject = str(mail["Subject"])

    vacation = reply(verp, REVIEWER, f"Trả lời tự động: {subject}", Auto_Submitted="auto-replied")
    await bounce(stack, vacation, verp)
    await bounce(stack, reply(verp, REVIEWER, f"Re: {subject}", X_Autoreply="yes"), verp)
    challenge = reply(verp, "xacnhan@hopthu.example", "Vui lòng xác nhận địa chỉ của bạn")
    await bounce(stack, challenge, verp)
    await wait_for(lambda: _bounces_done(3), what="the replies processed")
    await stack.settled()

    assert (await stack.document(code))["deliveries_failed"] == []
    assert await DeliveryFailure.all().count() == 0 and told_author(stack) == []
    rows = await InboundMessage.filter(state="bounce").order_by("id").values("reason", "detail")
    assert [r["reason"] for r in rows] == ["bounce"] * 3
    assert str(rows[0]["detail"]).startswith("an auto-reply (Subject: Trả lời tự động: ")
    assert str(rows[1]["detail"]).startswith("an auto-reply (X-Autoreply: yes)")
    assert str(rows[2]["detail"]).startswith("no bounce")

    # a bounce without a report still counts when a mail server sends it, whatever its title
    plain = reply(verp, "MAILER-DAEMON@old-mx.example", "Thông báo của hệ thống thư")
    await bounce(stack, plain, verp)
    await wait_for(lambda: _async(told_author(stack)), what="the author told")
    [failed] = (await stack.document(code))["deliveries_failed"]
    assert (failed["to"], failed["status"], failed["source"]) == (REVIEWER, "5.0.0", "dsn")


async def test_bounces_of_one_approvers_mails_taken_at_once_tell_the_author_once(
    clocked: ClockedStack,
) -> None:
    """Intake workers (or processes) record them at the same time: on PostgreSQL each
    would find the author not yet told unless the document is locked first."""
    await task_mail_to_reviewer(clocked)
    for _ in range(3):  # a reminder a day: more mails to the reviewer, each its own VERP
        clocked.clock.advance(DAY)
        await clocked.sweep()
    mails = clocked.relay.to(REVIEWER)
    assert len(mails) == 4
    verps = [clocked.relay.envelope_from[str(m["Message-ID"])] for m in mails]

    dsns = [dsn(v, REVIEWER, str(m["Message-ID"])) for v, m in zip(verps, mails, strict=True)]
    await asyncio.gather(*(bounce(clocked, raw, v) for raw, v in zip(dsns, verps, strict=True)))
    await wait_for(lambda: _bounces_done(4), what="the bounces processed")
    await clocked.settled()

    assert await DeliveryFailure.filter(recipient=REVIEWER).count() == 4
    assert len(told_author(clocked)) == 1


async def test_an_approver_the_relay_refuses_for_good_is_recorded_like_a_bounce(
    stack: Stack,
) -> None:
    stack.relay.unknown.add(REVIEWER)  # 550 5.1.1 at RCPT: no DSN will ever come
    await people(stack)
    await stack.send(draft(TITLE))

    await wait_for(lambda: _async(told_author(stack)), what="the author told")
    code = (await stack.documents())[0]["code"]
    [failed] = (await stack.document(code))["deliveries_failed"]
    assert (failed["to"], failed["kind"], failed["status"], failed["source"]) == (
        REVIEWER,
        "task",
        "5.1.1",
        "relay",
    )
    [task] = await OutboxMessage.filter(kind="task").values("state", "attempts")
    assert task == {"state": "failed", "attempts": 1}  # not retried


async def _async(value: list[EmailMessage]) -> list[EmailMessage]:
    return value


async def _bounces_done(n: int) -> bool:
    return await InboundMessage.filter(state="bounce").count() >= n
