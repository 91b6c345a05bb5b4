"""The words of the authors' document pages, and a document's audit events as sentences."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

TEXT = {
    "vi": {
        "mine": "Văn bản của tôi",
        "everyone": "Văn bản của mọi người",
        "show_all": "Xem văn bản của mọi người",
        "show_mine": "Chỉ văn bản của tôi",
        "status": "Trạng thái",
        "workflow": "Quy trình",
        "words": "Từ trong tiêu đề",
        "any": "Tất cả",
        "filter": "Lọc",
        "code": "Mã",
        "title": "Tiêu đề",
        "stage": "Bước",
        "holders": "Đang chờ",
        "due": "Hạn",
        "updated": "Cập nhật",
        "author": "Người soạn",
        "overdue": "quá hạn",
        "none": "Không có văn bản nào.",
        "send": "Gửi dự thảo bằng thư tới",
        "page_of": "Trang {page}/{pages} · {total} văn bản",
        "prev": "Trang trước",
        "next": "Trang sau",
        "preview": "Bản xem trước",
        "preview_of": "Bản PDF của {name}",
        "no_preview": "Chưa có bản PDF để xem trong trang; hãy tải tệp gốc:",
        "versions": "Các phiên bản",
        "version": "Phiên bản",
        "files": "Tệp",
        "main": "dự thảo chính",
        "annex": "phụ lục",
        "read_pdf": "Đọc bản PDF",
        "pages": "trang",
        "compare": "So sánh phiên bản {a} với {b}",
        "timeline": "Diễn biến",
        "issued": "Đã ban hành",
        "number": "Số",
        "issued_at": "Ngày ban hành",
        "signed_pdf": "bản ban hành, PDF",
        "issued_file": "phụ lục ban hành, PDF",
        "new_version": "Gửi phiên bản mới",
        "new_version_help": "Tệp đầu tiên là dự thảo chính; có thể thêm phụ lục. Nhận DOCX, "
        "DOC, ODT, PDF, RTF hoặc TXT (kiểm tra theo nội dung tệp). Bước duyệt hiện tại sẽ "
        "bắt đầu lại với phiên bản mới, và anh/chị nhận biên nhận qua thư.",
        "main_file": "Dự thảo chính",
        "annexes": "Phụ lục (không bắt buộc)",
        "note": "Ghi chú cho người duyệt (không bắt buộc)",
        "upload": "Gửi phiên bản mới",
        "uploaded": "Đã nhận phiên bản {n}. Biên nhận đã được gửi tới hộp thư của anh/chị.",
        "withdraw": "Rút văn bản",
        "withdraw_help": "Rút văn bản khỏi quy trình: các việc đang chờ duyệt kết thúc, "
        "đường dẫn trong thư không dùng được nữa.",
        "withdraw_confirm": "Tôi muốn rút văn bản này",
        "withdrawn": "Văn bản đã được rút.",
        "refused": "Chưa nhận phiên bản mới: {problem} {advice}",
        "not_open": "Văn bản đã kết thúc quy trình; không nhận phiên bản mới và không rút được.",
        "too_big": "Tệp quá lớn (tối đa {size}).",
        "no_file": "Hãy chọn tệp dự thảo chính.",
        "confirm_needed": "Hãy đánh dấu ô xác nhận trước khi rút văn bản.",
        "diff_title": "So sánh phiên bản",
        "from": "Từ phiên bản",
        "to": "Đến phiên bản",
        "show": "So sánh",
        "back": "Quay lại văn bản",
        "one_version": "Văn bản mới có một phiên bản; chưa có gì để so sánh.",
    },
    "en": {
        "mine": "My documents",
        "everyone": "Everyone's documents",
        "show_all": "Show everyone's documents",
        "show_mine": "Only my documents",
        "status": "Status",
        "workflow": "Workflow",
        "words": "Words in the title",
        "any": "Any",
        "filter": "Filter",
        "code": "Code",
        "title": "Title",
        "stage": "Stage",
        "holders": "Waiting for",
        "due": "Due",
        "updated": "Updated",
        "author": "Author",
        "overdue": "overdue",
        "none": "No documents.",
        "send": "Send a draft by mail to",
        "page_of": "Page {page} of {pages} · {total} documents",
        "prev": "Previous page",
        "next": "Next page",
        "preview": "Preview",
        "preview_of": "PDF of {name}",
        "no_preview": "No PDF to show in the page yet; download the original:",
        "versions": "Versions",
        "version": "Version",
        "files": "Files",
        "main": "main draft",
        "annex": "annex",
        "read_pdf": "Read as PDF",
        "pages": "pages",
        "compare": "Compare version {a} with {b}",
        "timeline": "Timeline",
        "issued": "Issued",
        "number": "Number",
        "issued_at": "Issued on",
        "signed_pdf": "issued copy, PDF",
        "issued_file": "issued annex, PDF",
        "new_version": "Send a new version",
        "new_version_help": "The first file is the main draft; annexes may follow. DOCX, DOC, "
        "ODT, PDF, RTF or TXT (checked by the file's content). The current review stage "
        "starts again with the new version, and a receipt is mailed to you.",
        "main_file": "Main draft",
        "annexes": "Annexes (optional)",
        "note": "Note for the approvers (optional)",
        "upload": "Send the new version",
        "uploaded": "Version {n} received. A receipt has been mailed to you.",
        "withdraw": "Withdraw the document",
        "withdraw_help": "Take the document out of its workflow: open tasks end and the "
        "links in mail stop working.",
        "withdraw_confirm": "I want to withdraw this document",
        "withdrawn": "The document has been withdrawn.",
        "refused": "The new version was not accepted: {problem} {advice}",
        "not_open": "The document has finished its workflow: it takes no new version and "
        "cannot be withdrawn.",
        "too_big": "The files are too large (at most {size}).",
        "no_file": "Choose the main draft's file.",
        "confirm_needed": "Tick the confirmation box before withdrawing the document.",
        "diff_title": "Compare versions",
        "from": "From version",
        "to": "To version",
        "show": "Compare",
        "back": "Back to the document",
        "one_version": "The document has one version; there is nothing to compare yet.",
    },
}

# action -> (vi, en); {actor} {version} {stage} {who} {comment}… from the event
EVENTS: dict[str, tuple[str, str]] = {
    "version_added": (
        "{actor} gửi phiên bản {version} {source}",
        "{actor} sent version {version} {source}",
    ),
    "stage_entered": (
        "Bắt đầu bước “{stage}” với phiên bản {version}; người duyệt: {assignees}",
        "Stage “{stage}” began with version {version}; approvers: {assignees}",
    ),
    "stage_assigned": (
        "Bước “{stage}” được giao cho {assignees}",
        "Stage “{stage}” assigned to {assignees}",
    ),
    "stage_completed": ("Bước “{stage}” hoàn thành", "Stage “{stage}” completed"),
    "approved": ("Văn bản được phê duyệt", "The document was approved"),
    "withdrawn": ("{actor} rút văn bản {source}", "{actor} withdrew the document {source}"),
    "decision:approved": (
        "{actor} đồng ý phiên bản {version} {source}",
        "{actor} approved version {version} {source}",
    ),
    "decision:changes_requested": (
        "{actor} yêu cầu chỉnh sửa phiên bản {version} {source}",
        "{actor} requested changes to version {version} {source}",
    ),
    "decision:rejected": (
        "{actor} từ chối phiên bản {version} {source}",
        "{actor} rejected version {version} {source}",
    ),
    "link_renewed": ("{actor} xin đường dẫn mới", "{actor} asked for a fresh link"),
    "reminded": ("docflow nhắc {assignee}", "docflow reminded {assignee}"),
    "escalated": (
        "Việc của {assignee} quá hạn; chuyển thêm cho {added}",
        "{assignee}'s task was overdue; also sent to {added}",
    ),
    "delivery_failed": ("Một thư không gửi được", "A mail could not be delivered"),
    "issued": ("Văn bản được ban hành, số {number}", "The document was issued as {number}"),
    "issue_failed": ("Chưa ban hành được: {reason}", "Issuing failed: {reason}"),
    "legal_hold_on": ("Hồ sơ bị phong tỏa", "The record was put on legal hold"),
    "legal_hold_off": ("Hồ sơ hết phong tỏa", "The record's legal hold was lifted"),
    "copy_made": ("{actor} tạo bản sao điện tử", "{actor} made an electronic copy"),
}
SOURCES = {
    "mail": ("qua thư", "by mail"),
    "link": ("qua đường dẫn", "through a link"),
    "web": ("trên trang web", "on the web"),
    "api": ("qua API", "through the API"),
    "cli": ("bằng dòng lệnh", "from the command line"),
    "system": ("", ""),
}
ON_BEHALF = ("thay {who}", "for {who}")


class _Blank(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "—"


def sentence(
    e: Mapping[str, Any],
    lang: str,
    name: Callable[[str], str],
    stage_name: Callable[[str | None], str],
) -> str:
    """One audit event (`Journal.events`) as a sentence in `lang`."""
    en = lang == "en"
    detail = e.get("detail") or {}
    values = _Blank(
        actor=name(str(e["actor"])),
        version=e.get("version") or "—",
        stage=stage_name(e.get("stage")),
        source=SOURCES.get(str(e["source"]), ("", ""))[en],
        assignees=", ".join(name(a) for a in detail.get("assignees", [])) or "—",
        assignee=name(str(detail.get("assignee", ""))),
        added=", ".join(name(a) for a in detail.get("added", [])) or "—",
        number=detail.get("number", "—"),
        reason=detail.get("reason", "—"),
    )
    template = EVENTS.get(str(e["action"]))
    text = template[en].format_map(values) if template else f"{values['actor']}: {e['action']}"
    if e.get("on_behalf_of"):
        text += f" ({ON_BEHALF[en].format(who=name(str(e['on_behalf_of'])))})"
    return " ".join(text.split())


def local_when(local_time: Callable[[datetime], str], iso: str) -> str:
    return local_time(datetime.fromisoformat(iso))
