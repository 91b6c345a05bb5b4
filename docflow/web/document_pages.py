"""Authors' pages: `/documents` (my documents; admins may see everyone's with `?all=1`) and
`/documents/{code}` (status, who holds it, preview, versions, timeline, issued copy), with
its two forms: a new version by upload and withdrawal.

A document's page is for its author and admins; approvers who have a task on it may read
it too (and opening it is remembered: a decision link's page then shows what changed
since). The upload (web/document_upload.py) goes the mail's way (`intake.uploads`: type by content,
author only, the stage restarts, a receipt); withdrawal the mailed WITHDRAW's way
(`Stages.withdraw`), both audited with the source `web`.
"""

from __future__ import annotations

import math
import secrets
import unicodedata
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from docflow.documents.diffs import record_seen
from docflow.documents.models import Document
from docflow.errors import NotFoundError, Refused
from docflow.notify.labels import STATUS_NAMES, size_label
from docflow.users.models import User
from docflow.web.auth import check_csrf, see_other
from docflow.web.document_texts import TEXT, sentence
from docflow.web.keys import SERVICES
from docflow.web.pages import Session, render, require
from docflow.workflow.authored import PER_PAGE, Authored, Filters

routes = web.RouteTableDef()


def authored(request: web.Request) -> Authored:
    services = request.app[SERVICES]
    return Authored(services.stages, services.outbox)


def _lang(session: Session) -> str:
    return "en" if session.principal.language == "en" else "vi"


@routes.get("/documents")
async def documents(request: web.Request) -> web.Response:
    session = await require(request)
    services = request.app[SERVICES]
    lang, q = _lang(session), request.query
    everyone = session.principal.is_admin and q.get("all") == "1"
    status = q.get("status", "") if q.get("status", "") in STATUS_NAMES else ""
    workflow = q.get("workflow", "") if q.get("workflow", "") in services.workflows.by_key else ""
    words = unicodedata.normalize("NFC", q.get("q", ""))[:200]  # titles are NFC too
    try:
        page = min(max(1, int(q.get("page", "1"))), 10**5)
    except ValueError:
        page = 1
    filters = Filters(None if everyone else session.principal.email, status, workflow, words)
    rows, total = await authored(request).page(filters, lang, page)
    pages = max(1, math.ceil(total / PER_PAGE))
    keep = {
        k: v
        for k, v in (
            ("all", "1" if everyone else ""),
            ("status", status),
            ("workflow", workflow),
            ("q", words),
        )
        if v
    }
    local = services.mailer.local_time
    return render(
        request,
        "documents_list.html",
        session,
        TEXT,
        rows=[
            {
                "row": r,
                "status": STATUS_NAMES.get(r.status, (r.status, r.status))[lang == "en"],
                "due": local(r.due_at) if r.due_at else None,
                "updated": local(r.updated_at),
            }
            for r in rows
        ],
        total=total,
        page=page,
        pages=pages,
        prev_url=f"/documents?{urlencode({**keep, 'page': page - 1})}" if page > 1 else None,
        next_url=f"/documents?{urlencode({**keep, 'page': page + 1})}" if page < pages else None,
        everyone=everyone,
        chosen_status=status,
        chosen_workflow=workflow,
        words=words,
        statuses=[(k, v[lang == "en"]) for k, v in STATUS_NAMES.items()],
        workflows=[(w.key, w.name(lang)) for w in services.workflows],
        intake_address=services.settings.intake.address,
    )


async def readable(request: web.Request, session: Session) -> Document:
    """The document of the path, if this person may read it: 404 / 403 otherwise."""
    services = request.app[SERVICES]
    try:
        doc = await services.documents.by_code(request.match_info["code"])
    except NotFoundError:
        doc = None
    if doc is None:
        raise web.HTTPNotFound(text="Không tìm thấy văn bản / No such document")
    if not await authored(request).may_read(doc, session.principal):
        raise web.HTTPForbidden(text="Không có quyền xem văn bản này / Not allowed")
    return doc


@routes.get("/documents/{code}")
async def document(request: web.Request) -> web.Response:
    session = await require(request)
    doc = await readable(request, session)
    notice = None
    if request.query.get("uploaded", "").isdigit():
        notice = TEXT[_lang(session)]["uploaded"].format(n=request.query["uploaded"])
    elif request.query.get("withdrawn") == "1":
        notice = TEXT[_lang(session)]["withdrawn"]
    return await document_page(request, session, doc, notice=notice)


