"""The admin's quarantine pages: refused mail with its reason, one entry's headers and
detail, its raw bytes, release (as `docflow quarantine release`) and discard."""

from __future__ import annotations

from aiohttp import web

from docflow.errors import DocflowError, NotFoundError
from docflow.intake import quarantine as q
from docflow.storage.filenames import content_disposition
from docflow.web.admin_common import (
    Actor,
    admin_form,
    done_of,
    entry_id,
    local_of,
    require_admin,
    with_nav,
)
from docflow.web.auth import see_other
from docflow.web.keys import SERVICES
from docflow.web.pages import Session, render

routes = web.RouteTableDef()

REASONS = {
    "vi": {
        "unknown_sender": "người gửi chưa có tài khoản",
        "unauthenticated_sender": "không xác thực được người gửi",
        "auto_submitted": "thư gửi tự động",
        "no_attachment": "không có tệp đính kèm",
        "type_not_allowed": "loại tệp không được nhận",
        "not_author": "không phải người soạn văn bản",
        "unknown_document": "không có văn bản mang mã này",
        "document_closed": "văn bản đã kết thúc quy trình",
        "malformed": "thư hỏng",
        "rate_limited": "gửi quá nhiều thư",
        "processing_failed": "xử lý lỗi nhiều lần",
        "too_large": "quá lớn để tải về",
        "imap_failed": "không lưu được từ hộp thư",
        # a reply to a task mail (decisions by reply): what came of it
        "decided": "đã ghi nhận ý kiến",
        "not_understood": "không hiểu dòng đầu tiên",
        "code_missing": "thiếu mã xác nhận",
        "bad_code": "mã xác nhận sai",
        "code_locked": "mã xác nhận đã khóa",
        "superseded": "việc không còn hiệu lực",
        "used": "đã có ý kiến trước đó",
        "wrong_sender": "không phải người được giao",
        "unknown_reply_address": "địa chỉ trả lời không tồn tại",
        "duplicate": "trùng thư đã nhận",
    },
    "en": {
        "unknown_sender": "sender has no account",
        "unauthenticated_sender": "sender not authenticated",
        "auto_submitted": "automatic mail",
        "no_attachment": "no attachment",
        "type_not_allowed": "file type not accepted",
        "not_author": "not the document's author",
        "unknown_document": "no document with this code",
        "document_closed": "document has finished its workflow",
        "malformed": "malformed",
        "rate_limited": "over the sender's rate limit",
        "processing_failed": "processing failed repeatedly",
        "too_large": "too large to download",
        "imap_failed": "could not be stored from the mailbox",
        "decided": "decision recorded",
        "not_understood": "first line not understood",
        "code_missing": "confirmation code missing",
        "bad_code": "wrong confirmation code",
        "code_locked": "confirmation code locked",
        "superseded": "task no longer valid",
        "used": "decided before",
        "wrong_sender": "not the assignee",
        "unknown_reply_address": "no such reply address",
        "duplicate": "duplicate of a received reply",
    },
}

