"""Mail that must not become documents or be answered: forged senders, automatic mail, loops.

Everything goes in through docflow's real SMTP port and out through the capturing relay:
"no answer" means the relay received nothing.
"""

from __future__ import annotations

import base64
import logging
import subprocess
from collections.abc import AsyncIterator
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from pathlib import Path
from typing import Any

import aiosmtplib
import dkim
import pytest

from docflow.intake.models import InboundMessage
from docflow.intake.quarantine import list_entries
from tests import mails
from tests.conftest import Relay, Stack, make_settings

AUTHOR = "thu.lt@bandantoc.gov.vn"
OTHER = "hung.nv@bandantoc.gov.vn"
APPROVER = "cvp@bandantoc.gov.vn"  # holds role chanh-van-phong: stage 1 of cong-van
ADMIN = "quantri@bandantoc.gov.vn"
MX = "mx.bandantoc.gov.vn"  # the office MTA's authserv-id
UNFOLDED = SMTP_POLICY.clone(max_line_length=None)


def draft(subject: str = "Kế hoạch", sender: str = AUTHOR, **headers: str) -> EmailMessage:
    """A plain draft with a small text file: it would become a document if accepted.

    `headers`: extra headers, `_` for `-` in their names (Auto_Submitted="auto-replied").
    """
    return mails.draft(
        subject,
        "du-thao.txt",
        "Dự thảo kế hoạch.\n".encode(),
        "text/plain",
        sender=sender,
        headers={name.replace("_", "-"): value for name, value in headers.items()},
    )


async def send_all(
    stack: Stack, messages: list[bytes | EmailMessage], mail_from: str = AUTHOR
) -> None:
    """Send over one SMTP connection, as a mail server would."""
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=stack.settings.smtp.port, timeout=30)
    async with client:
        for m in messages:
            raw = m if isinstance(m, bytes) else m.as_bytes(policy=UNFOLDED)
            await client.sendmail(mail_from, [stack.intake], raw)


async def outcome(stack: Stack) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(documents, quarantine entries) once everything has been processed and sent."""
    await stack.settled()
    return await stack.documents(), await list_entries(limit=1000)


async def started(
    database_url: str, relay: Relay, tmp_path: Path, **env: str
) -> AsyncIterator[Stack]:
    s = Stack(make_settings(tmp_path / "data", database_url, relay.port, **env), relay)
    await s.start()
    await s.add_user(AUTHOR, "Lê Thị Thu")
    await s.add_user(OTHER, "Nguyễn Văn Hùng")
    yield s
    await s.stop()


# --- sender authentication -----------------------------------------------------------------


@pytest.fixture(scope="module")
def dkim_key(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, bytes]:
    """A real RSA key: (private PEM, the TXT record that would publish it in DNS)."""
    key = tmp_path_factory.mktemp("dkim") / "key.pem"
    subprocess.run(["openssl", "genrsa", "-traditional", "-out", str(key), "1024"], check=True)
    der = subprocess.run(
        ["openssl", "rsa", "-in", str(key), "-pubout", "-outform", "DER"],
        check=True,
        capture_output=True,
    ).stdout
    return key.read_bytes(), b"v=DKIM1; k=rsa; p=" + base64.b64encode(der)


@pytest.fixture
async def guarded(
    database_url: str, relay: Relay, tmp_path: Path, dkim_key: tuple[bytes, bytes]
) -> AsyncIterator[Stack]:
    """docflow requiring authenticated senders: the MX's header, else its own DKIM check."""
    # DNS is the one outside part: dkimpy's TXT lookup answers from this table
    records = {  # the office's key, and an attacker's own, published for their domain
        b"sel._domainkey.bandantoc.gov.vn.": dkim_key[1],
        b"sel._domainkey.evil.example.": dkim_key[1],
    }

    def txt(name: bytes, timeout: float = 5) -> bytes | None:
        return records.get(name)

    async for s in started(
        database_url,
        relay,
        tmp_path,
        DOCFLOW_REQUIRE_AUTHENTICATED_SENDER="1",
        DOCFLOW_TRUSTED_AUTHSERV_ID=MX,
        DOCFLOW_VERIFY_DKIM="true",
    ):
        s.services.intake.drafts.senders.dkim_dns = txt
        yield s


