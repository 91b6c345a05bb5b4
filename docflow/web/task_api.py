"""`POST /api/v1/tasks/{id}/decision`: a decision from an integration, by the rules of the
links (`Decisions.by_user`, audited with the source `api`).

A user's API token decides that user's own tasks (with the stage's code when it asks for
one). An admin's token (or the admin token) may also enter a decision on another
assignee's task, as `docflow task decide` does: recorded as the assignee's, naming who
entered it. The bearer middleware lets any user's token reach this path only.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from docflow.errors import InvalidRequestError
from docflow.web.keys import PRINCIPAL, SERVICES
from docflow.web.middleware import error_response
from docflow.workflow.decisions import DECISION_STATE, DecisionResult, TaskProblem

routes = web.RouteTableDef()
STATUS = {  # TaskProblem.reason → HTTP status
    "unknown": 404,
    "not_assignee": 403,
    "personal": 403,
    "superseded": 409,
    "used": 409,
    "wrong_action": 400,
    "code_missing": 422,
    "bad_code": 422,
    "code_locked": 422,
}


def _field(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidRequestError(f"{name} must be a string")
    return value


@routes.post("/api/v1/tasks/{id:\\d+}/decision")
async def decide(request: web.Request) -> web.Response:
    task_id = int(request.match_info["id"])
    try:
        body = await request.json()
    except ValueError:
        raise InvalidRequestError("the body must be JSON: {action, comment, code}") from None
    if not isinstance(body, dict):
        raise InvalidRequestError("the body must be a JSON object: {action, comment, code}")
    action, comment = _field(body, "action"), _field(body, "comment")
    if action not in DECISION_STATE:
        raise InvalidRequestError(f"action must be one of {', '.join(DECISION_STATE)}")
    try:
        result = await _decide(request, task_id, action, comment, _field(body, "code"))
    except TaskProblem as problem:
        return error_response(STATUS.get(problem.reason, 409), str(problem))
    return web.json_response(
        {
            "task": task_id,
            "code": result.code,
            "decision": result.decision,
            "document_status": result.status,
        }
    )


async def _decide(
    request: web.Request, task_id: int, action: str, comment: str, code: str
) -> DecisionResult:
    """As the assignee; an admin's token on someone else's task enters it for them."""
    services = request.app[SERVICES]
    principal = request[PRINCIPAL]
    try:
        return await services.decisions.by_user(
            task_id, principal.email, action, comment, code or None, source="api"
        )
    except TaskProblem as problem:
        if problem.reason != "not_assignee" or not principal.is_admin:
            raise
    return await services.decisions.by_admin(
        task_id, action, comment, principal.email, "api", personal_stages=False
    )
