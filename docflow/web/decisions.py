"""Decision pages: an approver's personal link shows the document; its form decides, once.

GET never changes anything (mail scanners fetch links); the POST carries a CSRF
value bound to the link. The token is in the path only: it is never logged
(the access log is off and errors redact `/t/` paths) and never shown back.
"""

from __future__ import annotations

from typing import Any

import aiohttp_jinja2
from aiohttp import web

from docflow.documents.diffs import version_diff
from docflow.documents.renditions import rendition_name
from docflow.notify.labels import DECISION_WORDS, size_label
from docflow.storage.filenames import content_disposition
from docflow.web.diff_view import diff_context
from docflow.web.files import pdf_inline
from docflow.web.keys import SERVICES
from docflow.workflow.authored import Authored
from docflow.workflow.links import LinkProblem
from docflow.workflow.models import LinkToken, TaskState
from docflow.workflow.queries import decided_tasks

routes = web.RouteTableDef()
HISTORY = 30  # decisions shown on a link's page, latest last

TEXT = {
    "vi": {
        "version": "Phiên bản",
        "author": "Người soạn",
        "due": "Hạn",
        "files": "Tệp",
        "read_pdf": "Đọc bản PDF",
        "page": "trang",
        "pages": "trang",
        "text": "Nội dung dự thảo chính",
        "text_ocr": "Văn bản nhận dạng tự động (OCR)",
        "history": "Ý kiến trước đây",
        "decide": "Quyết định",
        "comment": "Ý kiến (không bắt buộc khi đồng ý)",
        "approve": "Đồng ý",
        "changes": "Yêu cầu chỉnh sửa",
        "reject": "Từ chối",
        "once": "Mỗi đường dẫn chỉ dùng được một lần.",
        "main": "dự thảo chính",
        "annex": "phụ lục",
        "done": "Đã ghi nhận",
        "done_msg": "Quyết định của anh/chị ({decision}) đã được ghi nhận.",
        "renew": "Gửi cho tôi đường dẫn mới",
        "renewed": "Đã gửi đường dẫn mới",
        "renewed_msg": "Một thư với đường dẫn mới đã được gửi tới hộp thư của anh/chị.",
        "code": "Mã xác nhận (trong thư riêng gửi kèm thư giao việc)",
        "signs": "Đồng ý ở bước này là ký số: văn bản được ban hành dưới dạng PDF mang chữ ký số "
        "của anh/chị (bằng chứng thư số của anh/chị) và của cơ quan.",
        "back": "Quay lại trang quyết định",
    },
    "en": {
        "version": "Version",
        "author": "Author",
        "due": "Due",
        "files": "Files",
        "read_pdf": "Read as PDF",
        "page": "page",
        "pages": "pages",
        "text": "Text of the main draft",
        "text_ocr": "Text read by OCR",
        "history": "Earlier comments",
        "decide": "Decision",
        "comment": "Comment (optional when approving)",
        "approve": "Approve",
        "changes": "Request changes",
        "reject": "Reject",
        "once": "Each link works once.",
        "main": "main draft",
        "annex": "annex",
        "done": "Recorded",
        "done_msg": "Your decision ({decision}) has been recorded.",
        "renew": "Mail me a fresh link",
        "renewed": "A fresh link is on its way",
        "renewed_msg": "A message with a fresh link has been sent to your mailbox.",
        "code": "Confirmation code (in the separate mail that came with the task mail)",
        "signs": "Approving at this stage signs: the document is issued as a PDF carrying your "
        "digital signature (with your certificate) and the organisation's.",
        "back": "Back to the decision page",
    },
}
PROBLEMS = {  # reason -> (vi, en) heading and message
    "unknown": (
        ("Đường dẫn không hợp lệ", "Đường dẫn này không tồn tại hoặc đã bị sửa."),
        ("Invalid link", "This link does not exist or has been altered."),
    ),
    "used": (
        ("Đường dẫn đã được dùng", "Quyết định cho việc này đã được ghi nhận trước đó."),
        ("Link already used", "A decision on this task has already been recorded."),
    ),
    "superseded": (
        (
            "Đường dẫn không còn hiệu lực",
            "Văn bản đã có phiên bản mới hoặc đã kết thúc; hãy dùng thư mới nhất.",
        ),
        (
            "Link no longer valid",
            "The document has a newer version or has ended; use the latest mail.",
        ),
    ),
    "expired": (
        ("Đường dẫn đã hết hạn", "Đường dẫn này đã hết hạn."),
        ("Link expired", "This link has expired."),
    ),
    "wrong_action": (
        ("Không thể thực hiện", "Đường dẫn này không dùng cho quyết định đó."),
        ("Not possible", "This link is not for that decision."),
    ),
    "code_missing": (
        ("Cần mã xác nhận", "Bước này cần mã xác nhận được gửi trong một thư riêng."),
        ("Confirmation code needed", "This stage needs the code sent in a separate mail."),
    ),
    "bad_code": (
        ("Mã xác nhận không đúng", "Mã xác nhận không đúng; quyết định chưa được ghi nhận."),
        ("Wrong confirmation code", "The code is wrong; the decision has not been recorded."),
    ),
    "code_locked": (
        (
            "Mã xác nhận đã bị khóa",
            "Mã đã bị nhập sai quá nhiều lần. Hãy xin đường dẫn và mã mới.",
        ),
        ("Confirmation code locked", "Too many wrong codes. Ask for a fresh link and code."),
    ),
}
STAYS_OPEN = ("code_missing", "bad_code")  # the link still works: offer the way back
RENEWABLE = ("expired", "code_locked")


