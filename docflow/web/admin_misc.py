"""The admin's index, the workflows as docflow runs them (and the problems of the files on
disk now), and outgoing mail: what waits, what was given up, failed deliveries, retry."""

from __future__ import annotations

import asyncio

from aiohttp import web

from docflow.intake.quarantine import count_entries
from docflow.notify import outbox_admin
from docflow.notify.labels import MAIL_KINDS
from docflow.web.admin_common import Actor, admin_form, done_of, local_of, require_admin, with_nav
from docflow.web.auth import see_other
from docflow.web.keys import SERVICES
from docflow.web.pages import render
from docflow.workflow.definitions import format_duration
from docflow.workflow.loader import check_workflows

routes = web.RouteTableDef()

TEXT = with_nav(
    {
        "vi": {
            "title": "Quản trị",
            "users_about": "Thêm người dùng, vai trò, ngôn ngữ, khóa tài khoản, gửi đường dẫn "
            "đăng nhập.",
            "quarantine_about": "Thư không được nhận: lý do, tiêu đề thư, thư gốc; cho qua hoặc "
            "loại bỏ.",
            "workflows_about": "Các tệp quy trình, các bước và lỗi của tệp.",
            "outbox_about": "Thư đang chờ gửi, thư gửi không được; gửi lại.",
            "tokens_about": "Khóa API cho các chương trình: tạo, thu hồi.",
            "audit_about": "Ai đã làm gì, khi nào; nhật ký của từng văn bản.",
            "waiting": "thư đang chờ",
            "given_up": "thư gửi không được",
            "in_quarantine": "thư bị giữ lại",
            # workflows
            "running": "Quy trình đang chạy",
            "reread": "docflow đọc các tệp quy trình khi khởi động; sửa tệp xong hãy khởi động "
            "lại dịch vụ.",
            "directory": "Thư mục",
            "file_problems": "Lỗi trong các tệp quy trình hiện có trên đĩa",
            "files_ok": "Các tệp quy trình trên đĩa đều hợp lệ.",
            "default": "mặc định",
            "type": "Loại văn bản",
            "register": "Sổ",
            "retention": "Thời hạn lưu trữ",
            "distribute": "Gửi tới khi ban hành",
            "file": "Tệp",
            "stage": "Bước",
            "assignees": "Người xử lý",
            "quorum": "Số người cần đồng ý",
            "due": "Thời hạn",
            "remind": "Nhắc lại sau",
            "escalate": "Chuyển cấp trên",
            "flags": "Yêu cầu",
            "code": "mã xác nhận",
            "sign": "ký số",
            "q_all": "tất cả",
            "q_any": "một người",
            # outbox
            "queued": "Đang chờ gửi",
            "no_queued": "Không có thư nào đang chờ.",
            "failed": "Gửi không được",
            "no_failed": "Không có thư nào gửi không được.",
            "failures": "Lần gửi thất bại theo người nhận",
            "no_failures": "Chưa có lần gửi nào thất bại.",
            "kind": "Loại thư",
            "to": "Gửi tới",
            "subject": "Tiêu đề",
            "document": "Văn bản",
            "created": "Tạo lúc",
            "next_try": "Thử lại lúc",
            "attempts": "Số lần thử",
            "error": "Lỗi",
            "at": "Lúc",
            "status": "Mã lỗi",
            "retry": "Gửi lại",
            "st_failed": "máy chủ thư từ chối",
            "st_bounced": "bị trả lại",
            "done_retry": "Thư đã được đưa lại vào hàng đợi.",
        },
        "en": {
            "title": "Admin",
            "users_about": "Add users, roles, language, deactivate, mail a sign-in link.",
            "quarantine_about": "Refused mail: reason, headers, raw message; release or discard.",
            "workflows_about": "The workflow files, their stages, and the problems of the files.",
            "outbox_about": "Mail waiting to go, mail that could not be delivered; retry.",
            "tokens_about": "API tokens for programs: create, revoke.",
            "audit_about": "Who did what, when; each document's audit trail.",
            "waiting": "mails waiting",
            "given_up": "mails not delivered",
            "in_quarantine": "messages in quarantine",
            "running": "Workflows in use",
            "reread": "docflow reads the workflow files when it starts: restart the service "
            "after changing one.",
            "directory": "Directory",
            "file_problems": "Problems in the workflow files on disk now",
            "files_ok": "The workflow files on disk are all valid.",
            "default": "default",
            "type": "Document type",
            "register": "Register",
            "retention": "Retention",
            "distribute": "Distributed to when issued",
            "file": "File",
            "stage": "Stage",
            "assignees": "Assignees",
            "quorum": "Quorum",
            "due": "Due",
            "remind": "Reminder every",
            "escalate": "Escalate to",
            "flags": "Requires",
            "code": "confirmation code",
            "sign": "digital signature",
            "q_all": "all",
            "q_any": "any one",
            "queued": "Waiting to be sent",
            "no_queued": "No mail waiting.",
            "failed": "Not delivered",
            "no_failed": "No undelivered mail.",
            "failures": "Failed deliveries by recipient",
            "no_failures": "No failed delivery yet.",
            "kind": "Kind",
            "to": "To",
            "subject": "Subject",
            "document": "Document",
            "created": "Created",
            "next_try": "Next try",
            "attempts": "Attempts",
            "error": "Error",
            "at": "At",
            "status": "Status",
            "retry": "Retry",
            "st_failed": "refused by the relay",
            "st_bounced": "bounced",
            "done_retry": "The mail is queued again.",
        },
    }
)


