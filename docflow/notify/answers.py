"""The answer to a reply to a task mail (decisions by reply): what docflow understood,
what it did, and the way on.

One template per language (`templates/reply_answer.*.txt`), its sentence picked by the
outcome; the HTML is made from the text as for every mail (`notify.body`). The answer
is a reply (`auto-replied`, threaded to the approver's message), so that responders
stay quiet and the approver sees it under their own message.
"""

from __future__ import annotations

from collections.abc import Sequence
from email.message import Message

from docflow.notify.labels import DECISION_WORDS, status_name
from docflow.notify.mails import MailComposer
from docflow.notify.message import DocumentRef, Recipient

# a decision as the reply's line gave it, in the words a reply may use
ACTION_WORDS = {
    "approve": ("Đồng ý", "Approve"),
    "changes": ("Yêu cầu chỉnh sửa", "Request changes"),
    "reject": ("Từ chối", "Reject"),
}
RECORDED = ("Đã ghi nhận ý kiến", "Decision recorded")
NOT_RECORDED = ("Chưa ghi nhận ý kiến", "Decision not recorded")


class ReplyAnswers:
    """Composes the answers; the caller queues them (in its transaction) and sets
    `Reply-To` when a further reply may still decide."""

    def __init__(self, composer: MailComposer) -> None:
        self.composer = composer

    def answer(
        self,
        to: Recipient,
        doc: DocumentRef,
        *,
        outcome: str,
        action: str | None,
        line: str,
        comment: str,
        status: str,
        earlier: str | None = None,
        urls: dict[str, str] | None = None,
        status_url: str = "",
        files: Sequence[str] = (),
        code_on_line: bool = False,
        in_reply_to: str,
        references: Sequence[str],
    ) -> Message:
        """`outcome`: decided, not_understood, code_missing, bad_code, code_locked,
        superseded, used (decided before: `earlier` is the task's state) or wrong_sender;
        `urls`: fresh decision links (open, approve, changes, reject), for an open task."""
        en = to.en
        word = (RECORDED if outcome == "decided" else NOT_RECORDED)[en]
        links = urls or {}
        body = self.composer._render(  # the composer's own renderer: one template engine
            "reply_answer",
            to.language,
            name=to.name,
            code=doc.code,
            title=doc.title,
            version=doc.version,
            outcome=outcome,
            decision=ACTION_WORDS[action][en] if action else "",
            line=line[:200],
            comment=" ".join(comment.split())[:1000],
            status=status_name(status, to.language),
            earlier=DECISION_WORDS[earlier][en] if earlier in DECISION_WORDS else "",
            files=list(files),
            code_on_line=code_on_line,
            open_url=links.get("open", ""),
            approve_url=links.get("approve", ""),
            changes_url=links.get("changes", ""),
            reject_url=links.get("reject", ""),
            status_url=status_url,
        )
        return self.composer._compose(
            to=to,
            subject=f"[{doc.code}] {word}: {doc.title}",
            body=body,
            in_reply_to=in_reply_to,
            references=list(references),
            auto="auto-replied",
        )
