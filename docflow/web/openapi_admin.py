"""The OpenAPI paths of the admin's work: users and the quarantine (admins' tokens only)."""

from __future__ import annotations

from typing import Any

from docflow.web.openapi_parts import errors, resp

ADMIN_ONLY = "Admins' tokens only; audited (source api)."
USER = {
    "type": "object",
    "required": ["email", "name", "roles", "language", "active"],
    "properties": {
        "email": {"type": "string"},
        "name": {"type": "string"},
        "roles": {"type": "array", "items": {"type": "string"}},
        "language": {"enum": ["vi", "en"]},
        "active": {"type": "boolean"},
    },
}
EMAIL = {
    "name": "email",
    "in": "path",
    "required": True,
    "description": "The user's e-mail address",
    "schema": {"type": "string"},
}
ENTRY = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "state": {
            "enum": [
                "quarantined",
                "discarded",
                "pending",
                "accepted",
                "duplicate",
                "bounce",
                "reply",  # a reply to a task mail (decisions by reply): `reason` says what came
            ]
        },
        "received_at": {"type": "string", "format": "date-time"},
        "from": {"type": "string"},
        "subject": {"type": "string"},
        "message_id": {"type": "string"},
        "reason": {"type": ["string", "null"], "description": "unknown_sender, no_attachment…"},
        "detail": {"type": ["string", "null"]},
        "attempts": {"type": "integer"},
        "size": {"type": "integer"},
        "document_code": {"type": ["string", "null"], "description": "once released"},
        "version": {"type": ["integer", "null"]},
    },
}
ID = {
    "name": "id",
    "in": "path",
    "required": True,
    "description": "The entry's number, as `12` or `Q-12`",
    "schema": {"type": "string"},
}
ENTRIES = {
    "type": "object",
    "properties": {
        "items": {"type": "array", "items": ENTRY},
        "next": {"type": "null"},
    },
}


def _json_body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


ADMIN_PATHS: dict[str, Any] = {
    "/api/v1/users": {
        "get": {
            "summary": "Users, by e-mail address",
            "description": ADMIN_ONLY,
            "responses": {
                "200": resp(
                    {
                        "type": "object",
                        "properties": {
                            "items": {"type": "array", "items": USER},
                            "next": {"type": "null"},
                        },
                    }
                ),
                **errors(401, 403),
            },
        },
        "post": {
            "summary": "Add a user, as `docflow user add` (roles default to staff, language "
            "to org.default_language)",
            "description": ADMIN_ONLY,
            "requestBody": _json_body(
                {
                    "type": "object",
                    "required": ["email", "name"],
                    "properties": {
                        "email": {"type": "string"},
                        "name": {"type": "string"},
                        "roles": {"type": "array", "items": {"type": "string"}},
                        "language": {"enum": ["vi", "en"]},
                    },
                }
            ),
            "responses": {"201": resp(USER, "Added"), **errors(400, 401, 403, 422)},
        },
    },
    "/api/v1/users/{email}": {
        "get": {
            "summary": "One user",
            "description": ADMIN_ONLY,
            "parameters": [EMAIL],
            "responses": {"200": resp(USER), **errors(401, 403, 404)},
        },
        "patch": {
            "summary": "Change a user: name, roles (the whole set), language, active "
            "(false deactivates: no sign-in, no drafts, their tokens stop working). The last "
            "active admin cannot lose the role or be deactivated (422).",
            "description": ADMIN_ONLY,
            "parameters": [EMAIL],
            "requestBody": _json_body(
                {
                    "type": "object",
                    "properties": {
                        "name": {"type": "string"},
                        "roles": {"type": "array", "items": {"type": "string"}},
                        "language": {"enum": ["vi", "en"]},
                        "active": {"type": "boolean"},
                    },
                }
            ),
            "responses": {"200": resp(USER), **errors(400, 401, 403, 404, 422)},
        },
    },
    "/api/v1/users/{email}/signin-link": {
        "post": {
            "summary": "Mail the user a one-time sign-in link (15 minutes)",
            "description": ADMIN_ONLY,
            "parameters": [EMAIL],
            "responses": {
                "202": resp(
                    {
                        "type": "object",
                        "properties": {"email": {"type": "string"}, "sent": {"type": "boolean"}},
                    },
                    "Queued for sending",
                ),
                **errors(401, 403, 404, 422),
            },
        }
    },
    "/api/v1/quarantine": {
        "get": {
            "summary": "Refused mail, newest first",
            "description": ADMIN_ONLY,
            "parameters": [
                {"name": "limit", "in": "query", "schema": {"type": "integer", "maximum": 1000}},
                {
                    "name": "discarded",
                    "in": "query",
                    "description": "1: the discarded entries too",
                    "schema": {"type": "string", "enum": ["1", "0"]},
                },
            ],
            "responses": {"200": resp(ENTRIES), **errors(400, 401, 403)},
        }
    },
    "/api/v1/quarantine/{id}": {
        "get": {
            "summary": "One entry with its header fields (decoded), whatever became of it",
            "description": ADMIN_ONLY,
            "parameters": [ID],
            "responses": {
                "200": resp(
                    {
                        "allOf": [
                            ENTRY,
                            {
                                "type": "object",
                                "properties": {
                                    "headers": {
                                        "type": "array",
                                        "items": {
                                            "type": "object",
                                            "properties": {
                                                "name": {"type": "string"},
                                                "value": {"type": "string"},
                                            },
                                        },
                                    }
                                },
                            },
                        ]
                    }
                ),
                **errors(400, 401, 403, 404),
            },
        }
    },
    "/api/v1/quarantine/{id}/raw": {
        "get": {
            "summary": "The message as received (message/rfc822)",
            "description": ADMIN_ONLY,
            "parameters": [ID],
            "responses": {
                "200": {
                    "description": "The raw message",
                    "content": {"message/rfc822": {"schema": {"type": "string"}}},
                },
                **errors(401, 403, 404),
            },
        }
    },
    "/api/v1/quarantine/{id}/release": {
        "post": {
            "summary": "Run the message through intake again, as `docflow quarantine release`",
            "description": ADMIN_ONLY,
            "parameters": [ID],
            "responses": {
                "200": resp(
                    {
                        "type": "object",
                        "properties": {
                            "id": {"type": "integer"},
                            "state": {"type": "string", "description": "accepted, quarantined…"},
                            "code": {"type": ["string", "null"]},
                            "version": {"type": ["integer", "null"]},
                            "reason": {"type": ["string", "null"]},
                        },
                    }
                ),
                **errors(400, 401, 403, 404),
            },
        }
    },
    "/api/v1/quarantine/{id}/discard": {
        "post": {
            "summary": "Discard a quarantined message: out of the list, never processed; the "
            "raw message is kept",
            "description": ADMIN_ONLY,
            "parameters": [ID],
            "responses": {"200": resp(ENTRY), **errors(400, 401, 403, 404)},
        }
    },
}
