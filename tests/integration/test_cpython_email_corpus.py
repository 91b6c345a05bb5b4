"""Every message of CPython's own e-mail test data goes through the real listener and ends
accepted, duplicate or quarantined with a reason: none is lost, none stays pending, and the
listener keeps answering."""

from __future__ import annotations

import email
import re
from collections import Counter
from pathlib import Path

import aiosmtplib

from docflow.intake.models import InboundMessage
from tests.conftest import Stack

DATA = Path(email.__file__).parent.parent / "test" / "test_email" / "data"
CORPUS = {path.name: path.read_bytes() for path in sorted(DATA.glob("msg_*.txt"))}
USER = "thu.lt@bandantoc.gov.vn"
# the first From: header (with its continuation lines) in the header section
FROM_HEADER = re.compile(rb"^From:[^\r\n]*(?:\r\n[ \t][^\r\n]*)*\r\n", re.IGNORECASE | re.MULTILINE)


def crlf(raw: bytes) -> bytes:
    return re.sub(rb"\r?\n", b"\r\n", raw)


def from_user(raw: bytes) -> bytes:
    """The message with its first From: header (or none) replaced by the registered user."""
    head, sep, body = raw.partition(b"\r\n\r\n")
    new_from = f"From: Lê Thị Thu <{USER}>\r\n".encode()
    head += b"\r\n"
    replaced, n = FROM_HEADER.subn(new_from, head, count=1)
    if n == 0:
        replaced = new_from + head
    return replaced[:-2] + sep + body


def test_the_corpus_is_there() -> None:
    assert len(CORPUS) >= 40


async def test_every_cpython_test_message_is_accepted_or_quarantined(stack: Stack) -> None:
    await stack.add_user(USER, "Lê Thị Thu")
    refused: dict[str, str] = {}
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=stack.settings.smtp.port, timeout=30)
    async with client:
        for name, original in CORPUS.items():
            raw = crlf(original)
            for label, data, sender in (
                ("as is", raw, "someone@example.org"),
                ("from user", from_user(raw), USER),
            ):
                try:
                    await client.sendmail(sender, [stack.intake], data)
                except aiosmtplib.SMTPResponseException as e:
                    refused[f"{name} {label}"] = f"{e.code} {e.message}"
                    await client.rset()
        assert (await client.noop()).code == 250
    assert refused == {}
    await stack.settled()

    rows = await InboundMessage.all()
    assert len(rows) == 2 * len(CORPUS)
    states = Counter(r.state for r in rows)
    assert set(states) <= {"accepted", "duplicate", "quarantined"}, states
    for r in rows:
        if r.state == "quarantined":
            assert r.reason, r.id
    from_user_rows = [r for r in rows if r.mail_from == USER]
    assert any(r.state == "accepted" for r in from_user_rows)
    assert {r.reason for r in rows if r.mail_from != USER} <= {"unknown_sender", "auto_submitted"}
    for r in rows:  # what was accepted can be read back
        if r.state == "accepted":
            status, body = await stack.api(
                f"/api/v1/documents/{r.document_code}/versions/{r.version_number}"
            )
            assert status == 200 and body["files"], body

    async with aiosmtplib.SMTP(
        hostname="127.0.0.1", port=stack.settings.smtp.port, timeout=30
    ) as again:
        assert (await again.ehlo()).code == 250
        assert (await again.noop()).code == 250
