"""docflow behind a real Postfix (LMTP) with a real Dovecot: the path of an office's mail.

swaks → Postfix → LMTP → `docflow serve` (DOCFLOW_LMTP=1); docflow's receipts →
Postfix → Dovecot, read back over IMAP. The stack (tests/mailstack/) is started
once for the module; every test gets its own docflow, database and data dir.
"""

from __future__ import annotations

import asyncio
import shutil
import smtplib
import uuid
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any

import aioimaplib
import dkim
import pytest

from docflow.intake.models import InboundMessage
from tests.conftest import Relay, Stack, make_settings
from tests.filebuilders import make_docx_python_docx
from tests.mailstack import DKIM_SELECTOR, Mailstack, running
from tests.system.conftest import (
    AUTHOR,
    AUTHOR_NAME,
    DOCX,
    INTAKE,
    Server,
    cli_ok,
    docflow_env,
    sha256,
    wait_until,
)

Spawn = Callable[[dict[str, str]], Awaitable[Server]]
GHOST = "ghost.reviewer@bandantoc.gov.vn"  # Postfix takes it, Dovecot has no such user
REVIEWER = "hung.nv@bandantoc.gov.vn"  # a mailbox of the stack
SWAKS = Path("/usr/bin/swaks")
TRUSTED_MTA = "mx.bandantoc.gov.vn"  # the authserv-id in config/postfix/docflow_header_checks


@pytest.fixture(scope="module")
def mailstack() -> Iterator[Mailstack]:
    """Postfix and Dovecot on free loopback ports, relaying the workflow domain to a port
    that each test's docflow listens on (LMTP)."""
    with running(unknown_to_dovecot=[GHOST]) as stack:
        yield stack


@pytest.fixture
def lmtp_env(database_url: str, mailstack: Mailstack, tmp_path: Path) -> dict[str, str]:
    """docflow speaking LMTP on the port Postfix relays to, sending through that Postfix."""
    return docflow_env(
        tmp_path,
        database_url,
        mailstack.smtp_port,
        DOCFLOW_LMTP="1",
        DOCFLOW_SMTP_PORT=str(mailstack.docflow_lmtp_port),
    )


def swaks_path() -> Path:
    if not SWAKS.exists():
        pytest.fail(f"{SWAKS} is missing: run scripts/bootstrap --test")
    return SWAKS