async def test_forged_from_of_a_known_user_is_quarantined_unanswered(
    guarded: Stack, relay: Relay, dkim_key: tuple[bytes, bytes]
) -> None:
    signed_elsewhere = draft("Chữ ký miền khác").as_bytes(policy=UNFOLDED)
    # the MX prepends its header; a pass of its id below that came with the message
    under_the_mx = (
        f"Authentication-Results: {MX}; dkim=fail header.d=bandantoc.gov.vn\r\n"
        f"Authentication-Results: {MX}; dkim=pass header.d=bandantoc.gov.vn\r\n"
    ).encode() + draft("Dưới kết quả của MX").as_bytes(policy=UNFOLDED)
    forged = [
        draft("Không xác thực"),
        draft(  # written by the sender: another authserv-id, ignored however it reads
            "Tự khai",
            Authentication_Results=f"evil.example; dkim=pass header.d=bandantoc.gov.vn;"
            f" spf=pass smtp.mailfrom={AUTHOR}",
        ),
        draft("DKIM hỏng", Authentication_Results=f"{MX}; dkim=fail header.d=bandantoc.gov.vn"),
        draft("Miền khác", Authentication_Results=f"{MX}; dkim=pass header.d=evil.example"),
        draft("SPF mềm", Authentication_Results=f"{MX}; spf=softfail smtp.mailfrom={AUTHOR}"),
        dkim.sign(signed_elsewhere, b"sel", b"evil.example", dkim_key[0]) + signed_elsewhere,
        under_the_mx,
    ]
    await send_all(guarded, forged, mail_from="attacker@evil.example")

    documents, entries = await outcome(guarded)
    assert documents == []
    assert relay.messages == []  # no answer to a possibly forged sender
    assert [e["reason"] for e in entries] == ["unauthenticated_sender"] * len(forged)
    details = {e["subject"]: e["detail"] for e in entries}
    assert details["Không xác thực"] == "no DKIM signature"
    assert details["Tự khai"] == "no DKIM signature"
    assert "dkim=fail header.d=bandantoc.gov.vn" in details["DKIM hỏng"]
    assert "dkim=pass header.d=evil.example" in details["Miền khác"]
    assert "spf=softfail" in details["SPF mềm"]
    assert "dkim=pass header.d=evil.example" in details["Chữ ký miền khác"]
    assert details["Dưới kết quả của MX"].endswith(": dkim=fail header.d=bandantoc.gov.vn")
    assert await InboundMessage.filter(version_number__not_isnull=True).count() == 0


async def test_a_from_added_to_mail_the_office_signed_is_quarantined_unanswered(
    guarded: Stack, relay: Relay, dkim_key: tuple[bytes, bytes]
) -> None:
    """DKIM covers the last From header and docflow reads the first: someone outside takes a
    newsletter the office's domain really signed and puts Thu's From on top."""

    def replayed(subject: str, mx_header: str = "", signed_from: bytes = b"From:") -> bytes:
        raw = draft(subject, sender="bantin@bandantoc.gov.vn").as_bytes(policy=UNFOLDED)
        signed_headers = [b"from", b"to", b"subject", b"message-id"]  # From not oversigned
        signature = dkim.sign(
            raw, b"sel", b"bandantoc.gov.vn", dkim_key[0], include_headers=signed_headers
        )
        # relaxed canonicalization (dkimpy's default) keeps `From :` valid as the MX reads it
        raw = raw.replace(b"From:", signed_from, 1)
        return f"{mx_header}From: Le Thi Thu <{AUTHOR}>\r\n".encode() + signature + raw

    mx_pass = f"{MX}; dkim=pass header.d=bandantoc.gov.vn"
    two_authors = draft("Hai tác giả", Authentication_Results=mx_pass)
    two_authors.replace_header("From", f"Le Thi Thu <{AUTHOR}>, Nguyen Van Hung <{OTHER}>")
    mail = [
        # the MX checked the signature (of the last From) and says so
        replayed("Qua MX", f"Authentication-Results: {mx_pass}\r\n"),
        replayed("Tự kiểm"),  # no MX header: docflow's own DKIM check
        # Python's parser drops `From :` as an mbox line; the MX reads it as the From
        replayed("Dấu cách", f"Authentication-Results: {mx_pass}\r\n", b"From :"),
        two_authors,
    ]
    await send_all(guarded, mail, mail_from="attacker@evil.example")

    documents, entries = await outcome(guarded)
    assert documents == []
    assert relay.messages == []
    assert [e["reason"] for e in entries] == ["unauthenticated_sender"] * len(mail)
    details = {e["subject"]: e["detail"] for e in entries}
    assert details["Qua MX"].startswith("2 From headers: ")
    assert details["Tự kiểm"].startswith("2 From headers: ")
    assert details["Dấu cách"].startswith("2 From headers: ")
    assert details["Hai tác giả"].startswith("2 mailboxes in From: ")
    assert await InboundMessage.filter(version_number__not_isnull=True).count() == 0


