"""A mail's body as docflow sends it: the text, the same text as HTML, then the files.

multipart/alternative (text/plain first, the part every client can show, then
text/html: `notify.htmlmail`), inside a multipart/mixed when files go with it. Built
with the stdlib's compat32 classes, as the headers are (`MailComposer._compose`).
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from email.message import Message
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart

from docflow.notify.htmlmail import to_html
from docflow.notify.message import Attachment


@dataclass(frozen=True)
class Body:
    """A mail's plain text, its language (vi or en), and the URLs the composer put in
    it, each with its tone (approve, changes, reject, or ""): the only text its HTML
    links."""

    text: str
    language: str
    links: Mapping[str, str] = field(default_factory=dict)


def mime_body(body: Body, title: str, attachments: Sequence[Attachment] = ()) -> Message:
    """The MIME tree of a mail whose subject is `title`; headers are the caller's.

    The boundaries are made here: the generator's own check that no part holds its
    boundary compiles a regular expression per message, and every part here is base64,
    whose lines never start with `--`.
    """
    html = to_html(body.text, body.language, body.links, title)
    msg: Message = MIMEMultipart(
        "alternative", _boundary(), [text_part(body.text, "plain"), text_part(html, "html")]
    )
    if not attachments:
        return msg
    mixed = MIMEMultipart("mixed", _boundary())
    del msg["MIME-Version"]  # once, on the message
    mixed.attach(msg)
    for a in attachments:
        maintype, _, subtype = a.mime.partition("/")
        part = MIMEApplication(a.data, subtype if maintype == "application" else "octet-stream")
        if maintype != "application":
            part.replace_header("Content-Type", a.mime)
        part.add_header("Content-Disposition", "attachment", filename=("utf-8", "", a.name))
        del part["MIME-Version"]
        mixed.attach(part)
    return mixed


def text_part(text: str, subtype: str) -> Message:
    """What `MIMEText(text, subtype, "utf-8")` makes, without MIME-Version, at a third of
    its cost (its base64 is a Python loop over 57-byte slices)."""
    part = Message()
    part["Content-Type"] = f'text/{subtype}; charset="utf-8"'
    part["Content-Transfer-Encoding"] = "base64"
    part.set_payload(base64.encodebytes(text.encode("utf-8")).decode("ascii"))
    return part


def _boundary() -> str:
    return f"docflow-{secrets.token_hex(12)}"
