"""A new version uploaded from the browser: the rules and the path of a mailed one.

The author only, a document still open, every file's type decided by its content in the
analysis workers (`Analyser.files`, the mail path's `prepare_files`), then `Drafts.store`:
the version is stored, its stage restarted and its receipt mailed in one transaction.
A refused upload raises `Refused` with the reason codes a refused mail gets (its words
are `notify.labels.REASONS`); nothing is quarantined, the page says it at once.

`key` makes a form submitted twice one version: the form carries a random value, and
the same author with the same value is the same upload (as a Message-ID is for mail).
"""

from __future__ import annotations

import hashlib
import logging

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from docflow.documents.service import OPEN_STATUSES, NewVersion
from docflow.errors import NotFoundError, Refused
from docflow.intake.drafts import Drafts, Outcome
from docflow.intake.models import InboundState
from docflow.intake.parse import Attachment
from docflow.users.models import User

log = logging.getLogger("docflow.intake")


async def upload_version(
    drafts: Drafts,
    author_email: str,
    code: str,
    files: list[Attachment],
    key: str,
    note: str = "",
    source: str = "web",
) -> Outcome:
    """Version N+1 of document `code` from `files` (the main draft first)."""
    doc = await drafts.documents.by_code(code)
    if doc is None:
        raise NotFoundError(f"no document {code}")
    author = await User.get_or_none(email=author_email.strip().lower())
    if author is None or doc.author.email != author.email:
        raise Refused("not_author", doc.code)
    if doc.status not in OPEN_STATUSES:
        raise Refused("document_closed", doc.code)
    source_key = hashlib.sha256(f"{author.email}\nweb:{key}".encode()).hexdigest()
    existing = await drafts.documents.version_exists(source_key)
    if existing is not None:
        return Outcome(InboundState.DUPLICATE, doc.code, existing.number)
    stored, refusal = await drafts.analyser.files(tuple(files))
    if refusal is not None and refusal[0] == "no_attachment":  # only images: mail's rule
        raise Refused("type_not_allowed", ", ".join(f.filename for f in files))
    if refusal is not None:
        raise Refused(*refusal)
    new = NewVersion(
        message_id="",
        source_key=source_key,
        inbound_id=None,
        subject=doc.title,
        body_text=note.strip()[:10000],
        files=list(stored),
    )
    try:
        async with in_transaction() as conn:
            thread = await drafts.mailer.journal.thread(conn, doc)
            _, version = await drafts.store(
                conn, doc, author, doc.workflow, doc.title, new, thread, source
            )
    except IntegrityError:  # the same form, sent twice at once
        again = await drafts.documents.version_exists(source_key)
        if again is None:
            raise
        return Outcome(InboundState.DUPLICATE, doc.code, again.number)
    drafts.outbox.poke()
    log.info(
        "version uploaded",
        extra={"code": doc.code, "version": version.number, "files": len(stored)},
    )
    return Outcome(InboundState.ACCEPTED, doc.code, version.number)
