"""The OpenAPI paths of decisions on tasks (`POST /api/v1/tasks/{id}/decision`)."""

from __future__ import annotations

from typing import Any

from docflow.web.openapi_parts import errors, resp

TASK = {"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}

TASK_PATHS: dict[str, Any] = {
    "/api/v1/tasks/{id}/decision": {
        "post": {
            "summary": "Decide an open task, by the rules of the decision links: a user's "
            "API token decides that user's own tasks (with the stage's one-time code when "
            "it asks for one); an admin's token may enter the decision of another assignee, "
            "recorded as theirs with who entered it (as `docflow task decide`). Audited with "
            "the source `api`.",
            "parameters": [TASK],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["action"],
                            "properties": {
                                "action": {"enum": ["approve", "changes", "reject"]},
                                "comment": {"type": "string"},
                                "code": {
                                    "type": "string",
                                    "description": "the six-digit code mailed separately, "
                                    "on stages that require one",
                                },
                            },
                        }
                    }
                },
            },
            "responses": {
                "200": resp(
                    {
                        "type": "object",
                        "properties": {
                            "task": {"type": "integer"},
                            "code": {"type": "string", "description": "the document's"},
                            "decision": {"enum": ["approved", "changes_requested", "rejected"]},
                            "document_status": {"type": "string"},
                        },
                    }
                ),
                **errors(400, 401),
                "403": resp(
                    {"$ref": "#/components/schemas/Error"},
                    "The task is not this token's user's (and the token is not an admin's)",
                ),
                "404": resp({"$ref": "#/components/schemas/Error"}, "No such task"),
                "409": resp(
                    {"$ref": "#/components/schemas/Error"},
                    "The task is no longer open: decided, or superseded by a new version",
                ),
                "422": resp(
                    {"$ref": "#/components/schemas/Error"},
                    "The stage's code is missing, wrong (each wrong one counts) or locked",
                ),
            },
        }
    },
}
