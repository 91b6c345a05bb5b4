"""Composing docflow's own mail: receipts and "what was wrong" replies, in vi or en."""

from __future__ import annotations

from dataclasses import dataclass
from email.header import Header
from email.message import Message
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import format_datetime, formataddr, make_msgid
from pathlib import Path
from typing import Literal

import jinja2

from docflow.clock import Clock

_TEMPLATES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=False,  # plain-text mail
    keep_trailing_newline=True,
    undefined=jinja2.StrictUndefined,
)

STATUS_NAMES = {
    "received": ("Đã tiếp nhận", "Received"),
    "in_review": ("Đang xem xét", "In review"),
    "changes_requested": ("Yêu cầu chỉnh sửa", "Changes requested"),
    "approved": ("Đã phê duyệt", "Approved"),
    "issued": ("Đã ban hành", "Issued"),
    "rejected": ("Bị từ chối", "Rejected"),
    "withdrawn": ("Đã rút", "Withdrawn"),
}

# outbox kind -> (vi, en): what a mail was, where a page lists mail that did not arrive
MAIL_KINDS = {
    "receipt": ("Biên nhận", "Receipt"),
    "refused": ("Thư báo chưa tiếp nhận", "Not accepted"),
    "task": ("Thư giao việc", "Task mail"),
    "code": ("Mã xác nhận", "Confirmation code"),
    "reminder": ("Nhắc việc", "Reminder"),
    "escalated": ("Báo chuyển cấp trên", "Escalation notice"),
    "notice": ("Thông báo", "Notice"),
    "issued": ("Văn bản ban hành", "Issued document"),
    "bounce_notice": ("Báo thư không đến được", "Undeliverable notice"),
}

# reason code -> ((problem vi, advice vi), (problem en, advice en))
REASONS: dict[str, tuple[tuple[str, str], tuple[str, str]]] = {
    "no_attachment": (
        (
            "thư không có tệp đính kèm nào.",
            "Hãy gửi lại thư kèm dự thảo (DOCX, DOC, ODT, PDF, RTF hoặc TXT).",
        ),
        (
            "the message has no attached file.",
            "Please send it again with the draft attached (DOCX, DOC, ODT, PDF, RTF or TXT).",
        ),
    ),
    "type_not_allowed": (
        (
            "có tệp thuộc loại không được chấp nhận: {detail}",
            "Hãy gửi lại dưới dạng DOCX, DOC, ODT, PDF, RTF hoặc TXT.",
        ),
        (
            "a file is of a type that is not accepted: {detail}",
            "Please send it again as DOCX, DOC, ODT, PDF, RTF or TXT.",
        ),
    ),
    "not_author": (
        (
            "văn bản {detail} do người khác soạn; chỉ người soạn mới được gửi phiên bản mới.",
            "Hãy nhờ người soạn gửi bản sửa đổi, hoặc gửi thành văn bản mới "
            "(bỏ mã theo dõi khỏi tiêu đề).",
        ),
        (
            "document {detail} was authored by someone else; only its author may add versions.",
            "Ask the author to send the revision, or send it as a new document "
            "(without the tracking code in the subject).",
        ),
    ),
    "unknown_document": (
        ("không tìm thấy văn bản {detail}.", "Hãy kiểm tra mã theo dõi trong tiêu đề thư."),
        ("there is no document {detail}.", "Please check the tracking code in the subject."),
    ),
    "document_closed": (
        (
            "văn bản {detail} đã kết thúc quy trình, không nhận thêm phiên bản.",
            "Hãy gửi thành văn bản mới.",
        ),
        (
            "document {detail} has finished its workflow and takes no more versions.",
            "Please send it as a new document.",
        ),
    ),
    "malformed": (
        (
            "không đọc được nội dung thư: {detail}",
            "Hãy gửi lại thư từ chương trình thư điện tử thông thường.",
        ),
        (
            "the message could not be read: {detail}",
            "Please send it again from an ordinary mail program.",
        ),
    ),
    "processing_failed": (
        ("đã xảy ra lỗi khi xử lý thư.", "Quản trị viên đã được ghi nhận; thư sẽ được xử lý lại."),
        (
            "an error occurred while processing the message.",
            "The administrators can see it; the message will be processed again.",
        ),
    ),
}


# RFC 3834: a reply to a message (receipt, refusal) or mail a program sends by itself
AutoSubmitted = Literal["auto-replied", "auto-generated"]


@dataclass(frozen=True)
class FileLine:
    name: str
    role_label: str
    size_label: str


def size_label(n: int) -> str:
    if n >= 1024 * 1024:
        return f"{n / 1024 / 1024:.1f} MB"
    if n >= 1024:
        return f"{n / 1024:.0f} KB"
    return f"{n} B"


