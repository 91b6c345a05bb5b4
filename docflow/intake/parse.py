"""Turn raw RFC 5322 bytes into plain values; never raises, degrades to best effort."""

from __future__ import annotations

import email
import email.header
import io
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.generator import BytesGenerator
from email.message import EmailMessage, Message
from typing import Any

from docflow.automatic import automatic_marker
from docflow.documents.extract import html_to_text
from docflow.intake.lift import Lifted, lift
from docflow.mime import PARSE_POLICY

# Mail in a Vietnamese office that is not what it claims is most often Windows-1258.
_FALLBACK_CHARSETS = ("utf-8", "cp1258")
_BODY_TYPES = ("text/plain", "text/html")
# Keep the embedded message's header bytes as received instead of refolding them.
_RFC822_POLICY = PARSE_POLICY.clone(refold_source="none", linesep="\r\n")

_PREFIX = re.compile(
    r"^\s*(?:re|fwd?|tl|trả\s*lời|tra\s*loi|chuyển\s*tiếp|chuyen\s*tiep|ct|aw|wg|sv|vs|vb|rv"
    r"|réf|tr|odp|antw|doorst|回复|转发)\s*(?:\[\s*\d+\s*\]|\(\s*\d+\s*\))?\s*[:：]\s*",
    re.IGNORECASE,
)
_TAG = re.compile(r"\s*\[\s*DF-[0-9]{4}-[0-9]{6}\s*\]\s*", re.IGNORECASE)
_CODE = re.compile(r"(?<![A-Za-z0-9])DF-[0-9]{4}-[0-9]{6}(?![0-9])", re.IGNORECASE)
_MSGID = re.compile(r"<([^<>\s]*)>")
_FROM_FIELD = re.compile(rb"from[ \t]*:", re.IGNORECASE)
_SPACES = re.compile(r"\s+")
_ESCAPED_BYTE = re.compile("[\udc80-\udcff]")
_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass(frozen=True)
class Attachment:
    """A leaf part that is not the message body."""

    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class ParsedMail:
    """The values the rest of docflow needs from one message."""

    message_id: str
    from_addr: str
    from_name: str
    subject: str
    in_reply_to: tuple[str, ...]
    references: tuple[str, ...]
    date: datetime | None
    body_text: str
    attachments: tuple[Attachment, ...]
    auto_submitted: bool
    defects: tuple[str, ...]
    automatic: str = ""  # what shows the mail is automatic (`auto_submitted`), for the record
    # why the From header does not name one author ("2 From headers"), or "" when it does
    ambiguous_from: str = ""
    # Received and Authentication-Results headers, (lowercase name, value), topmost first:
    # which results the receiving MTA wrote depends on their order (authres.judge)
    trace: tuple[tuple[str, str], ...] = ()


def parse_message(raw: bytes) -> ParsedMail:
    """Parse `raw`; any failure inside degrades to empty or approximate values."""
    lifted = lift(raw)
    try:
        msg = email.message_from_bytes(lifted.slim, policy=PARSE_POLICY)
    except Exception:  # the parser is meant not to raise; be sure of it
        return ParsedMail("", "", "", "", (), (), None, _decode(raw, None), (), False, ())
    body, attachments = _body_and_attachments(msg, lifted)
    from_addr, from_name = _sender(msg)
    subject = _SPACES.sub(" ", _nfc(_text_header(msg, "subject"))).strip()
    automatic = automatic_marker(msg.raw_items(), _content_type(msg), from_addr, subject)
    return ParsedMail(
        message_id=_nfc(_first_id(_raw_header(msg, "message-id") or "")),
        from_addr=_nfc(from_addr),
        from_name=from_name,
        subject=subject,
        in_reply_to=_ids(msg, "in-reply-to"),
        references=_ids(msg, "references"),
        date=_date(msg),
        body_text=body,
        attachments=attachments,
        auto_submitted=bool(automatic),
        defects=tuple(dict.fromkeys(type(d).__name__ for p in _walk(msg) for d in p.defects)),
        automatic=automatic,
        ambiguous_from=_ambiguous_from(msg, raw),
        trace=tuple(
            (k.lower(), "".join(_unescape(str(v)).splitlines()))
            for k, v in msg.raw_items()
            if k.lower() in ("received", "authentication-results")
        ),
    )