async def test_a_trusted_pass_or_a_verified_signature_is_accepted(
    guarded: Stack, relay: Relay, dkim_key: tuple[bytes, bytes]
) -> None:
    raw = draft("Tự ký").as_bytes(policy=UNFOLDED)
    vouched = [
        draft("Qua DKIM", Authentication_Results=f"{MX}; dkim=pass header.d=bandantoc.gov.vn"),
        draft(  # the MX's header is what counts, not the sender's above or below it
            "Qua SPF",
            Authentication_Results=f"{MX.upper()} 1; dkim=none; spf=pass smtp.mailfrom={AUTHOR}",
        ),
        dkim.sign(raw, b"sel", b"bandantoc.gov.vn", dkim_key[0]) + raw,  # checked by docflow
    ]
    await send_all(guarded, vouched)

    documents, entries = await outcome(guarded)
    assert entries == []
    assert sorted(d["title"] for d in documents) == ["Qua DKIM", "Qua SPF", "Tự ký"]
    assert len(relay.to(AUTHOR)) == 3  # a receipt each


# --- automatic mail and loops ------------------------------------------------------------


@pytest.fixture
async def limited(database_url: str, relay: Relay, tmp_path: Path) -> AsyncIterator[Stack]:
    async for s in started(database_url, relay, tmp_path, DOCFLOW_RATE_LIMIT="10"):
        yield s


def bounce_to_intake() -> bytes:
    """A DSN (RFC 3464) as Postfix writes one, sent to the intake address."""
    return (
        "From: MAILER-DAEMON@mx.bandantoc.gov.vn (Mail Delivery System)\r\n"
        "To: vanban@docflow.localhost\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        "Message-ID: <dsn1@mx.bandantoc.gov.vn>\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n'
        "\r\n--B\r\nContent-Type: text/plain\r\n\r\nThe mail could not be delivered.\r\n"
        "--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx\r\n\r\n"
        "Final-Recipient: rfc822; ai@example.org\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        "--B\r\nContent-Type: text/rfc822-headers\r\n\r\nSubject: Kế hoạch\r\n--B--\r\n"
    ).encode()


async def test_auto_replies_bounces_and_list_mail_get_no_document_and_no_answer(
    limited: Stack, relay: Relay
) -> None:
    await send_all(
        limited,
        [
            # Outlook's out-of-office: no standard header, only its subject
            draft("Automatic reply: Kế hoạch", X_Auto_Response_Suppress="All"),
            draft("Vắng mặt", Auto_Submitted="auto-replied"),
            draft("Trả lời tự động: Kế hoạch"),
            draft("Đi công tác", X_Autoreply="yes"),
            draft("Bản tin", Precedence="bulk"),
            draft("Thảo luận", List_Id="<phong-hc.lists.bandantoc.gov.vn>"),
            draft("Tin tuần", List_Unsubscribe="<mailto:leave@lists.bandantoc.gov.vn>"),
        ],
    )
    await send_all(limited, [bounce_to_intake(), draft("Không người gửi")], mail_from="")

    documents, entries = await outcome(limited)
    assert documents == []
    assert relay.messages == []
    assert [e["reason"] for e in entries] == ["auto_submitted"] * 9
    details = {e["subject"]: e["detail"] for e in entries}
    assert details["Automatic reply: Kế hoạch"].startswith("Subject: ")
    assert details["Thảo luận"] == "List-ID: <phong-hc.lists.bandantoc.gov.vn>"
    assert details["Không người gửi"] == "MAIL FROM:<>"

    # the same author's ordinary draft is accepted and answered, marked as automatic
    # (its `Auto-Submitted: No (…)` says no: the comment is not part of the value)
    await limited.add_user(APPROVER, "Chánh Văn phòng", ["chanh-van-phong"])
    await send_all(limited, [draft("Kế hoạch năm", Auto_Submitted="No (sent by a person)")])
    documents, _ = await outcome(limited)
    assert [d["title"] for d in documents] == ["Kế hoạch năm"]
    (receipt,) = relay.to(AUTHOR)
    assert receipt["Auto-Submitted"] == "auto-replied"  # an answer to the draft
    assert receipt["X-Auto-Response-Suppress"] == "All"
    (task,) = relay.to(APPROVER)
    assert task["Auto-Submitted"] == "auto-generated"  # mail docflow sends by itself
    assert task["X-Auto-Response-Suppress"] == "All"


