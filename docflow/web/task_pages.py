"""An approver's pages: `/tasks` (what waits for them, due first; what they decided lately)
and `/tasks/{id}`, the document with its files, earlier comments, what changed since the
version they last decided, and the decision form.

Signed-in approvers need no link: the form decides with the same engine and rules
(`Decisions.by_user`: open task, theirs, the stage's code when it asks for one), audited
with the source `web`. A task is its assignee's only: anyone else gets 403.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from docflow.documents.diffs import record_seen, version_diff
from docflow.documents.renditions import rendition_name
from docflow.notify.labels import DECISION_WORDS, size_label
from docflow.storage.filenames import content_disposition
from docflow.web.auth import check_csrf
from docflow.web.diff_view import diff_context
from docflow.web.files import pdf_inline
from docflow.web.keys import SERVICES
from docflow.web.pages import Session, render, require
from docflow.web.task_texts import PROBLEM_STATUS, TEXT
from docflow.workflow.authored import Authored
from docflow.workflow.decisions import TaskProblem
from docflow.workflow.inbox import PAGE
from docflow.workflow.models import Task, TaskState
from docflow.workflow.queries import decided_tasks

routes = web.RouteTableDef()
HISTORY = 30  # earlier decisions shown on a task's page


def _word(state: str, lang: str) -> str:
    return DECISION_WORDS.get(state, (state, state))[1 if lang == "en" else 0]


@routes.get("/tasks")
async def tasks(request: web.Request) -> web.Response:
    session = await require(request)
    services = request.app[SERVICES]
    lang = "en" if session.principal.language == "en" else "vi"
    try:
        offset = min(max(0, int(request.query.get("from", "0"))), 10**6)
    except ValueError:
        offset = 0
    rows, total = await services.inbox.open_tasks(session.principal.email, lang, offset)
    local = services.mailer.local_time
    return render(
        request,
        "tasks.html",
        session,
        TEXT,
        rows=[{"row": r, "due": local(r.due_at) if r.due_at else None} for r in rows],
        total=total,
        first=offset + 1,
        last=offset + len(rows),
        next_from=offset + PAGE if offset + PAGE < total else None,
        decided=[
            {
                "row": r,
                "when": local(r.decided_at) if r.decided_at else "",
                "word": _word(r.state, lang),
            }
            for r in await services.inbox.decided(session.principal.email, lang)
        ],
    )


async def _own_task(request: web.Request, session: Session) -> Task:
    """The task of the path, if it is the signed-in user's: 404 / 403 otherwise."""
    try:
        task_id = int(request.match_info["id"])
    except ValueError:
        raise web.HTTPNotFound() from None
    task = await request.app[SERVICES].inbox.task(task_id)
    if task is None:
        raise web.HTTPNotFound(text="Không có việc này / No such task")
    if task.assignee.email != session.principal.email:
        raise web.HTTPForbidden(text="Việc này không giao cho anh/chị / Not your task")
    return task


@routes.get("/tasks/{id:\\d+}")
async def task_page(request: web.Request) -> web.Response:
    session = await require(request)
    return await _task_page(request, session, await _own_task(request, session))


async def _task_page(
    request: web.Request,
    session: Session,
    task: Task,
    problem: str | None = None,
    status: int = 200,
    comment: str = "",
) -> web.Response:
    services = request.app[SERVICES]
    lang = "en" if session.principal.language == "en" else "vi"
    t = TEXT[lang]
    doc = task.document
    stage = services.inbox.stage_of(task)
    version_files = await services.documents.files_with_text(doc.id, task.version_number)
    files = [
        {**f, "role_label": t[f["role"]], "size_label": size_label(f["size"])}
        for f in version_files
    ]
    is_open = task.state == TaskState.OPEN
    overdue = is_open and task.due_at is not None and task.due_at < services.clock.now()
    # what changed since the version they last decided, or last opened signed in (as the
    # decision link's page shows it); opening this page is opening this version
    since = await Authored(services.stages, services.outbox).since(
        doc.id, task.assignee_id, task.version_number
    )
    await record_seen(task.assignee_id, doc.id, task.version_number, services.clock.now())
    return render(
        request,
        "task.html",
        session,
        TEXT,
        status=status,
        task=task,
        doc=doc,
        stage_name=stage.name(lang),
        author_name=doc.author.name,
        due=services.mailer.local_time(task.due_at) if task.due_at else None,
        overdue=overdue,
        for_name=task.on_behalf_of.name if task.on_behalf_of else None,
        files=files,
        main_text=files[0].get("text") if files else None,
        main_ocr=bool(files) and files[0].get("text_source") == "ocr",
        history=await _history(request, doc.id, lang),
        since=since,
        **(await _diff(doc.code, since, task.version_number, lang)),
        is_open=is_open,
        state_word=t[f"state_{task.state}"] if f"state_{task.state}" in t else task.state,
        needs_code=stage.require_code and task.code_hash is not None,
        signs=stage.sign,
        actions=("approve", "changes", "reject"),
        problem=t[f"problem_{problem}"] if problem else None,
        comment=comment,
        base=f"/tasks/{task.id}",
    )