async def swaks(mailstack: Mailstack, *args: str) -> str:
    """Send one message to Postfix with Debian's swaks; its transcript."""
    client = await asyncio.create_subprocess_exec(
        str(swaks_path()),
        "--server", f"127.0.0.1:{mailstack.smtp_port}",
        "--from", AUTHOR,
        "--to", INTAKE,
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    transcript = (await asyncio.wait_for(client.communicate(), 60))[0].decode(errors="replace")
    assert client.returncode == 0, transcript[-3000:]
    assert "<-  250 2.0.0 Ok: queued as" in transcript, transcript[-3000:]
    return transcript


async def send_draft(mailstack: Mailstack, tmp_path: Path, title: str, data: bytes) -> str:
    """A DOCX draft from the author through Postfix; its Message-ID."""
    path = tmp_path / f"{uuid.uuid4().hex}.docx"
    path.write_bytes(data)
    message_id = make_msgid(domain="bandantoc.gov.vn")
    await swaks(
        mailstack,
        "--header", f"Subject: {title}",
        "--header", f"Message-Id: {message_id}",
        "--attach-type", DOCX,
        "--attach-name", "Dự thảo.docx",
        "--attach", f"@{path}",
    )  # fmt: skip
    return message_id


async def add_author(env: dict[str, str]) -> None:
    await cli_ok(env, "user", "add", AUTHOR, "--name", AUTHOR_NAME, "--role", "staff")


async def documents_titled(server: Server, title: str) -> list[dict[str, Any]]:
    return [d for d in await server.documents() if d["title"] == title]


async def mailbox(mailstack: Mailstack, user: str) -> list[EmailMessage]:
    """Every message in `user`'s INBOX, read over IMAP (PEEK: nothing marked seen)."""
    client = aioimaplib.IMAP4(host="127.0.0.1", port=mailstack.imap_port, timeout=10)
    await client.wait_hello_from_server()
    try:
        response = await client.login(user, mailstack.password)
        assert response.result == "OK", response
        response = await client.select("INBOX")
        assert response.result == "OK", response
        response = await client.uid("fetch", "1:*", "(BODY.PEEK[])")
        assert response.result == "OK", response
    finally:
        await client.logout()
    out = []
    for line in response.lines:
        if isinstance(line, bytearray):  # a literal: one whole message
            msg = message_from_bytes(bytes(line), policy=policy.default)
            assert isinstance(msg, EmailMessage)
            out.append(msg)
    return out


def queued_for(mailstack: Mailstack, rcpt: str) -> list[str]:
    """Why Postfix still holds mail for `rcpt`: one delay reason a queued recipient."""
    return [
        r.get("delay_reason", "")
        for entry in mailstack.queue()
        for r in entry["recipients"]
        if r["address"] == rcpt
    ]


# --- the tests ------------------------------------------------------------------------------


def test_postfix_takes_only_intake_addresses_of_the_workflow_domain(mailstack: Mailstack) -> None:
    """config/postfix/: other addresses are refused in the dialogue, never bounced later."""
    with smtplib.SMTP("127.0.0.1", mailstack.smtp_port, timeout=10) as client:
        client.ehlo("mua.bandantoc.gov.vn")
        client.mail(AUTHOR)
        assert client.rcpt("nobody@docflow.localhost")[0] == 550
        assert client.rcpt("vanban+ke-hoach@docflow.localhost")[0] == 250
        assert client.rcpt(INTAKE)[0] == 250
        assert client.rcpt("docflow-bounce+0a1b2c@docflow.localhost")[0] == 250  # DSNs
        assert client.rcpt("nobody@bandantoc.gov.vn")[0] == 550
        client.rset()


async def test_draft_through_postfix_becomes_a_document_and_its_receipt_reaches_the_imap_inbox(
    mailstack: Mailstack, lmtp_env: dict[str, str], tmp_path: Path, spawn: Spawn
) -> None:
    server = (await asyncio.gather(spawn(lmtp_env), add_author(lmtp_env)))[0]
    title = f"Kế hoạch công tác dân tộc năm 2027 ({uuid.uuid4().hex[:6]})"
    data = make_docx_python_docx(["Năm 2027, Ban Dân tộc đẩy mạnh cải cách hành chính."])

    message_id = await send_draft(mailstack, tmp_path, f"[KH] {title}", data)

    docs = await wait_until(lambda: documents_titled(server, title), what="the document")
    status, doc = await server.api(f"/api/v1/documents/{docs[0]['code']}")
    assert status == 200, doc
    assert (doc["author"], doc["workflow"], doc["status"]) == (AUTHOR, "ke-hoach", "in_review")
    assert doc["versions"][0]["message_id"] == message_id.strip("<>")
    assert [(f["name"], f["sha256"]) for f in doc["versions"][0]["files"]] == [
        ("Dự thảo.docx", sha256(data))
    ]

    async def receipt() -> EmailMessage | None:
        for msg in await mailbox(mailstack, AUTHOR):
            if doc["code"] in str(msg["Subject"]) and title in str(msg["Subject"]):
                return msg
        return None

    msg = await wait_until(receipt, what=f"the receipt in {AUTHOR}'s mailbox\n{mailstack.logs()}")
    assert msg["In-Reply-To"] == message_id
    assert msg["Delivered-To"] == AUTHOR  # Dovecot's LMTP delivered it …
    assert any("(Postfix)" in r for r in msg.get_all("Received", []))  # … from Postfix
    body = msg.get_body(("plain",))
    assert body is not None and doc["code"] in body.get_content()
    assert queued_for(mailstack, INTAKE) == []


async def test_mail_docflow_cannot_take_stays_in_postfix_and_arrives_once_when_docflow_is_back(
    mailstack: Mailstack, lmtp_env: dict[str, str], tmp_path: Path, spawn: Spawn
) -> None:
    server = (await asyncio.gather(spawn(lmtp_env), add_author(lmtp_env)))[0]
    title = f"Công văn về việc báo cáo quý IV ({uuid.uuid4().hex[:6]})"
    spool = Path(lmtp_env["DOCFLOW_DATA_DIR"]) / "spool"

    async def deferred(reason: str) -> list[str]:
        reasons = await asyncio.to_thread(queued_for, mailstack, INTAKE)
        return [r for r in reasons if reason in r]

    # Storage failing inside docflow (a file stands where a spool directory goes; as a full
    # disk would). First the temp file of DATA cannot be created: 451 to DATA itself.
    shutil.rmtree(spool / "tmp", ignore_errors=True)
    spool.mkdir(parents=True, exist_ok=True)
    (spool / "tmp").write_text("not a directory")
    await send_draft(mailstack, tmp_path, title, make_docx_python_docx(["Báo cáo quý IV."]))
    await wait_until(
        lambda: deferred("said: 451 4.3.0 Temporary failure, please try again later (in reply "
                         "to DATA command)"),
        what=f"a 451 to DATA\n{mailstack.logs()}",
    )  # fmt: skip

    # Then the message arrives but cannot be made durable (no directory for its day): 451
    # after the data, instead of the 250.
    (spool / "tmp").unlink()
    now = datetime.now(UTC)
    blockers = {spool / str((now + timedelta(days=d)).year) for d in (-1, 0, 1)}
    for blocker in blockers:
        blocker.write_text("not a directory")
    await asyncio.to_thread(mailstack.flush)
    await wait_until(
        lambda: deferred("said: 451 4.3.0 Temporary failure, please try again later (in reply "
                         "to end of DATA command)"),
        what=f"a 451 after the data\n{mailstack.logs()}",
    )  # fmt: skip
    assert await server.inbound("pending") == 0
    assert await server.documents() == []
    assert list((spool / "tmp").iterdir()) == []  # nothing half-written left behind

    # docflow down: Postfix keeps trying, and keeping the mail.
    await server.stop()
    for blocker in blockers:
        blocker.unlink()
    await asyncio.to_thread(mailstack.flush)
    await wait_until(lambda: deferred("Connection refused"), what="a retry while docflow is down")

    await server.start()
    await asyncio.to_thread(mailstack.flush)

    docs = await wait_until(lambda: documents_titled(server, title), what="the document")
    assert await asyncio.to_thread(queued_for, mailstack, INTAKE) == []
    await wait_until(lambda: _settled(server), what="intake to settle")
    assert [d["code"] for d in await documents_titled(server, title)] == [docs[0]["code"]]
    assert len(await server.documents()) == 1
    states = ("pending", "accepted", "duplicate", "quarantined")
    assert sum([await server.inbound(state) for state in states]) == 1  # received once


async def _settled(server: Server) -> bool:
    return await server.inbound("pending") == 0


async def test_an_authentication_result_forged_in_the_office_mta_name_is_removed_by_postfix(
    mailstack: Mailstack, database_url: str, relay: Relay, tmp_path: Path
) -> None:
    """config/postfix/docflow_header_checks: a sender cannot write the MTA's own verdict.

    docflow (in this process, LMTP behind the stack's Postfix) trusts only the office
    MTA's authserv-id; a header in that name that a sender wrote would otherwise pass.
    """
    settings = make_settings(
        tmp_path / "data",
        database_url,
        relay.port,
        DOCFLOW_LMTP="1",
        DOCFLOW_SMTP_PORT=str(mailstack.docflow_lmtp_port),
        DOCFLOW_REQUIRE_AUTHENTICATED_SENDER="1",
        DOCFLOW_TRUSTED_AUTHSERV_ID=TRUSTED_MTA,
    )
    stack = Stack(settings, relay)
    await stack.start()
    try:
        await stack.add_user(AUTHOR, AUTHOR_NAME)
        forged = {
            "Tự khai bằng tên MTA": f"{TRUSTED_MTA}; dkim=pass header.d=bandantoc.gov.vn",
            "Tự khai tên khác": "mx.evil.example; dkim=pass header.d=bandantoc.gov.vn",
        }
        for title, header in forged.items():
            path = tmp_path / f"{uuid.uuid4().hex}.docx"
            path.write_bytes(make_docx_python_docx([title]))
            await swaks(
                mailstack,
                "--header", f"Subject: {title}",
                "--header", f"Authentication-Results: {header}",
                "--attach-type", DOCX,
                "--attach", f"@{path}",
            )  # fmt: skip

        async def quarantined() -> list[InboundMessage]:
            rows = await InboundMessage.filter(state="quarantined").order_by("id")
            return rows if len(rows) == len(forged) else []

        rows = await wait_until(quarantined, what=f"both quarantined\n{mailstack.logs()}")
        await stack.settled()
        assert [(r.subject, r.reason) for r in rows] == [
            (title, "unauthenticated_sender") for title in forged
        ]
        raw = [stack.services.spool.path_of(r.spool_name).read_bytes() for r in rows]
        assert b"Authentication-Results: mx.bandantoc" not in raw[0]  # Postfix removed it
        assert b"Authentication-Results: mx.evil.example" in raw[1]  # docflow ignored it
        assert await stack.documents() == []
        assert relay.messages == []
    finally:
        await stack.stop()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # both: test_bounces.py
async def test_a_task_mail_to_a_nonexistent_approver_bounces_and_the_author_is_told(
    mailstack: Mailstack, database_url: str, tmp_path: Path
) -> None:
    """Dovecot refuses the approver; Postfix's DSN to docflow's VERP address comes back
    over LMTP; the document shows the failed delivery and the author hears of it."""
    settings = make_settings(
        tmp_path / "data",
        database_url,
        mailstack.smtp_port,
        DOCFLOW_LMTP="1",
        DOCFLOW_SMTP_PORT=str(mailstack.docflow_lmtp_port),
    )
    stack = Stack(settings, Relay())  # in-process docflow, its mail through Postfix
    await stack.start()
    try:
        await stack.add_user(AUTHOR, AUTHOR_NAME)
        await stack.add_user(GHOST, "Người xem xét", ["chanh-van-phong"])
        await stack.add_user("truongban@bandantoc.gov.vn", "Trưởng Ban", ["truong-ban"])
        title = f"Công văn họp giao ban ({uuid.uuid4().hex[:6]})"
        await send_draft(mailstack, tmp_path, title, make_docx_python_docx(["Họp giao ban."]))

        async def failed() -> list[dict[str, Any]]:
            docs = await stack.documents()
            return (await stack.document(docs[0]["code"]))["deliveries_failed"] if docs else []

        [failure] = await wait_until(
            failed, what=f"the bounce of the task mail\n{mailstack.logs()}"
        )
        code = (await stack.documents())[0]["code"]
        assert (failure["to"], failure["kind"], failure["source"]) == (GHOST, "task", "dsn")
        assert failure["status"] == "5.1.1" and GHOST in failure["diagnostic"]

        async def told() -> EmailMessage | None:
            for msg in await mailbox(mailstack, AUTHOR):
                if code in str(msg["Subject"]) and "Thư không đến được" in str(msg["Subject"]):
                    return msg
            return None

        notice = await wait_until(told, what=f"the author told\n{mailstack.logs()}")
        body = notice.get_body(("plain",))
        assert body is not None and GHOST in body.get_content()
        assert notice["Auto-Submitted"] == "auto-generated"
        assert stack.http is not None
        async with stack.http.get(stack.services.status_links.url(code)) as r:
            assert r.status == 200 and GHOST in await r.text()
        inbound = await stack.api("/api/v1/documents?limit=5")
        assert len(inbound[1]["items"]) == 1  # the bounce made no document …
        states = await InboundMessage.all().order_by("id").values_list("state", flat=True)
        assert states == ["accepted", "bounce"]  # … and is no quarantine entry
        assert await asyncio.to_thread(queued_for, mailstack, GHOST) == []
    finally:
        await stack.stop()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # both: test_reply_decisions
async def test_a_reply_the_office_signed_decides_through_postfix_and_an_unsigned_one_does_not(
    mailstack: Mailstack, database_url: str, tmp_path: Path
) -> None:
    """The approver answers the task mail; Postfix's OpenDKIM verifies the office's
    signature and writes Authentication-Results as the office MTA, whose authserv-id
    docflow trusts. The same reply unsigned (or signed by nobody) decides nothing."""
    settings = make_settings(
        tmp_path / "data",
        database_url,
        mailstack.smtp_port,
        DOCFLOW_LMTP="1",
        DOCFLOW_SMTP_PORT=str(mailstack.docflow_lmtp_port),
        DOCFLOW_TRUSTED_AUTHSERV_ID=TRUSTED_MTA,
    )
    stack = Stack(settings, Relay())  # in-process docflow, its mail through Postfix
    await stack.start()
    try:
        await stack.add_user(AUTHOR, AUTHOR_NAME)
        await stack.add_user(REVIEWER, "Nguyễn Văn Hùng", ["chanh-van-phong"])
        title = f"Công văn báo cáo quý IV ({uuid.uuid4().hex[:6]})"
        await send_draft(mailstack, tmp_path, title, make_docx_python_docx(["Báo cáo quý IV."]))

        async def mail_to_reviewer(word: str) -> EmailMessage | None:
            found = [m for m in await mailbox(mailstack, REVIEWER) if word in str(m["Subject"])]
            return found[0] if found else None

        task = await wait_until(
            lambda: mail_to_reviewer(title), what=f"the task mail\n{mailstack.logs()}"
        )
        code = str(task["Subject"]).split("]")[0][1:]

        def reply(text: str) -> bytes:
            m = EmailMessage()
            m["From"], m["To"] = REVIEWER, str(task["Reply-To"])
            m["Subject"], m["Date"] = f"Re: {task['Subject']}", format_datetime(datetime.now(UTC))
            m["Message-ID"] = make_msgid(domain="bandantoc.gov.vn")
            m["In-Reply-To"] = m["References"] = str(task["Message-ID"])
            m.set_content(f"{text}\n\nOn 03/03/2026 09:12, docflow wrote:\n> Kính gửi …\n")
            return m.as_bytes(policy=policy.SMTP)

        unsigned = reply("Từ chối")
        key = mailstack.dkim_key.read_bytes()
        signed = reply("Đồng ý")
        signed = dkim.sign(signed, DKIM_SELECTOR.encode(), b"bandantoc.gov.vn", key) + signed
        for raw in (unsigned, signed):
            with smtplib.SMTP("127.0.0.1", mailstack.smtp_port, timeout=10) as client:
                client.sendmail(REVIEWER, [str(task["Reply-To"])], raw)

        async def decided() -> str | None:
            tasks = (await stack.document(code))["tasks"]
            return str(tasks[0]["state"]) if tasks[0]["state"] != "open" else None

        assert await wait_until(decided, what=f"the decision\n{mailstack.logs()}") == "approved"
        await wait_until(lambda: mail_to_reviewer("Đã ghi nhận ý kiến"), what="the answer")
        rows = await InboundMessage.filter(state="reply").order_by("id")
        assert [r.reason for r in rows] == ["unauthenticated_sender", "decided"]
        assert "dkim=pass header.d=bandantoc.gov.vn" in str(rows[1].detail)
    finally:
        await stack.stop()
