"""Errors as JSON (never an HTML traceback) and bearer-token authentication for the API."""

from __future__ import annotations

import hmac
import logging

from aiohttp import web
from aiohttp.typedefs import Handler

from docflow.errors import DocflowError, InvalidRequestError, NotFoundError
from docflow.web.keys import SERVICES

log = logging.getLogger("docflow.web")
PUBLIC_API = ("/api/v1/openapi.json",)


def error_response(status: int, message: str) -> web.Response:
    return web.json_response({"error": {"status": status, "message": message}}, status=status)


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException as e:
        if e.status < 400:
            raise
        return error_response(
            e.status, e.text if e.text and e.content_type == "application/json" else e.reason
        )
    except NotFoundError as e:
        return error_response(404, str(e))
    except InvalidRequestError as e:
        return error_response(400, str(e))
    except DocflowError as e:
        return error_response(422, str(e))
    except Exception:
        log.exception("unhandled error", extra={"path": request.path})
        return error_response(500, "internal error")


@web.middleware
async def bearer_auth(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path.startswith("/api/") and request.path not in PUBLIC_API:
        expected = request.app[SERVICES].settings.admin_token
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if (
            not expected
            or scheme.lower() != "bearer"
            or not hmac.compare_digest(token.strip().encode(), expected.encode())
        ):
            resp = error_response(401, "a valid bearer token is required")
            resp.headers["WWW-Authenticate"] = 'Bearer realm="docflow"'
            return resp
    return await handler(request)