async def _history(request: web.Request, document_id: int, lang: str) -> list[dict[str, Any]]:
    """The document's decisions so far, oldest first (the latest HISTORY of them)."""
    local = request.app[SERVICES].mailer.local_time
    rows = await decided_tasks(document_id, HISTORY)
    return [
        {
            "when": local(x["decided_at"]),
            "who": x["name"],
            "version": x["version_number"],
            "decision": _word(x["state"], lang),
            "comment": x["comment"],
        }
        for x in reversed(rows)
    ]


async def _diff(code: str, since: int | None, to: int, lang: str) -> dict[str, Any]:
    """What changed from version `since` to `to` (diff_body.html's context), when there is
    an earlier version to compare with."""
    if since is None:
        return {}
    return diff_context(await version_diff(code, since, to), lang)


@routes.post("/tasks/{id:\\d+}")
async def decide(request: web.Request) -> web.Response:
    session = await require(request)
    form = await request.post()
    check_csrf(session.csrf, form.get("csrf"))
    task = await _own_task(request, session)
    services = request.app[SERVICES]
    comment = str(form.get("comment", ""))
    try:
        result = await services.decisions.by_user(
            task.id,
            session.principal.email,
            str(form.get("action", "")),
            comment,
            code=str(form.get("code", "")),
            source="web",
        )
    except TaskProblem as problem:
        if problem.reason == "not_assignee":
            raise web.HTTPForbidden(
                text="Việc này không giao cho anh/chị / Not your task"
            ) from None
        fresh = await services.inbox.task(task.id)
        assert fresh is not None
        return await _task_page(
            request,
            session,
            fresh,
            problem.reason,
            PROBLEM_STATUS.get(problem.reason, 409),
            comment if fresh.state == TaskState.OPEN else "",
        )
    lang = "en" if session.principal.language == "en" else "vi"
    t = TEXT[lang]
    return render(
        request,
        "message.html",
        session,
        TEXT,
        heading=t["done"],
        message=t["done_msg"].format(decision=_word(result.decision, lang), code=result.code),
        action=("/tasks", t["back"]),
    )


@routes.post("/tasks/{id:\\d+}/renew")
async def renew(request: web.Request) -> web.Response:
    """A new code (and fresh links) by mail, for a stage whose code was locked or lost."""
    session = await require(request)
    form = await request.post()
    check_csrf(session.csrf, form.get("csrf"))
    task = await _own_task(request, session)
    services = request.app[SERVICES]
    try:
        await services.decisions.renew_for_user(task.id, session.principal.email)
    except TaskProblem as problem:
        fresh = await services.inbox.task(task.id)
        assert fresh is not None
        return await _task_page(request, session, fresh, problem.reason, 409)
    t = TEXT["en" if session.principal.language == "en" else "vi"]
    return render(
        request,
        "message.html",
        session,
        TEXT,
        heading=t["renewed"],
        message=t["renewed_msg"],
        action=(f"/tasks/{task.id}", t["back_task"]),
    )


def _position(request: web.Request) -> int:
    try:
        return int(request.match_info["position"])
    except ValueError:
        raise web.HTTPNotFound() from None


@routes.get("/tasks/{id:\\d+}/files/{position}/pdf")
async def read_pdf(request: web.Request) -> web.StreamResponse:
    """The file's PDF rendition, in the browser."""
    task = await _own_task(request, await require(request))
    services = request.app[SERVICES]
    f, pdf = await services.documents.rendition_of(
        task.document.code, task.version_number, _position(request)
    )
    return pdf_inline(services.blobs.path_of(pdf), rendition_name(f.name))


@routes.get("/tasks/{id:\\d+}/files/{position}")
async def download(request: web.Request) -> web.StreamResponse:
    task = await _own_task(request, await require(request))
    services = request.app[SERVICES]
    f = await services.documents.file_of(
        task.document.code, task.version_number, _position(request)
    )
    return web.FileResponse(
        services.blobs.path_of(f.sha256),
        headers={
            "Content-Type": f.mime,
            "Content-Disposition": content_disposition(f.name),
            "X-Content-Type-Options": "nosniff",
        },
    )