def _problem_page(request: web.Request, problem: LinkProblem, token: str) -> web.Response:
    services = request.app[SERVICES]
    lang = problem.link.recipient.language if problem.link else "vi"
    (head_vi, msg_vi), (head_en, msg_en) = PROBLEMS[problem.reason]
    heading, message = (head_en, msg_en) if lang == "en" else (head_vi, msg_vi)
    context: dict[str, Any] = {"lang": lang, "heading": heading, "message": message}
    if problem.link is None:  # nobody known: say it in both languages
        context["message_en"] = msg_en
    else:
        context["code"] = problem.link.task.document.code
        context["title"] = problem.link.task.document.title
    open_task = problem.link is not None and problem.link.task.state == TaskState.OPEN
    if problem.reason in RENEWABLE and open_task:
        context["renew"] = f"/t/{token}/renew"
        context["renew_label"] = TEXT[lang]["renew"]
        context["csrf"] = services.links.csrf(token)
    if problem.reason in STAYS_OPEN:
        context["back"] = f"/t/{token}"
        context["back_label"] = TEXT[lang]["back"]
    status = {"unknown": 404, "code_missing": 403, "bad_code": 403, "code_locked": 403}.get(
        problem.reason, 410
    )
    return aiohttp_jinja2.render_template("link_message.html", request, context, status=status)