def clean_title(subject: str) -> str:
    """Subject without reply/forward prefixes and bracketed tracking codes."""
    text = _TAG.sub(" ", unicodedata.normalize("NFC", subject)).strip()
    while (match := _PREFIX.match(text)) is not None:
        text = text[match.end() :]
    return text.strip()


def tracking_codes(text: str) -> list[str]:
    """All `DF-YYYY-NNNNNN` codes in `text`, in order, uppercased."""
    return [code.upper() for code in _CODE.findall(text)]


def _nfc(text: str) -> str:
    """NFC text that is safe to encode: no surrogates left over from undecodable bytes."""
    text = _unescape(text)
    if _SURROGATE.search(text):
        text = text.encode("utf-8", "surrogatepass").decode("utf-8", errors="replace")
    return unicodedata.normalize("NFC", text)


def _unescape(text: str) -> str:
    """Recover 8-bit header bytes (kept as surrogates by the parser) in the likely charset."""
    if not _ESCAPED_BYTE.search(text):
        return text
    return _decode(text.encode("utf-8", "surrogateescape"), None)


def _decode(data: bytes, charset: str | None) -> str:
    for name in (charset, *_FALLBACK_CHARSETS):
        if name:
            try:
                return data.decode(name)
            except (LookupError, ValueError):  # unknown codec, or bytes not in it
                continue
    return data.decode("latin-1", errors="replace")


def _raw_header(msg: Message, name: str) -> str | None:
    for key, value in msg.raw_items():
        if key.lower() == name:
            return "".join(_unescape(str(value)).splitlines())
    return None


def _header(msg: Message, name: str) -> Any:
    """The policy's structured header object for `name`, or None when absent or unparseable."""
    value = _raw_header(msg, name)
    if value is None:
        return None
    try:
        return PARSE_POLICY.header_factory(name, value)
    except Exception:  # known bugs in the header parser raise many kinds of error
        return None


def _text_header(msg: Message, name: str) -> str:
    header = _header(msg, name)
    if header is not None:
        return str(header)
    raw = _raw_header(msg, name) or ""
    try:
        return str(email.header.make_header(email.header.decode_header(raw)))
    except Exception:  # unknown charsets, broken encoded words
        return raw


def _sender(msg: Message) -> tuple[str, str]:
    header = _header(msg, "from")
    try:
        address = header.addresses[0]
        name = _nfc(str(address.display_name)).strip()
        if address.username and address.domain:
            return str(address.addr_spec).lower(), name
        return "", name
    except Exception:  # missing header, empty group, or parser trouble
        return "", ""


def _ambiguous_from(msg: Message, raw: bytes) -> str:
    """Why the message has not one author: several From headers, or mailboxes in one.

    A DKIM signature covers the last From header (RFC 6376 section 5.4.2) and docflow
    reads the first: a From added on top of mail signed by the office's domain would pass
    for that domain. DMARC refuses such mail too (RFC 7489 section 6.6.1).
    """
    headers = max(sum(1 for key, _ in msg.raw_items() if key.lower() == "from"), _from_lines(raw))
    if headers > 1:
        return f"{headers} From headers"
    try:
        mailboxes = len(_header(msg, "from").addresses)
    except Exception:  # missing or unparseable: `_sender` finds no address either
        return ""
    return f"{mailboxes} mailboxes in From" if mailboxes > 1 else ""


def _from_lines(raw: bytes) -> int:
    """From fields of the raw header block, read as leniently as any MTA might.

    Python's parser drops `From : x` (an mbox separator to it); an MTA reads a From
    header there, and relaxed DKIM canonicalization lets anyone turn `From:` into it.
    """
    count = 0
    for line in io.BytesIO(raw):  # lines end at LF, as in SMTP servers
        if not line.strip(b"\r\n"):  # the end of the header block
            break
        count += sum(1 for part in line.split(b"\r") if _FROM_FIELD.match(part))
    return count


def _first_id(value: str) -> str:
    match = _MSGID.search(value)
    return match.group(1).strip() if match else value.strip().strip("<>").strip()


def _ids(msg: Message, name: str) -> tuple[str, ...]:
    value = " ".join(_unescape(str(v)) for k, v in msg.raw_items() if k.lower() == name)
    found = _MSGID.findall(value)
    return tuple(_nfc(i) for i in (found or value.split()) if i)