# kinds of mail no document page names (MAIL_KINDS are those of a document's mail)
OTHER_KINDS = {
    "signin": ("Đường dẫn đăng nhập", "Sign-in link"),
    "alert": ("Cảnh báo cho quản trị viên", "Alert to the admins"),
}


def kind_text(lang: str, kind: str) -> str:
    names = MAIL_KINDS.get(kind) or OTHER_KINDS.get(kind)
    return (names[1] if lang == "en" else names[0]) if names else kind


@routes.get("/admin")
async def index(request: web.Request) -> web.Response:
    session = await require_admin(request)
    waiting, given_up = await outbox_admin.counts()
    return render(
        request,
        "admin_index.html",
        session,
        TEXT,
        waiting=waiting,
        given_up=given_up,
        quarantined=await count_entries(),
    )


@routes.get("/admin/workflows")
async def workflows_page(request: web.Request) -> web.Response:
    session = await require_admin(request)
    services = request.app[SERVICES]
    settings = services.settings
    _, problems = await asyncio.to_thread(
        check_workflows,
        settings.workflows_dir,
        settings.org.default_workflow,
        settings.registers.keys(),
    )
    return render(
        request,
        "admin_workflows.html",
        session,
        TEXT,
        catalog=services.workflows,
        directory=str(settings.workflows_dir),
        problems=[str(p) for p in problems],
        duration=format_duration,
    )


@routes.get("/admin/outbox")
async def outbox_page(request: web.Request) -> web.Response:
    session = await require_admin(request)
    return render(
        request,
        "admin_outbox.html",
        session,
        TEXT,
        queued=await outbox_admin.waiting(),
        failed=await outbox_admin.given_up(),
        failures=await outbox_admin.failures(),
        kind_text=kind_text,
        local=local_of(request.app[SERVICES]),
        done=done_of(request, TEXT),
    )


@routes.post("/admin/outbox/{id:[0-9]+}/retry")
async def retry(request: web.Request) -> web.StreamResponse:
    """A mail given up, queued again due now; the outbox is woken; audited."""
    session, _ = await admin_form(request)
    services = request.app[SERVICES]
    row_id = int(request.match_info["id"])
    row = await outbox_admin.retry(row_id, services.clock.now())
    services.outbox.poke()
    actor = Actor.of(request, session.principal.email, "web")
    await actor.audit("outbox_retry", f"outbox {row_id}", kind=row["kind"], to=row["to"])
    return see_other("/admin/outbox?done=done_retry")
