"""Drafts as staff mail them to docflow: the one builder for tests and scripts.

`draft()` builds every draft the tests and benchmarks send; a test module that sends
many drafts of one kind keeps a short wrapper that fixes its file (test_spine_mail's
`draft(subject)` attaches a DOCX, test_mail_hygiene's a text file). Only the standard
library here, so that scripts/ can import it without pytest.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from email import policy
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any

AUTHOR = "thu.lt@bandantoc.gov.vn"
AUTHOR_NAME = "Lê Thị Thu"
INTAKE = "vanban@docflow.localhost"
OFFICE_DOMAIN = "bandantoc.gov.vn"  # where the authors' Message-IDs come from
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
GREETING = "Kính gửi Lãnh đạo Ban."

Attachment = tuple[str, bytes, str]  # (file name, contents, MIME type)


def draft(
    subject: str,
    filename: str | None = None,
    data: bytes = b"",
    mime: str = DOCX,
    *,
    annexes: Sequence[Attachment] = (),
    sender: str = AUTHOR,
    sender_name: str = AUTHOR_NAME,
    to: str = INTAKE,
    message_id: str | None = None,
    headers: Mapping[str, str] | None = None,
    body: str = GREETING,
) -> EmailMessage:
    """A draft as a mail client sends it.

    Headers in this order: From (`sender_name <sender>`), To, Subject, Message-ID (a new
    one @bandantoc.gov.vn when `message_id` is None, none when it is ""), then `headers`.
    A text `body`, then the file `filename` (`data`, of type `mime`) if given, then the
    `annexes`; without a file the mail is a single text part.
    """
    m = EmailMessage()
    m["From"] = f"{sender_name} <{sender}>"
    m["To"] = to
    m["Subject"] = subject
    if message_id is None:
        message_id = make_msgid(domain=OFFICE_DOMAIN)
    if message_id:
        m["Message-ID"] = message_id
    for name, value in (headers or {}).items():
        m[name] = value
    m.set_content(body)
    files = [(filename, data, mime), *annexes] if filename is not None else list(annexes)
    for name, content, type_ in files:
        maintype, _, subtype = type_.partition("/")
        m.add_attachment(content, maintype=maintype, subtype=subtype, filename=name)
    return m


class SentMail(EmailMessage):
    """A mail as docflow sends it, read back: text/plain beside text/html in a
    multipart/alternative (inside a multipart/mixed with files). `get_content()` of the
    whole mail is its plain text, the part tests read, as when docflow sent text only;
    `get_body(("html",))` is the HTML."""

    def get_content(self, *args: Any, **kw: Any) -> Any:
        if self.is_multipart() and not args and not kw:
            body = self.get_body(("plain",))
            if body is not None:
                return body.get_content()
        return super().get_content(*args, **kw)


def numbered_draft(i: int, idstring: str, subject: str) -> tuple[str, bytes]:
    """Draft `i` of a series, as a mail server hands it on: (its subject, its bytes).

    A small text file `báo cáo NNN.txt`; `idstring` goes into the Message-ID.
    """
    m = draft(
        subject,
        f"báo cáo {i:03d}.txt",
        f"Nội dung báo cáo số {i}.\n".encode(),
        "text/plain",
        message_id=make_msgid(idstring=idstring, domain=OFFICE_DOMAIN),
    )
    return subject, m.as_bytes(policy=policy.SMTP)
