"""Composing docflow's own mail, in vi or en: receipts and refusals (replies to a mail
received) and the mails about a document (tasks, notices, reminders, issued copies).

Every mail is built from a `Recipient` and, when it is about a document, a
`DocumentRef`; the words are in `notify/templates` (one file per mail and
language) and `notify/labels`. Each mail is that text with an HTML alternative made
from it (`notify.body`, `notify.htmlmail`, which says why).
"""

from __future__ import annotations

from email.header import Header
from email.message import Message
from email.utils import format_datetime, formataddr, make_msgid
from pathlib import Path
from typing import Literal

import jinja2

from docflow.clock import Clock
from docflow.notify.body import Body, mime_body
from docflow.notify.labels import REASONS, size_label, status_name
from docflow.notify.message import Attachment, DocumentRef, Recipient

_TEMPLATES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=False,  # plain-text mail
    keep_trailing_newline=True,
    undefined=jinja2.StrictUndefined,
    auto_reload=False,  # shipped with the package: no stat per mail
)
# the tone of a decision link's button, by the template variable that carries it
_TONES = {"approve_url": "approve", "changes_url": "changes", "reject_url": "reject"}
# RFC 3834: a reply to a message (receipt, refusal) or mail a program sends by itself
AutoSubmitted = Literal["auto-replied", "auto-generated"]
FileRole = Literal["main", "annex"]


