"""Errors as JSON for programs (a small page for browsers, never a traceback) and
bearer-token authentication for the API."""

from __future__ import annotations

import hmac
import html
import logging
import re

from aiohttp import web
from aiohttp.typedefs import Handler

from docflow.db.outage import unavailable
from docflow.errors import DocflowError, InvalidRequestError, NotFoundError
from docflow.users.accounts import Principal
from docflow.web.keys import PRINCIPAL, SERVICES

log = logging.getLogger("docflow.web")
PUBLIC_API = ("/api/v1/openapi.json",)


def error_response(status: int, message: str) -> web.Response:
    return web.json_response({"error": {"status": status, "message": message}}, status=status)


def errors_for(request: web.Request, status: int, message: str) -> web.Response:
    """JSON for programs; a small page for a person's browser (the pages under /status…)."""
    if request.path.startswith(("/api/", "/healthz", "/metrics")):
        return error_response(status, message)
    body = (
        '<!doctype html><html lang="vi"><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<title>{status}</title><body style="font-family:system-ui,sans-serif;'
        f'max-width:40rem;margin:2rem auto;padding:0 1rem"><h1>{status}</h1>'
        f"<p>{html.escape(message)}</p></body></html>"
    )
    return web.Response(status=status, text=body, content_type="text/html")


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException as e:
        if e.status < 400:
            raise
        message = e.text if e.text and e.content_type in ("application/json", "text/plain") else ""
        return errors_for(request, e.status, message or e.reason)
    except NotFoundError as e:
        return errors_for(request, 404, str(e))
    except InvalidRequestError as e:
        return errors_for(request, 400, str(e))
    except DocflowError as e:
        return errors_for(request, 422, str(e))
    except Exception as e:
        # a decision link's path is its token: never write it down
        path = request.path
        for secret in ("/t/", "/login/link/"):  # a path that is a token: never written down
            if path.startswith(secret):
                path = secret + "…"
        if unavailable(e):  # logged once per outage by the watch
            request.app[SERVICES].database.failed(e, f"http {request.method} {path}")
            return unavailable_response(request)
        log.exception("unhandled error", extra={"path": path})
        return errors_for(request, 500, "internal error")


RETRY_AFTER_SECONDS = 5
UNAVAILABLE_MESSAGE = (
    "Hệ thống tạm thời không truy cập được cơ sở dữ liệu; yêu cầu có thể chưa được "
    "thực hiện, xin thử lại sau ít phút. / docflow cannot reach its database for a "
    "moment; your request may not have been carried out, please try again in a minute."
)


def unavailable_response(request: web.Request) -> web.Response:
    """503 while the database is away: nothing was done, the same request may be sent again."""
    response = errors_for(request, 503, UNAVAILABLE_MESSAGE)
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


ADMIN = Principal("admin-token", "admin token", frozenset({"admin"}), "vi")
# what a token of an archivist (not an admin) may read
SEARCHER_PATHS = ("/api/v1/search", "/api/v1/archive/", "/api/v1/registers")
# what a token of a leader (lanh-dao, not an admin) may read: the reports
LEADER_PATHS = ("/api/v1/reports/",)
# what any user's token may do: decide their own tasks (web/task_api.py checks whose)
DECISION_PATH = re.compile(r"/api/v1/tasks/[0-9]+/decision")
# what any user's token may read: a document's diff (web/document_diff.py checks who may)
DIFF_PATH = re.compile(r"/api/v1/documents/[^/]+/diff")


@web.middleware
async def bearer_auth(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The API wants a bearer token: the admin token, or an API token (`docflow token
    add`) acting with its user's roles: admins everything, archivists read the archive,
    leaders the reports, anyone decides their own tasks and reads the diffs of documents
    they may read."""
    if request.path.startswith("/api/") and request.path not in PUBLIC_API:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        token = token.strip()
        principal = None
        if scheme.lower() == "bearer" and token:
            expected = request.app[SERVICES].settings.http.admin_token
            if expected and hmac.compare_digest(token.encode(), expected.encode()):
                principal = ADMIN
            else:
                principal = await request.app[SERVICES].accounts.token_principal(token)
        if principal is None:
            resp = error_response(401, "a valid bearer token is required")
            resp.headers["WWW-Authenticate"] = 'Bearer realm="docflow"'
            return resp
        reads_archive = (
            principal.may_search
            and request.method in ("GET", "HEAD")
            and request.path.startswith(SEARCHER_PATHS)
        )
        reads_reports = (
            principal.is_leader
            and request.method in ("GET", "HEAD")
            and request.path.startswith(LEADER_PATHS)
        )
        decides = request.method == "POST" and DECISION_PATH.fullmatch(request.path) is not None
        diffs = request.method == "GET" and DIFF_PATH.fullmatch(request.path) is not None
        if not (principal.is_admin or reads_archive or reads_reports or decides or diffs):
            return error_response(403, "this token may not do that")
        request[PRINCIPAL] = principal
    return await handler(request)