async def test_a_hundred_marked_auto_replies_get_no_answer(limited: Stack, relay: Relay) -> None:
    await send_all(limited, [draft("Kế hoạch")])
    await limited.settled()
    (receipt,) = relay.to(AUTHOR)
    replies = [
        draft(
            f"Re: {receipt['Subject']}",
            Auto_Submitted="auto-replied",
            In_Reply_To=receipt["Message-ID"],
        )
        for _ in range(100)
    ]
    await send_all(limited, replies)

    documents, entries = await outcome(limited)
    assert len(documents) == 1
    assert await InboundMessage.filter(state="accepted").count() == 1  # no new version either
    assert len(relay.messages) == 1  # the first receipt, nothing since
    assert [e["reason"] for e in entries] == ["auto_submitted"] * 100


def personal_reply(to: EmailMessage) -> EmailMessage:
    """What a mailbox rule that marks nothing sends back: plain text, no file."""
    return mails.draft(
        f"Re: {to['Subject']}",
        body="Tôi đang đi công tác, sẽ trả lời sau.",
        headers={"In-Reply-To": to["Message-ID"], "References": to["Message-ID"]},
    )


async def test_a_loop_with_an_auto_responder_that_marks_nothing_stops_at_the_limit(
    limited: Stack, relay: Relay, caplog: pytest.LogCaptureFixture
) -> None:
    """A mailbox answering every mail from docflow with mail that looks personal: docflow
    answers (a receipt, then "no attachment") up to the limit, then not, and the loop ends."""
    caplog.set_level(logging.INFO, logger="docflow")
    await limited.add_user(APPROVER, "Chánh Văn phòng", ["chanh-van-phong"])
    await limited.add_user(ADMIN, "Quản trị", ["admin"])
    await send_all(limited, [draft("Kế hoạch")])
    answered = 0
    for _ in range(30):  # the loop, driven: every mail docflow sends is answered at once
        await limited.settled()
        new = relay.to(AUTHOR)[answered:]
        if not new:
            break
        answered += len(new)
        await send_all(limited, [personal_reply(m) for m in new])

    assert answered == 10  # the receipt and 9 refusals: the limit's worth, then silence
    documents, entries = await outcome(limited)
    (document,) = documents
    assert len((await limited.document(document["code"]))["versions"]) == 1
    assert sorted(e["reason"] for e in entries) == ["no_attachment"] * 9 + ["rate_limited"]
    assert len(relay.to(ADMIN)) == 1  # told once
    limited_lines = [
        r for r in caplog.records if r.levelno == logging.WARNING and "rate limit" in r.message
    ]
    assert len(limited_lines) == 1  # logged once for the window, not once per message
    assert getattr(limited_lines[0], "from") == AUTHOR

    # an administrator's release runs it through again, answered this time
    (held,) = [e for e in entries if e["reason"] == "rate_limited"]
    outcome_ = await limited.services.intake.release(held["id"])
    assert outcome_ is not None and outcome_.reason == "no_attachment"
    await limited.settled()
    assert len(relay.to(AUTHOR)) == 11