class MailComposer:
    """Builds complete, threaded, UTF-8 messages ready for the outbox."""

    def __init__(self, clock: Clock, from_address: str, org_name: str, domain: str) -> None:
        self.clock = clock
        self.from_address = from_address
        self.org_name = org_name
        self.domain = domain

    def _compose(
        self,
        *,
        to: Recipient,
        subject: str,
        body: Body,
        in_reply_to: str,
        references: list[str],
        auto: AutoSubmitted,
        attachments: list[Attachment] | None = None,
    ) -> Message:
        """A UTF-8 multipart/alternative message, the text and its HTML (inside a
        multipart/mixed with attachments: `notify.body`), threaded to the mail it answers.

        Built with the stdlib's compat32 API: it encodes long non-ASCII subjects
        correctly (see `docflow.mime.MailPolicy`) and costs a fraction of `policy.default`'s
        header machinery, which matters at one receipt per draft.
        """
        msg = mime_body(body, subject, attachments or ())
        msg["From"] = formataddr(("docflow", self.from_address))
        msg["To"] = formataddr((to.name, to.address), charset="utf-8") if to.name else to.address
        msg["Subject"] = subject if subject.isascii() else Header(subject, "utf-8", 998)  # type: ignore[assignment]
        msg["Date"] = format_datetime(self.clock.now())
        msg["Message-ID"] = make_msgid(idstring="df", domain=self.domain)
        if in_reply_to:
            msg["In-Reply-To"] = f"<{in_reply_to}>"
        refs = [r for r in references if r]
        if in_reply_to and in_reply_to not in refs:
            refs.append(in_reply_to)
        if refs:
            msg["References"] = " ".join(f"<{r}>" for r in refs[-20:])
        # RFC 3834: auto-replied (receipts, refusals) or auto-generated (everything else),
        # so that responders do not answer; Exchange/Outlook heed only their own header
        msg["Auto-Submitted"] = auto
        msg["X-Auto-Response-Suppress"] = "All"
        msg["Content-Language"] = to.language
        return msg

    def _render(self, template: str, language: str, **context: object) -> Body:
        """The text of `template` in `language`, with the URLs it carries: the context's
        `…url` values and its files' `url`s (the only ones its HTML links)."""
        name = f"{template}.{'en' if language == 'en' else 'vi'}.txt"
        text = _TEMPLATES.get_template(name).render(org_name=self.org_name, **context)
        links: dict[str, str] = {}
        for key, value in context.items():
            if key.endswith("url") and isinstance(value, str):
                links[value] = _TONES.get(key, "")
            elif key == "files" and isinstance(value, list):
                links.update((f["url"], "") for f in value if isinstance(f, dict) and "url" in f)
        return Body(text, language, links)

    # --- replies to a mail received ------------------------------------------------------

    def receipt(
        self,
        to: Recipient,
        doc: DocumentRef,
        *,
        workflow: str,
        status: str,
        stage: str | None,
        files: list[tuple[str, FileRole, int]],
        status_url: str,
        in_reply_to: str,
        references: list[str],
    ) -> Message:
        """The answer to a stored draft: which document and version it became, where it is."""
        word = "Received" if to.en else "Đã tiếp nhận"
        subject = f"[{doc.code}] {word}: {doc.title}"
        if doc.version is not None and doc.version > 1:
            subject += f" (v{doc.version})"
        roles = {"main": ("dự thảo chính", "main"), "annex": ("phụ lục", "annex")}
        body = self._render(
            "receipt",
            to.language,
            name=to.name,
            code=doc.code,
            title=doc.title,
            version=doc.version,
            workflow=workflow,
            status=status_name(status, to.language),
            stage=stage,
            files=[
                {"name": n, "role_label": roles[role][to.en], "size_label": size_label(size)}
                for n, role, size in files
            ],
            status_url=status_url,
        )
        return self._compose(
            to=to,
            subject=subject,
            body=body,
            in_reply_to=in_reply_to,
            references=references,
            auto="auto-replied",
        )

    def refused(
        self,
        to: Recipient,
        *,
        subject: str,
        reason: str,
        detail: str,
        inbound_id: int,
        code: str | None,
        in_reply_to: str,
        references: list[str],
    ) -> Message:
        """What was wrong with a mail that did not become a version, and what to do."""
        vi, en = REASONS.get(reason, REASONS["processing_failed"])
        problem, advice = en if to.en else vi
        word = "Not accepted" if to.en else "Chưa tiếp nhận"
        tag = f"[{code}] " if code else ""
        body = self._render(
            "refused",
            to.language,
            name=to.name,
            subject=subject,
            problem=problem.format(detail=detail),
            advice=advice,
            inbound_id=inbound_id,
        )
        return self._compose(
            to=to,
            subject=f"{tag}{word}: {subject or '…'}",
            body=body,
            in_reply_to=in_reply_to,
            references=references,
            auto="auto-replied",
        )

    # --- mail about a document, in its thread --------------------------------------------

    def _about(
        self,
        template: str,
        to: Recipient,
        doc: DocumentRef,
        word: str,
        attachments: list[Attachment] | None = None,
        **context: object,
    ) -> Message:
        """`[DF-…] word: title`, the body from `template`, after the thread's latest mail."""
        body = self._render(
            template,
            to.language,
            name=to.name,
            code=doc.code,
            title=doc.title,
            version=doc.version,
            **context,
        )
        thread = list(doc.thread)
        return self._compose(
            attachments=attachments,
            to=to,
            subject=f"[{doc.code}] {word}: {doc.title}",
            body=body,
            in_reply_to=thread[-1] if thread else "",
            references=thread,
            auto="auto-generated",
        )

    def task(
        self,
        to: Recipient,
        doc: DocumentRef,
        *,
        author: str,
        stage: str,
        due: str,
        files: list[tuple[str, int, str]],
        urls: dict[str, str],
        reply_code: bool | None = None,
    ) -> Message:
        """An approver's task mail: one link per action, each personal to them; how to
        decide by replying unless `reply_code` is None (True: with the code on the line)."""
        return self._about(
            "task",
            to,
            doc,
            _word(to, "Cần xem xét", "To review"),
            author=author,
            stage=stage,
            due=due,
            files=[{"name": n, "size_label": size_label(sz), "url": u} for n, sz, u in files],
            open_url=urls["open"],
            approve_url=urls["approve"],
            changes_url=urls["changes"],
            reject_url=urls["reject"],
            reply_code=reply_code,
        )

    def notice(
        self,
        to: Recipient,
        doc: DocumentRef,
        *,
        status: str,
        event: str,
        status_url: str,
        comments: list[dict[str, str]] | None = None,
        **facts: object,
    ) -> Message:
        """A mail at a step of the document's way; `event` picks the sentence that says
        what happened (notify/templates/notice_event.*.txt), `facts` fill it."""
        text = self._render("notice_event", to.language, event=event, **facts).text.strip()
        return self._about(
            "notice",
            to,
            doc,
            status_name(status, to.language),
            status=status_name(status, to.language),
            text=text,
            comments=comments or [],
            status_url=status_url,
        )

    def reminder(
        self,
        to: Recipient,
        doc: DocumentRef,
        *,
        stage: str,
        due: str,
        overdue: bool,
        urls: dict[str, str],
        reply_code: bool | None = None,
    ) -> Message:
        """A reminder of an open task, with fresh links (the earlier ones still work) and,
        as in the task mail, how to decide by replying unless `reply_code` is None."""
        return self._about(
            "reminder",
            to,
            doc,
            _word(to, "Nhắc việc", "Reminder"),
            stage=stage,
            due=due,
            overdue=overdue,
            open_url=urls["open"],
            approve_url=urls["approve"],
            changes_url=urls["changes"],
            reject_url=urls["reject"],
            reply_code=reply_code,
        )

    def escalated(
        self, to: Recipient, doc: DocumentRef, *, stage: str, due: str, added: list[str]
    ) -> Message:
        """Tells an assignee whose task is overdue who else may now decide."""
        word = _word(to, "Đã chuyển cấp trên", "Escalated")
        return self._about("escalated", to, doc, word, stage=stage, due=due, added=added)

    def decision_code(
        self, to: Recipient, doc: DocumentRef, *, stage: str, one_time_code: str, attempts: int
    ) -> Message:
        """The one-time code a stage with `require_code` asks for before a decision counts.

        It travels apart from the task mail, so that a scanner which follows (or submits)
        the task mail's links cannot decide on its own.
        """
        return self._about(
            "decision_code",
            to,
            doc,
            _word(to, "Mã xác nhận", "Confirmation code"),
            stage=stage,
            one_time_code=one_time_code,
            attempts=attempts,
        )

    def bounced(
        self,
        to: Recipient,
        doc: DocumentRef,
        *,
        recipient: Recipient,
        status: str,
        diagnostic: str,
        status_url: str,
    ) -> Message:
        """Tells the author that an approver's task mail came back undelivered."""
        return self._about(
            "bounced",
            to,
            doc,
            _word(to, "Thư không đến được", "Undeliverable"),
            recipient=recipient.address,
            recipient_name=recipient.name,
            status=status,
            diagnostic=diagnostic,
            status_url=status_url,
        )

    def issued(
        self,
        to: Recipient,
        doc: DocumentRef,
        *,
        number: str,
        summary: str,
        issue_date: str,
        signer: str,
        files: list[Attachment],
        signed: bool = False,
    ) -> Message:
        """The issued document, as distributed (nơi nhận) and sent back to its author;
        `signed`: its PDF carries the signer's and the organisation's signatures."""
        return self._about(
            "issued",
            to,
            doc,
            f"{_word(to, 'Ban hành', 'Issued')} {number}",
            attachments=files,
            number=number,
            summary=summary,
            issue_date=issue_date,
            signer=signer,
            files=[f.name for f in files],
            signed=signed,
        )

    def signin_link(self, to: Recipient, *, url: str, minutes: int) -> Message:
        """A one-time link that signs the recipient in to the web app (asked for on the
        sign-in page); it opens a page with a button, so a scanner cannot use it."""
        return self._compose(
            to=to,
            subject=f"docflow: {_word(to, 'Đường dẫn đăng nhập', 'Your sign-in link')}",
            body=self._render("signin_link", to.language, name=to.name, url=url, minutes=minutes),
            in_reply_to="",
            references=[],
            auto="auto-generated",
        )

    def standalone(self, template: str, to: Recipient, subject: str, **context: object) -> Message:
        """A mail of its own, about no document and answering none (an alert to an admin)."""
        body = self._render(template, to.language, name=to.name, **context)
        return self._compose(
            to=to, subject=subject, body=body, in_reply_to="", references=[], auto="auto-generated"
        )


def _word(to: Recipient, vi: str, en: str) -> str:
    return en if to.en else vi