def _date(msg: Message) -> datetime | None:
    header = _header(msg, "date")
    try:
        value = header.datetime
    except Exception:  # missing header, or an out-of-range date
        return None
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _walk(msg: Message) -> Iterator[Message]:
    """Every part, depth first, without recursion (nesting depth is attacker-chosen)."""
    stack = [msg]
    while stack:
        part = stack.pop()
        yield part
        if part.is_multipart():  # get_payload() of a leaf parses headers and may raise
            stack.extend(reversed([p for p in part.get_payload() if isinstance(p, Message)]))


def _leaves(msg: Message) -> Iterator[Message]:
    """Parts that carry content; an embedded message counts as one leaf."""
    stack = [msg]
    while stack:
        part = stack.pop()
        if part.is_multipart() and not _content_type(part).startswith("message/"):
            stack.extend(reversed([p for p in part.get_payload() if isinstance(p, Message)]))
        else:
            yield part


def _content_type(part: Message) -> str:
    try:
        return part.get_content_type()
    except Exception:  # RFC 2045: treat an unusable Content-Type as text/plain
        return "text/plain"


def _params(part: Message, name: str) -> dict[str, str]:
    header = _header(part, name)
    try:
        return {str(k).lower(): str(v) for k, v in header.params.items()}
    except Exception:  # absent or unparseable header
        return {}


def _filename(part: Message) -> str:
    name = _params(part, "content-disposition").get("filename")
    name = name or _params(part, "content-type").get("name")
    if not name:
        try:  # the legacy parser copes with some values the new one drops
            name = part.get_filename() or ""
        except Exception:
            name = ""
    if "=?" in name:
        try:
            name = str(email.header.make_header(email.header.decode_header(name)))
        except Exception:  # leave the encoded words as they came
            pass
    return _nfc(_unescape(name)).strip()


def _payload(part: Message, lifted: Lifted) -> bytes:
    if lifted.spans and not part.is_multipart():
        lifted_data = _lifted_payload(part, lifted)
        if lifted_data is not None:
            return lifted_data
    if part.is_multipart():  # message/rfc822 and friends: the embedded message(s)
        out = io.BytesIO()
        for sub in part.get_payload():
            if not isinstance(sub, EmailMessage):
                continue
            try:
                BytesGenerator(out, mangle_from_=False, policy=_RFC822_POLICY).flatten(sub)
            except Exception:  # regenerating odd headers can fail; keep what we have
                pass
        return lifted.restore_bytes(out.getvalue())
    try:
        data = part.get_payload(decode=True)
    except Exception:  # unexpected transfer-encoding trouble
        data = None
    if isinstance(data, bytes):
        return data
    try:
        return str(part.get_payload()).encode("utf-8", "surrogateescape")
    except Exception:  # nothing usable left
        return b""


def _lifted_payload(part: Message, lifted: Lifted) -> bytes | None:
    """A lifted base64 body decoded from the raw bytes; other lifted text put back."""
    try:
        text = part.get_payload()
    except Exception:  # the normal path copes with whatever this is
        return None
    if not isinstance(text, str) or not lifted.has_tokens(text):
        return None
    if str(part.get("content-transfer-encoding", "")).strip().lower() == "base64":
        data = lifted.decode_base64(text)
        if data is not None:
            return data
    part.set_payload(lifted.restore_text(text))
    return None


def _body_and_attachments(msg: Message, lifted: Lifted) -> tuple[str, tuple[Attachment, ...]]:
    plain: Message | None = None
    html: Message | None = None
    attachments: list[Attachment] = []
    for part in _leaves(msg):
        ctype = _content_type(part)
        if ctype.startswith("multipart/"):  # a multipart without usable boundary: raw text
            ctype = "text/plain"
        filename = _filename(part)
        is_attachment = (
            _disposition(part) == "attachment" or bool(filename) or ctype not in _BODY_TYPES
        )
        if is_attachment:
            attachments.append(Attachment(filename, _nfc(ctype), _payload(part, lifted)))
        elif ctype == "text/plain" and plain is None:
            plain = part
        elif ctype == "text/html" and html is None:
            html = part
    body = ""
    if plain is not None:
        body = _decode(_payload(plain, lifted), _params(plain, "content-type").get("charset"))
    elif html is not None:
        body = html_to_text(
            _decode(_payload(html, lifted), _params(html, "content-type").get("charset"))
        )
    return _nfc(body.replace("\r\n", "\n")), tuple(attachments)


def _disposition(part: Message) -> str:
    header = _header(part, "content-disposition")
    try:
        return str(header.content_disposition or "").lower()
    except Exception:  # absent or unparseable
        return ""