@dataclass(frozen=True)
class Attachment:
    name: str
    mime: str
    data: bytes


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
        to: str,
        to_name: str,
        subject: str,
        body: str,
        language: str,
        in_reply_to: str,
        references: list[str],
        auto: AutoSubmitted,
        attachments: list[Attachment] | None = None,
    ) -> Message:
        """A text/plain UTF-8 message (multipart/mixed with attachments), threaded to the
        mail it answers.

        Built with the stdlib's compat32 API: it encodes long non-ASCII subjects
        correctly (see `docflow.mime.MailPolicy`) and costs a fraction of `policy.default`'s
        header machinery, which matters at one receipt per draft.
        """
        msg: Message = MIMEText(body, "plain", "utf-8")
        if attachments:
            mixed = MIMEMultipart("mixed")
            mixed.attach(msg)
            for a in attachments:
                maintype, _, subtype = a.mime.partition("/")
                part = MIMEApplication(
                    a.data, subtype if maintype == "application" else "octet-stream"
                )
                if maintype != "application":
                    part.replace_header("Content-Type", a.mime)
                part.add_header("Content-Disposition", "attachment", filename=("utf-8", "", a.name))
                mixed.attach(part)
            msg = mixed
        msg["From"] = formataddr(("docflow", self.from_address))
        msg["To"] = formataddr((to_name, to), charset="utf-8") if to_name else to
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
        msg["Content-Language"] = language
        return msg

    def receipt(
        self,
        *,
        to: str,
        name: str,
        language: str,
        code: str,
        title: str,
        version: int,
        workflow: str,
        status: str,
        stage: str | None = None,
        files: list[tuple[str, str, int]],
        status_url: str,
        in_reply_to: str,
        references: list[str],
    ) -> Message:
        en = language == "en"
        word = "Received" if en else "Đã tiếp nhận"
        subject = f"[{code}] {word}: {title}" + (f" (v{version})" if version > 1 else "")
        lines = [
            FileLine(
                n,
                ("main" if en else "dự thảo chính")
                if role == "main"
                else ("annex" if en else "phụ lục"),
                size_label(size),
            )
            for n, role, size in files
        ]
        body = self._render(
            "receipt",
            language,
            name=name,
            code=code,
            title=title,
            version=version,
            workflow=workflow,
            status=STATUS_NAMES.get(status, (status, status))[1 if en else 0],
            stage=stage,
            files=lines,
            status_url=status_url,
        )
        return self._compose(
            to=to,
            to_name=name,
            subject=subject,
            body=body,
            language=language,
            in_reply_to=in_reply_to,
            references=references,
            auto="auto-replied",
        )

    def refused(
        self,
        *,
        to: str,
        name: str,
        language: str,
        subject: str,
        reason: str,
        detail: str,
        inbound_id: int,
        code: str | None,
        in_reply_to: str,
        references: list[str],
    ) -> Message:
        en = language == "en"
        (problem_vi, advice_vi), (problem_en, advice_en) = REASONS.get(
            reason, REASONS["processing_failed"]
        )
        problem, advice = (problem_en, advice_en) if en else (problem_vi, advice_vi)
        word = "Not accepted" if en else "Chưa tiếp nhận"
        tag = f"[{code}] " if code else ""
        body = self._render(
            "refused",
            language,
            name=name,
            subject=subject,
            problem=problem.format(detail=detail),
            advice=advice,
            inbound_id=inbound_id,
        )
        return self._compose(
            to=to,
            to_name=name,
            subject=f"{tag}{word}: {subject or '…'}",
            body=body,
            language=language,
            in_reply_to=in_reply_to,
            references=references,
            auto="auto-replied",
        )

    def _render(self, template: str, language: str, **context: object) -> str:
        name = f"{template}.{'en' if language == 'en' else 'vi'}.txt"
        return _TEMPLATES.get_template(name).render(org_name=self.org_name, **context)

    def _threaded(
        self,
        to: str,
        name: str,
        language: str,
        subject: str,
        body: str,
        thread: list[str],
        attachments: list[Attachment] | None = None,
    ) -> Message:
        """docflow's own notice in the document's thread (after its latest message)."""
        return self._compose(
            attachments=attachments,
            to=to,
            to_name=name,
            subject=subject,
            body=body,
            language=language,
            in_reply_to=thread[-1] if thread else "",
            references=thread,
            auto="auto-generated",
        )

    def _about_document(
        self,
        template: str,
        words: tuple[str, str],
        *,
        to: str,
        name: str,
        language: str,
        code: str,
        title: str,
        thread: list[str],
        **context: object,
    ) -> Message:
        """A mail about one document: `[DF-…] word: title`, the body from `template`."""
        word = words[1] if language == "en" else words[0]
        body = self._render(template, language, name=name, code=code, title=title, **context)
        return self._threaded(to, name, language, f"[{code}] {word}: {title}", body, thread)

    def task(
        self,
        *,
        to: str,
        name: str,
        language: str,
        code: str,
        title: str,
        version: int,
        author: str,
        stage: str,
        due: str,
        files: list[tuple[str, int, str]],
        urls: dict[str, str],
        thread: list[str],
    ) -> Message:
        """An approver's task mail: one link per action, each personal to them."""
        return self._about_document(
            "task",
            ("Cần xem xét", "To review"),
            to=to,
            name=name,
            language=language,
            code=code,
            title=title,
            thread=thread,
            version=version,
            author=author,
            stage=stage,
            due=due,
            files=[{"name": n, "size_label": size_label(sz), "url": u} for n, sz, u in files],
            open_url=urls["open"],
            approve_url=urls["approve"],
            changes_url=urls["changes"],
            reject_url=urls["reject"],
        )

    def notice(
        self,
        *,
        to: str,
        name: str,
        language: str,
        code: str,
        title: str,
        version: int,
        status: str,
        text_vi: str,
        text_en: str,
        comments: list[dict[str, str]],
        status_url: str,
        thread: list[str],
    ) -> Message:
        """A mail to the author at each step of the document's way."""
        en = language == "en"
        status_name = STATUS_NAMES.get(status, (status, status))[1 if en else 0]
        body = self._render(
            "notice",
            language,
            name=name,
            code=code,
            title=title,
            version=version,
            status=status_name,
            text=text_en if en else text_vi,
            comments=comments,
            status_url=status_url,
        )
        return self._threaded(to, name, language, f"[{code}] {status_name}: {title}", body, thread)

    def reminder(
        self,
        *,
        to: str,
        name: str,
        language: str,
        code: str,
        title: str,
        version: int,
        stage: str,
        due: str,
        overdue: bool,
        urls: dict[str, str],
        thread: list[str],
    ) -> Message:
        """A reminder of an open task, with fresh links (the earlier ones still work)."""
        return self._about_document(
            "reminder",
            ("Nhắc việc", "Reminder"),
            to=to,
            name=name,
            language=language,
            code=code,
            title=title,
            thread=thread,
            version=version,
            stage=stage,
            due=due,
            overdue=overdue,
            open_url=urls["open"],
            approve_url=urls["approve"],
            changes_url=urls["changes"],
            reject_url=urls["reject"],
        )

    def escalated(
        self,
        *,
        to: str,
        name: str,
        language: str,
        code: str,
        title: str,
        version: int,
        stage: str,
        due: str,
        added: list[str],
        thread: list[str],
    ) -> Message:
        """Tells an assignee whose task is overdue who else may now decide."""
        return self._about_document(
            "escalated",
            ("Đã chuyển cấp trên", "Escalated"),
            to=to,
            name=name,
            language=language,
            code=code,
            title=title,
            thread=thread,
            version=version,
            stage=stage,
            due=due,
            added=added,
        )

    def decision_code(
        self,
        *,
        to: str,
        name: str,
        language: str,
        code: str,
        title: str,
        version: int,
        stage: str,
        one_time_code: str,
        attempts: int,
        thread: list[str],
    ) -> Message:
        """The one-time code a stage with `require_code` asks for before a decision counts.

        It travels apart from the task mail, so that a scanner which follows (or submits)
        the task mail's links cannot decide on its own.
        """
        return self._about_document(
            "decision_code",
            ("Mã xác nhận", "Confirmation code"),
            to=to,
            name=name,
            language=language,
            code=code,
            title=title,
            thread=thread,
            version=version,
            stage=stage,
            one_time_code=one_time_code,
            attempts=attempts,
        )

    def bounced(
        self,
        *,
        to: str,
        name: str,
        language: str,
        code: str,
        title: str,
        recipient: str,
        recipient_name: str,
        status: str,
        diagnostic: str,
        status_url: str,
        thread: list[str],
    ) -> Message:
        """Tells the author that an approver's task mail came back undelivered."""
        return self._about_document(
            "bounced",
            ("Thư không đến được", "Undeliverable"),
            to=to,
            name=name,
            language=language,
            code=code,
            title=title,
            thread=thread,
            recipient=recipient,
            recipient_name=recipient_name,
            status=status,
            diagnostic=diagnostic,
            status_url=status_url,
        )

    def issued(
        self,
        *,
        to: str,
        name: str,
        language: str,
        code: str,
        number: str,
        title: str,
        summary: str,
        issue_date: str,
        signer: str,
        files: list[Attachment],
        thread: list[str],
    ) -> Message:
        """The issued document, as distributed (nơi nhận) and sent back to its author."""
        en = language == "en"
        word = "Issued" if en else "Ban hành"
        body = self._render(
            "issued",
            language,
            name=name,
            code=code,
            number=number,
            title=title,
            summary=summary,
            issue_date=issue_date,
            signer=signer,
            files=[f.name for f in files],
        )
        subject = f"[{code}] {word} {number}: {title}"
        return self._threaded(to, name, language, subject, body, thread, files)
