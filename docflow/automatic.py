"""Markers of mail a program wrote: auto-replies and bounces, told apart.

Intake drops both (`intake.parse`); the bounce path must tell them apart
(`notify.bounces`): an out-of-office reply comes to the same VERP address as a
bounce (RFC 3834 sends auto-replies to the Return-Path) but says nothing about
delivery. One place for the patterns, so that the two never drift apart.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping

SYSTEM_SENDERS = ("mailer-daemon", "postmaster")

# headers only vacation responders add (Auto-Submitted: auto-replied is no such marker:
# MTAs put it on their DSNs too)
AUTO_REPLY_HEADERS = ("x-autoreply", "x-autorespond", "x-autoreply-from", "x-mail-autoreply")

# vacation replies of programs that mark them in no header
_AUTO_REPLY_SUBJECT = re.compile(
    r"^\W*(?:out of (?:the )?office|automatic reply|auto[- ]?reply|auto[- ]?response"
    r"|autoreply|vacation reply|trả lời tự động|tra loi tu dong|thư trả lời tự động"
    r"|réponse automatique|abwesenheitsnotiz)\b",
    re.IGNORECASE,
)
# bounces as Postfix, Exim, Exchange, sendmail, qmail, Gmail and Yahoo title them; the
# Vietnamese ones (Yahoo's "Không gửi được") only as the whole subject or before a colon:
# a person may well begin a draft's subject with "Không gửi được …"
_BOUNCE_SUBJECT = re.compile(
    r"^\W*(?:(?:undeliverable|undelivered mail|delivery status notification"
    r"|mail delivery failed|returned mail|delivery failure|failure notice)\b"
    r"|(?:thư không gửi được|không gửi được|thư bị trả về|thư bị trả lại)\s*(?:[:(]|$))",
    re.IGNORECASE,
)


def auto_reply_subject(subject: str) -> bool:
    """An out-of-office or other automatic reply, by its subject."""
    return _AUTO_REPLY_SUBJECT.match(unicodedata.normalize("NFC", subject)) is not None


def bounce_subject(subject: str) -> bool:
    """A non-delivery report, by its subject."""
    return _BOUNCE_SUBJECT.match(unicodedata.normalize("NFC", subject)) is not None


def system_sender(address: str) -> bool:
    """MAILER-DAEMON@… or postmaster@…: mail servers, not people."""
    return address.strip().strip("<>").partition("@")[0].lower() in SYSTEM_SENDERS


def auto_reply(headers: Mapping[str, str], subject: str) -> str:
    """What marks a mail as an auto-reply (RFC 3834), or "": `headers` keyed lowercase."""
    if headers.get("precedence", "").strip().lower() == "auto_reply":
        return f"Precedence: {headers['precedence']}"
    for name in AUTO_REPLY_HEADERS:
        if name in headers:
            return f"{header_name(name)}: {headers[name]}"[:200]
    if auto_reply_subject(subject):
        return f"Subject: {subject}"[:200]
    return ""


def header_name(lower: str) -> str:
    """`x-autoreply` → `X-Autoreply`, for the record of what was seen."""
    return "-".join(p.capitalize() for p in lower.split("-")).replace("Id", "ID")