TEXT = with_nav(
    {
        "vi": {
            "title": "Thư bị giữ lại",
            "intro": "Thư docflow không nhận, giữ nguyên bản gốc cùng lý do. Cho qua: thư được "
            "xử lý lại (ví dụ sau khi đã thêm người gửi); loại bỏ: thư rời khỏi danh sách, "
            "bản gốc vẫn được lưu.",
            "empty": "Không có thư nào bị giữ lại.",
            "received": "Nhận lúc",
            "from": "Người gửi",
            "subject": "Tiêu đề",
            "reason": "Lý do",
            "detail": "Chi tiết",
            "state": "Trạng thái",
            "size": "Kích thước",
            "attempts": "Số lần xử lý",
            "headers": "Các trường tiêu đề thư",
            "raw": "Tải thư gốc (.eml)",
            "release": "Cho qua (xử lý lại)",
            "discard": "Loại bỏ",
            "discard_note": "Thư bị loại bỏ không được xử lý và không hiện trong danh sách; "
            "bản gốc vẫn được lưu.",
            "show_discarded": "Hiện cả thư đã loại bỏ",
            "hide_discarded": "Ẩn thư đã loại bỏ",
            "back": "Danh sách thư bị giữ lại",
            "became": "Đã thành văn bản",
            "version": "phiên bản",
            "open_document": "Mở văn bản",
            "st_quarantined": "đang giữ lại",
            "st_discarded": "đã loại bỏ",
            "st_accepted": "đã nhận",
            "st_duplicate": "trùng thư đã nhận",
            "st_pending": "đang xử lý",
            "st_bounce": "thư báo lỗi gửi",
            "st_reply": "thư trả lời thư giao việc",
            "done_released": "Đã cho qua.",
            "done_requarantined": "Đã xử lý lại nhưng thư vẫn bị giữ lại; xem lý do bên dưới.",
            "done_discarded": "Đã loại bỏ.",
            "no_subject": "(không có tiêu đề)",
        },
        "en": {
            "title": "Quarantine",
            "intro": "Mail docflow refused, kept as received with its reason. Release: the "
            "message goes through intake again (say, once its sender is a user); discard: it "
            "leaves the list, the raw message is kept.",
            "empty": "Nothing in the quarantine.",
            "received": "Received",
            "from": "From",
            "subject": "Subject",
            "reason": "Reason",
            "detail": "Detail",
            "state": "State",
            "size": "Size",
            "attempts": "Processing attempts",
            "headers": "Header fields",
            "raw": "Download the raw message (.eml)",
            "release": "Release (process again)",
            "discard": "Discard",
            "discard_note": "A discarded message is not processed and leaves the list; the raw "
            "message is kept.",
            "show_discarded": "Show discarded entries too",
            "hide_discarded": "Hide discarded entries",
            "back": "The quarantine",
            "became": "Became document",
            "version": "version",
            "open_document": "Open the document",
            "st_quarantined": "quarantined",
            "st_discarded": "discarded",
            "st_accepted": "accepted",
            "st_duplicate": "duplicate of an accepted mail",
            "st_pending": "being processed",
            "st_bounce": "bounce report",
            "st_reply": "reply to a task mail",
            "done_released": "Released.",
            "done_requarantined": "Processed again, and refused again: see the reason below.",
            "done_discarded": "Discarded.",
            "no_subject": "(no subject)",
        },
    }
)


def reason_text(lang: str, reason: str | None) -> str:
    return REASONS[lang].get(reason or "", reason or "")


@routes.get("/admin/quarantine")
async def quarantine_page(request: web.Request) -> web.Response:
    session = await require_admin(request)
    discarded = request.query.get("discarded") == "1"
    return render(
        request,
        "admin_quarantine.html",
        session,
        TEXT,
        entries=await q.list_entries(200, discarded=discarded),
        discarded=discarded,
        reason_text=reason_text,
        local=local_of(request.app[SERVICES]),
        done=done_of(request, TEXT),
    )


async def _entry_page(
    request: web.Request, session: Session, problem: str | None = None
) -> web.Response:
    services = request.app[SERVICES]
    row = await q.find_entry(entry_id(request))
    try:
        raw = await services.spool.read(row.spool_name)
    except OSError:
        raw = b""
    return render(
        request,
        "admin_entry.html",
        session,
        TEXT,
        status=422 if problem else 200,
        e=q.entry_view(row),
        headers=q.header_lines(raw),
        reason_text=reason_text,
        local=local_of(services),
        done=done_of(request, TEXT),
        problem=problem,
    )


@routes.get("/admin/quarantine/{id}")
async def entry_page(request: web.Request) -> web.Response:
    return await _entry_page(request, await require_admin(request))


async def raw_message(request: web.Request, inbound_id: int) -> web.Response:
    """The message as received, as a download (never shown inline: it is untrusted)."""
    row = await q.find_entry(inbound_id)
    try:
        data = await request.app[SERVICES].spool.read(row.spool_name)
    except OSError:
        raise NotFoundError(f"the raw message of Q-{inbound_id} is not in the spool") from None
    return web.Response(
        body=data,
        headers={
            "Content-Type": "message/rfc822",
            "Content-Disposition": content_disposition(f"Q-{inbound_id}.eml"),
            "X-Content-Type-Options": "nosniff",
        },
    )


@routes.get("/admin/quarantine/{id}/raw")
async def entry_raw(request: web.Request) -> web.Response:
    await require_admin(request)
    return await raw_message(request, entry_id(request))


@routes.post("/admin/quarantine/{id}/{action:release|discard}")
async def entry_action(request: web.Request) -> web.StreamResponse:
    session, _ = await admin_form(request)
    actor = Actor.of(request, session.principal.email, "web")
    inbound_id = entry_id(request)
    try:
        if request.match_info["action"] == "discard":
            await actor.discard(inbound_id)
            return see_other("/admin/quarantine?done=done_discarded")
        outcome = await actor.release(inbound_id)
    except NotFoundError:
        raise
    except DocflowError as e:  # e.g. an IMAP message never downloaded: nothing to run
        return await _entry_page(request, session, str(e))
    done = "done_requarantined" if outcome.state == "quarantined" else "done_released"
    return see_other(f"/admin/quarantine/{inbound_id}?done={done}")
