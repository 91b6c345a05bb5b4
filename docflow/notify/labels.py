"""The words docflow shows for its states and kinds, in (vi, en): shared by mails and pages."""

from __future__ import annotations

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
    "reply_answer": ("Trả lời thư quyết định", "Answer to a reply"),
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

# a task's decision, as mails and pages name it
DECISION_WORDS = {
    "approved": ("đồng ý", "approved"),
    "changes_requested": ("yêu cầu chỉnh sửa", "requested changes"),
    "rejected": ("từ chối", "rejected"),
}


def status_name(status: str, language: str) -> str:
    vi, en = STATUS_NAMES.get(status, (status, status))
    return en if language == "en" else vi


def size_label(n: int) -> str:
    if n >= 1024 * 1024:
        return f"{n / 1024 / 1024:.1f} MB"
    if n >= 1024:
        return f"{n / 1024:.0f} KB"
    return f"{n} B"