@routes.get("/t/{token}")
async def show(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    token = request.match_info["token"]
    try:
        link = await services.links.find(token)
    except LinkProblem as problem:
        return _problem_page(request, problem, token)
    task, doc = link.task, link.task.document
    lang = link.recipient.language if link.recipient.language in TEXT else "vi"
    t = TEXT[lang]
    version_files = await services.documents.files_with_text(doc.id, task.version_number)
    workflow = services.stages.workflow_of(doc)
    stage = workflow.stages[task.stage_index]
    files = [
        {**f, "role_label": t[f["role"]], "size_label": size_label(f["size"])}
        for f in version_files
    ]
    # what changed since the version this approver last decided, or last opened signed in
    since = await Authored(services.stages, services.outbox).since(
        doc.id, task.assignee_id, task.version_number
    )
    changes: dict[str, Any] = {}
    if since is not None:
        changes = diff_context(await version_diff(doc.code, since, task.version_number), lang)
    return aiohttp_jinja2.render_template(
        "decision.html",
        request,
        {
            **changes,
            "lang": lang,
            "t": t,
            "doc": doc,
            "task": task,
            "stage_name": stage.name(lang),
            "author_name": doc.author.name,
            "due": services.mailer.local_time(task.due_at) if task.due_at else "—",
            "files": files,
            "main_text": files[0].get("text") if files else None,
            "main_ocr": bool(files) and files[0].get("text_source") == "ocr",
            "history": await _history(doc.id, lang, services.mailer.local_time),
            "actions": link.actions.split(","),
            "needs_code": stage.require_code and task.code_hash is not None,
            "signs": stage.sign and "approve" in link.actions.split(","),
            "csrf": services.links.csrf(token),
            "base": f"/t/{token}",
        },
    )


async def _history(document_id: int, lang: str, local_time: Any) -> list[dict[str, Any]]:
    # the latest 30: with quorum "all" over many people the list is long
    rows = await decided_tasks(document_id, HISTORY)
    rows.reverse()
    return [
        {
            "when": local_time(x["decided_at"]),
            "who": x["name"],
            "version": x["version_number"],
            "decision": DECISION_WORDS[x["state"]][1 if lang == "en" else 0],
            "comment": x["comment"],
        }
        for x in rows
    ]


@routes.post("/t/{token}")
async def decide(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    token = request.match_info["token"]
    form = await request.post()
    if not services.links.csrf_ok(token, str(form.get("csrf", ""))):
        raise web.HTTPForbidden(text="Yêu cầu không hợp lệ (CSRF) / Invalid request (CSRF)")
    action = str(form.get("action", ""))
    try:
        result = await services.decisions.by_link(
            token, action, str(form.get("comment", "")), code=str(form.get("code", ""))
        )
    except LinkProblem as problem:
        return _problem_page(request, problem, token)
    lang = result.language if result.language in TEXT else "vi"
    word = DECISION_WORDS[result.decision][1 if lang == "en" else 0]
    return aiohttp_jinja2.render_template(
        "link_message.html",
        request,
        {
            "lang": lang,
            "heading": TEXT[lang]["done"],
            "message": TEXT[lang]["done_msg"].format(decision=word),
            "code": result.code,
            "title": "",
        },
    )


@routes.post("/t/{token}/renew")
async def renew(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    token = request.match_info["token"]
    form = await request.post()
    if not services.links.csrf_ok(token, str(form.get("csrf", ""))):
        raise web.HTTPForbidden(text="Yêu cầu không hợp lệ (CSRF) / Invalid request (CSRF)")
    lang = await services.decisions.renew(token)
    if lang is None:
        return _problem_page(request, LinkProblem("unknown"), token)
    return aiohttp_jinja2.render_template(
        "link_message.html",
        request,
        {
            "lang": lang,
            "heading": TEXT[lang]["renewed"],
            "message": TEXT[lang]["renewed_msg"],
        },
    )


async def _readable_link(request: web.Request) -> LinkToken | web.Response:
    """The link a file is read through; after deciding, the files may still be read."""
    token = request.match_info["token"]
    try:
        return await request.app[SERVICES].links.find(token)
    except LinkProblem as problem:
        if problem.reason != "used" or problem.link is None:
            return _problem_page(request, problem, token)
        return problem.link


def _position(request: web.Request) -> int:
    try:
        return int(request.match_info["position"])
    except ValueError:
        raise web.HTTPNotFound() from None


@routes.get("/t/{token}/files/{position}/pdf")
async def read_pdf(request: web.Request) -> web.StreamResponse:
    """The file's PDF rendition, shown in the browser (a phone needs no office program)."""
    link = await _readable_link(request)
    if isinstance(link, web.Response):
        return link
    services = request.app[SERVICES]
    f, pdf = await services.documents.rendition_of(
        link.task.document.code, link.task.version_number, _position(request)
    )
    return pdf_inline(services.blobs.path_of(pdf), rendition_name(f.name))


@routes.get("/t/{token}/files/{position}")
async def download(request: web.Request) -> web.StreamResponse:
    link = await _readable_link(request)
    if isinstance(link, web.Response):
        return link
    services = request.app[SERVICES]
    f = await services.documents.file_of(
        link.task.document.code, link.task.version_number, _position(request)
    )
    return web.FileResponse(
        services.blobs.path_of(f.sha256),
        headers={
            "Content-Type": f.mime,
            "Content-Disposition": content_disposition(f.name),
        },
    )
