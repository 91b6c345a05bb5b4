"""Reading bounces: RFC 3464 reports as MTAs write them, and VERP addresses."""

from __future__ import annotations

import pytest

from docflow.config import load_settings
from docflow.errors import SettingsError
from docflow.notify.bounces import failed_recipients, parse_report
from docflow.notify.outbox import verp_address, verp_token

BASE = "docflow-bounce@docflow.localhost"

# As Postfix 3.7 writes a DSN (abridged): the recipient block holds a folded diagnostic.
POSTFIX = b"""\
From: MAILER-DAEMON@mailstack.localhost (Mail Delivery System)
Subject: Undelivered Mail Returned to Sender
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status;
\tboundary="6A1E2C0D3B.1764090000/mailstack.localhost"

--6A1E2C0D3B.1764090000/mailstack.localhost
Content-Description: Notification
Content-Type: text/plain; charset=us-ascii

This is the mail system at host mailstack.localhost.

--6A1E2C0D3B.1764090000/mailstack.localhost
Content-Description: Delivery report
Content-Type: message/delivery-status

Reporting-MTA: dns; mailstack.localhost
X-Postfix-Queue-ID: 6A1E2C0D3B
X-Postfix-Sender: rfc822; docflow-bounce+00112233445566778899@docflow.localhost

Final-Recipient: rfc822; Ghost.Reviewer@bandantoc.gov.vn
Original-Recipient: rfc822;ghost.reviewer@bandantoc.gov.vn
Action: failed
Status: 5.1.1
Remote-MTA: dns; 127.0.0.1
Diagnostic-Code: lmtp; 550 5.1.1 <ghost.reviewer@bandantoc.gov.vn> User doesn't
    exist: ghost.reviewer@bandantoc.gov.vn

Final-Recipient: rfc822; slow@example.org
Action: delayed
Status: 4.4.1

--6A1E2C0D3B.1764090000/mailstack.localhost
Content-Description: Undelivered Message Headers
Content-Type: text/rfc822-headers

Message-ID: <1.df@docflow.localhost>

--6A1E2C0D3B.1764090000/mailstack.localhost--
"""


def test_a_postfix_report_gives_each_recipient_with_its_action_and_status() -> None:
    report = parse_report(POSTFIX)
    assert report.standard
    ghost, slow = report.recipients
    assert (ghost.address, ghost.action, ghost.status, ghost.failed) == (
        "ghost.reviewer@bandantoc.gov.vn",
        "failed",
        "5.1.1",
        True,
    )
    assert ghost.diagnostic.startswith("lmtp; 550 5.1.1 <ghost.reviewer@bandantoc.gov.vn> User")
    assert "\n" not in ghost.diagnostic
    assert (slow.action, slow.failed) == ("delayed", False)


def test_a_plain_bounce_is_no_standard_report() -> None:
    report = parse_report(b"Subject: Mail delivery failed\r\n\r\nNo such user.\r\n")
    assert (report.standard, report.recipients, report.subject) == (
        False,
        (),
        "Mail delivery failed",
    )


def test_verp_addresses_round_trip_and_nothing_else_has_a_token() -> None:
    address = verp_address(BASE, "00ff")
    assert address == "docflow-bounce+00ff@docflow.localhost"
    assert verp_token(BASE, address) == "00ff"
    assert verp_token(BASE, "<Docflow-Bounce+00FF@Docflow.Localhost>") == "00ff"
    assert verp_token(BASE, BASE) == ""
    assert verp_token(BASE, "docflow-bounce+00ff@other.example") is None
    assert verp_token(BASE, "vanban+00ff@docflow.localhost") is None


def test_the_bounce_address_defaults_to_the_from_address_plus_bounce_and_takes_no_plus() -> None:
    assert load_settings({}).relay.bounce_address == "docflow-bounce@docflow.localhost"
    env = {"DOCFLOW_FROM_ADDRESS": "vanthu@bandantoc.gov.vn"}
    assert load_settings(env).relay.bounce_address == "vanthu-bounce@bandantoc.gov.vn"
    with pytest.raises(SettingsError, match=r"^setting DOCFLOW_BOUNCE_ADDRESS: "):
        load_settings({"DOCFLOW_BOUNCE_ADDRESS": "docflow+bounce@docflow.localhost"})