async def document_page(
    request: web.Request,
    session: Session,
    doc: Document,
    *,
    notice: str | None = None,
    error: str | None = None,
    status: int = 200,
) -> web.Response:
    services = request.app[SERVICES]
    lang = _lang(session)
    t = TEXT[lang]
    view = await services.documents.view(doc.code)
    versions = view["versions"]
    latest = versions[-1] if versions else None
    if latest is not None and status == 200:
        me = await User.get_or_none(email=session.principal.email)
        if me is not None:  # GET of a signed-in page: never a mail scanner's fetch
            await record_seen(me.id, doc.id, latest["number"], services.clock.now())
    local = services.mailer.local_time
    base = f"/documents/{doc.code}"
    for v in versions:
        v["when"] = services.mailer.local_time(_parse(v["created_at"]))
        for f in v["files"]:
            f["role_label"] = t[f["role"]]
            f["size_label"] = size_label(f["size"])
            f["url"] = f"{base}/versions/{v['number']}/files/{f['position']}"
            f["pdf"] = _pdf_url(f)
    preview = latest["files"][0] if latest and latest["files"] else None
    issue = await services.archive.issue_of(doc.id)
    issued_files: list[dict[str, Any]] = []
    if issue["record"] is not None:
        record = await services.archive.view(issue["record"])
        issued_files = [
            {**f, "url": f"{base}/issued/{f['position']}"}
            for f in record["files"]
            if f["role"] in ("issued", "annex-pdf")
        ]
        issue["when"] = local(_parse(issue["issued_at"]))
        for f in issued_files:
            if f["role"] == "issued" and f["mime"] == "application/pdf":
                preview = {**f, "pdf": f["url"], "size_label": size_label(f["size"])}
                break  # once issued, the page shows the issued copy
    events = await services.journal.events(doc.id)
    names = await _names(doc, events)
    workflow = services.stages.workflow_of(doc)
    stage_names = {s.key: s.name(lang) for s in workflow.stages}
    is_author = doc.author.email == session.principal.email
    is_open = doc.status in ("received", "in_review", "changes_requested")
    return render(
        request,
        "document.html",
        session,
        TEXT,
        status=status,
        doc=doc,
        status_name=STATUS_NAMES.get(doc.status, (doc.status, doc.status))[lang == "en"],
        workflow_name=workflow.name(lang),
        stage_name=services.stages.stage_name(doc, lang),
        holders=[
            {**h, "due": local(h["due_at"]) if h["due_at"] else None}
            for h in await authored(request).holders_of(doc.id)
        ],
        versions=versions,
        preview=preview,
        issue=issue,
        issued_files=issued_files,
        timeline=[
            {
                "when": local(_parse(str(e["at"]))),
                "text": sentence(
                    e, lang, lambda a: names.get(a, a), lambda k: stage_names.get(k or "", k or "—")
                ),
                "comment": _comment(e),
            }
            for e in reversed(events)
        ],
        may_upload=is_author and is_open,
        may_withdraw=(is_author or session.principal.is_admin) and is_open,
        key=secrets.token_hex(16),
        notice=notice,
        error=error,
        base=base,
        max_size=size_label(services.settings.smtp.max_message_size),
    )


def _comment(event: dict[str, object]) -> str | None:
    detail = event.get("detail")
    return str(detail.get("comment") or "") or None if isinstance(detail, dict) else None


def _pdf_url(f: dict[str, Any]) -> str | None:
    """Where the page shows a file as PDF: its rendition once made, a PDF as it is."""
    if f["mime"] == "application/pdf":
        return f"{f['url']}/pdf"
    r = f.get("rendition")
    if r and r.get("status") == "ok":  # a word-processing file's, a photo's (OCR)
        return f"{f['url']}/pdf"
    return None


def _parse(iso: str) -> datetime:
    return datetime.fromisoformat(iso)


async def _names(doc: Document, events: list[dict[str, object]]) -> dict[str, str]:
    """People's names for the addresses the events name (one query)."""
    emails: set[str] = {doc.author.email}
    for e in events:
        emails.update(str(x) for x in (e["actor"], e["on_behalf_of"]) if x)
        detail = e.get("detail") or {}
        assert isinstance(detail, dict)
        emails.update(str(a) for a in detail.get("assignees", []) + detail.get("added", []))
        if detail.get("assignee"):
            emails.add(str(detail["assignee"]))
    rows = await User.filter(email__in=sorted(emails)).values("email", "name")
    return {r["email"]: r["name"] or r["email"] for r in rows}


@routes.post("/documents/{code}/withdraw")
async def withdraw(request: web.Request) -> web.Response:
    session = await require(request)
    doc = await readable(request, session)
    form = await request.post()
    check_csrf(session.csrf, form.get("csrf"))
    t = TEXT[_lang(session)]
    if form.get("confirm") != "yes":
        return await document_page(request, session, doc, error=t["confirm_needed"], status=400)
    try:
        await authored(request).withdraw(doc, session.principal, "web")
    except Refused as r:
        if r.reason == "not_author":
            raise web.HTTPForbidden(text="Không có quyền / Not allowed") from None
        await doc.refresh_from_db()
        return await document_page(request, session, doc, error=t["not_open"], status=409)
    return see_other(f"/documents/{doc.code}?withdrawn=1")
