"""The home page: the sign-in forms when signed out; otherwise what this person's roles
give them to do, with the counts that matter (open documents, tasks, overdue)."""

from __future__ import annotations

from aiohttp import web

from docflow.web.auth import login_page
from docflow.web.keys import SERVICES
from docflow.web.pages import render, session_of

routes = web.RouteTableDef()

TEXT = {
    "vi": {
        "title": "docflow",
        "hello": "Xin chào",
        "documents": "Văn bản của tôi",
        "documents_open": "văn bản đang xử lý",
        "send": "Gửi dự thảo bằng thư tới",
        "tasks": "Việc cần duyệt",
        "tasks_open": "việc đang chờ anh/chị",
        "overdue": "quá hạn",
        "delegation": "Ủy quyền khi vắng mặt",
        "archive": "Tra cứu văn bản đã ban hành",
        "registers": "Sổ đăng ký văn bản đi",
        "paper": "Giấy đã tiết kiệm",
        "timeliness": "Tỷ lệ xử lý đúng hạn",
        "admin": "Quản trị: người dùng, thư bị giữ lại, quy trình, thư gửi đi, khóa API, nhật ký",
    },
    "en": {
        "title": "docflow",
        "hello": "Hello",
        "documents": "My documents",
        "documents_open": "documents under way",
        "send": "Send a draft by mail to",
        "tasks": "Tasks",
        "tasks_open": "tasks waiting for you",
        "overdue": "overdue",
        "delegation": "Delegation while away",
        "archive": "Search issued documents",
        "registers": "Outgoing register books",
        "paper": "Paper saved",
        "timeliness": "Decided on time",
        "admin": "Admin: users, quarantine, workflows, outgoing mail, API tokens, audit",
    },
}


@routes.get("/")
async def home(request: web.Request) -> web.Response:
    session = await session_of(request)
    if session is None:
        return login_page(request, next_path="/")
    services = request.app[SERVICES]
    counts = await services.views.home_counts(session.principal.email)
    return render(
        request,
        "home.html",
        session,
        TEXT,
        counts=counts,
        intake_address=services.settings.intake.address,
    )
