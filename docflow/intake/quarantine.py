"""The quarantine: refused messages with their reason, raw bytes kept in the spool.

Most entries are made by processing (`IntakeService`); `hold` puts a message there
directly, for what cannot go the normal way (IMAP: a message too large to download,
or one whose storing keeps failing), so that it is neither lost nor retried for ever.

An admin releases an entry (`IntakeService.release`) or discards it: a discarded entry
leaves the list, its row and raw bytes stay (the spool keeps every message for good).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from datetime import datetime
from email.errors import HeaderParseError
from email.header import decode_header, make_header
from email.parser import BytesHeaderParser
from email.policy import compat32
from typing import Any

from tortoise.transactions import in_transaction

from docflow.errors import NotFoundError
from docflow.intake.analysis import read_header_bytes
from docflow.intake.models import InboundMessage, InboundState
from docflow.intake.service import Recorder
from docflow.intake.spool import Spool

_FOLD = re.compile(r"\r?\n[ \t]+")


def entry_view(row: InboundMessage) -> dict[str, Any]:
    return {
        "id": row.id,
        "state": row.state,
        "received_at": row.received_at.isoformat(),
        "from": row.from_addr or row.mail_from,
        "subject": row.subject,
        "message_id": row.message_id,
        "reason": row.reason,
        "detail": row.detail,
        "attempts": row.attempts,
        "size": row.size,
        "spool_name": row.spool_name,
        # once released: what it became
        "document_code": row.document_code,
        "version": row.version_number,
    }


async def list_entries(limit: int = 100, discarded: bool = False) -> list[dict[str, Any]]:
    """Quarantined messages, newest first; with `discarded`, the discarded ones too."""
    states = [InboundState.QUARANTINED]
    if discarded:
        states.append(InboundState.DISCARDED)
    rows = await InboundMessage.filter(state__in=states).order_by("-id").limit(limit)
    return [entry_view(r) for r in rows]


async def count_entries() -> int:
    return await InboundMessage.filter(state=InboundState.QUARANTINED).count()


async def get_entry(inbound_id: int) -> InboundMessage:
    row = await InboundMessage.get_or_none(id=inbound_id, state=InboundState.QUARANTINED)
    if row is None:
        raise NotFoundError(f"no quarantine entry {inbound_id}")
    return row


async def find_entry(inbound_id: int) -> InboundMessage:
    """A received message whatever became of it (quarantined, discarded, released and
    accepted…): the admin's page of an entry still answers after its release."""
    row = await InboundMessage.get_or_none(id=inbound_id)
    if row is None:
        raise NotFoundError(f"no quarantine entry {inbound_id}")
    return row


async def discard(inbound_id: int) -> InboundMessage:
    """Set a quarantined message aside: out of the list, never processed; kept."""
    n = await InboundMessage.filter(id=inbound_id, state=InboundState.QUARANTINED).update(
        state=InboundState.DISCARDED
    )
    if n != 1:
        raise NotFoundError(f"no quarantine entry {inbound_id}")
    return await find_entry(inbound_id)


def header_lines(raw: bytes, limit: int = 256 * 1024) -> list[tuple[str, str]]:
    """The header fields of a raw message as received, in order, RFC 2047 words decoded
    and folded lines joined (what an admin reads to see why it was refused)."""
    data = raw[:limit]
    for blank in (b"\r\n\r\n", b"\n\n"):
        end = data.find(blank)
        if end >= 0:
            data = data[: end + len(blank)]
            break
    msg = BytesHeaderParser(policy=compat32).parsebytes(data)
    out = []
    for name, value in msg.raw_items():
        text = value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        text = _FOLD.sub(" ", text).strip()
        try:
            text = str(make_header(decode_header(text)))
        except (ValueError, LookupError, UnicodeError, HeaderParseError):
            pass  # shown as received
        out.append((name, _text(text, 4000)))
    return out


def _text(value: str, limit: int) -> str:
    """What any database's text column holds: no NUL, no lone surrogate (often why
    the message failed in the first place)."""
    return value.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")[:limit]


async def hold(
    spool: Spool,
    when: datetime,
    raw: bytes,
    *,
    source: str,
    reason: str,
    detail: str,
    mail_from: str = "",
    rcpt_tos: Sequence[str] = (),
    also: Recorder | None = None,
) -> int:
    """Store `raw` straight into the quarantine (never processed, never answered); its id.

    `also` writes the caller's row in the same transaction, as for `IntakeService.receive`.
    """
    entry = await spool.write(raw, when)
    try:
        head = await asyncio.to_thread(read_header_bytes, raw)
        async with in_transaction() as conn:
            row = await InboundMessage.create(
                spool_name=entry.name,
                sha256=entry.sha256,
                size=entry.size,
                source=source,
                mail_from=_text(mail_from, 998),
                rcpt_tos=[_text(a, 320) for a in rcpt_tos],
                received_at=when,
                state=InboundState.QUARANTINED,
                reason=reason,
                detail=_text(detail, 4000),
                message_id=_text(head.message_id, 998),
                from_addr=_text(head.from_addr, 320),
                subject=_text(head.subject, 1000),
                processed_at=when,
                using_db=conn,
            )
            if also is not None:
                await also(conn, row.id)
    except BaseException:
        await asyncio.to_thread(spool.remove, entry.name)
        raise
    return row.id