def test_the_bounce_address_may_not_be_an_intake_address() -> None:
    """Every draft to it would be taken for a bounce and lost to the bounce path."""
    env = {"DOCFLOW_INTAKE_ADDRESS": "vanban@bandantoc.gov.vn"}
    with pytest.raises(SettingsError, match="is an intake address"):
        load_settings({**env, "DOCFLOW_BOUNCE_ADDRESS": "vanban@bandantoc.gov.vn"})
    ok = load_settings({**env, "DOCFLOW_BOUNCE_ADDRESS": "vanban-bounce@bandantoc.gov.vn"})
    assert ok.relay.bounce_address == "vanban-bounce@bandantoc.gov.vn"


@pytest.mark.parametrize(
    ("headers", "bounce"),
    [
        ("From: MAILER-DAEMON@mx.example\nSubject: Thông báo của hệ thống thư", True),
        ("From: postmaster@mx.example\nSubject: Returned mail: see transcript", True),
        ("From: hung.nv@bandantoc.gov.vn\nSubject: Undeliverable: [DF-2026-000001] Kế hoạch", True),
        ("From: mail@yahoo.example\nSubject: Không gửi được", True),
        ("From: hung.nv@bandantoc.gov.vn\nSubject: Trả lời tự động: Kế hoạch", False),
        ("From: hung.nv@x.example\nSubject: =?utf-8?b?VHLhuqMgbOG7nWkgdOG7sSDEkeG7mW5n?=", False),
        ("From: hung.nv@bandantoc.gov.vn\nSubject: Out of Office: Kế hoạch", False),
        ("From: hung.nv@bandantoc.gov.vn\nSubject: Re: Kế hoạch\nX-Autoreply: yes", False),
        ("From: hung.nv@bandantoc.gov.vn\nSubject: Re: Kế hoạch\nPrecedence: auto_reply", False),
        # Postfix marks its DSNs auto-replied: the mark alone makes no auto-reply
        ("From: MAILER-DAEMON@mx.example\nSubject: Lỗi\nAuto-Submitted: auto-replied", True),
        # a mail server's vacation responder: the subject says what it is
        ("From: postmaster@mx.example\nSubject: Automatic reply: Kế hoạch", False),
        ("From: xacnhan@hopthu.example\nSubject: Please confirm your address", False),
        ("From: hung.nv@bandantoc.gov.vn\nSubject: Không gửi được báo cáo quý", False),
    ],
)
def test_mail_that_is_no_dsn_is_a_bounce_only_from_a_mail_server_or_titled_as_one(
    headers: str, bounce: bool
) -> None:
    report = parse_report(f"{headers}\n\nTôi vắng mặt.\n".replace("\n", "\r\n").encode())
    assert not report.standard
    assert report.bounce is bounce
    failed = failed_recipients(["Hung.NV@bandantoc.gov.vn"], report)
    assert [f.address for f in failed] == (["hung.nv@bandantoc.gov.vn"] if bounce else [])


def test_a_raw_utf8_out_of_office_subject_is_read_as_one() -> None:
    report = parse_report("From: a@b.example\r\nSubject: Trả lời tự động: x\r\n\r\n.".encode())
    assert report.subject == "Trả lời tự động: x"
    assert report.auto_reply.startswith("Subject: Trả lời tự động") and not report.bounce


def _dsn(*blocks: str) -> bytes:
    return (
        "From: MAILER-DAEMON@mx.example\nContent-Type: multipart/report; boundary=B\n\n"
        "--B\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example\n\n"
        + "\n".join(f"{b}\nAction: failed\nStatus: 5.1.1\n" for b in blocks)
        + "--B--\n"
    ).encode()


def test_a_dsn_naming_someone_the_mail_was_not_sent_to_fails_only_its_recipients() -> None:
    report = parse_report(
        _dsn(
            "Final-Recipient: rfc822; victim@elsewhere.example",
            "Final-Recipient: <Lan.PT@bandantoc.gov.vn>",  # no address type: still read
        )
    )
    assert [r.address for r in report.recipients] == [
        "victim@elsewhere.example",
        "lan.pt@bandantoc.gov.vn",
    ]
    sent_to = ["hung.nv@bandantoc.gov.vn", "lan.pt@bandantoc.gov.vn"]
    assert [f.address for f in failed_recipients(sent_to, report)] == ["lan.pt@bandantoc.gov.vn"]
    # one recipient: an address it was forwarded to on the way is that recipient's
    forwarded = failed_recipients(["hung.nv@bandantoc.gov.vn"], report)
    assert [f.address for f in forwarded] == ["hung.nv@bandantoc.gov.vn"]
