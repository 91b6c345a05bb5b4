"""The OpenAPI document for /api/v1 (kept by hand, checked by a test against the routes)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

routes = web.RouteTableDef()

_ERROR = {"$ref": "#/components/schemas/Error"}


def _resp(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict[str, Any]:
    return {str(c): _resp(_ERROR, "Error") for c in codes}


RECORD = {
    "name": "record",
    "in": "path",
    "required": True,
    "description": "The record's id, or the document's tracking code",
    "schema": {"type": "string"},
}
LIST = {
    "type": "object",
    "properties": {
        "items": {"type": "array", "items": {"type": "object"}},
        "next": {"type": ["string", "null"]},
    },
}
CODE = {
    "name": "code",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": "^DF-[0-9]{4}-[0-9]{6}$"},
}
NUMBER = {"name": "number", "in": "path", "required": True, "schema": {"type": "integer"}}
POSITION = {"name": "position", "in": "path", "required": True, "schema": {"type": "integer"}}

SPEC: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "docflow API", "version": "1"},
    "servers": [{"url": "/"}],
    "security": [{"bearer": []}],
    "paths": {
        "/api/v1/documents": {
            "get": {
                "summary": "Documents, newest first",
                "parameters": [
                    {"name": "cursor", "in": "query", "schema": {"type": "string"}},
                    {"name": "limit", "in": "query", "schema": {"type": "integer", "maximum": 500}},
                    {"name": "status", "in": "query", "schema": {"type": "string"}},
                ],
                "responses": {
                    "200": _resp(
                        {
                            "type": "object",
                            "properties": {
                                "items": {
                                    "type": "array",
                                    "items": {"$ref": "#/components/schemas/DocumentSummary"},
                                },
                                "next": {"type": ["string", "null"]},
                            },
                        }
                    ),
                    **_errors(400, 401),
                },
            }
        },
        "/api/v1/documents/{code}": {
            "get": {
                "summary": "A document with its versions and files",
                "parameters": [CODE],
                "responses": {
                    "200": _resp({"$ref": "#/components/schemas/Document"}),
                    **_errors(401, 404),
                },
            }
        },
        "/api/v1/documents/{code}/versions/{number}": {
            "get": {
                "summary": "One version, with each file's extracted text",
                "parameters": [CODE, NUMBER],
                "responses": {
                    "200": _resp({"$ref": "#/components/schemas/Version"}),
                    **_errors(400, 401, 404),
                },
            }
        },
        "/api/v1/documents/{code}/versions/{number}/files/{position}": {
            "get": {
                "summary": "Download a file (position 0 is the main draft)",
                "parameters": [
                    CODE,
                    NUMBER,
                    POSITION,
                ],
                "responses": {"200": {"description": "The file's bytes"}, **_errors(400, 401, 404)},
            }
        },
        "/api/v1/documents/{code}/versions/{number}/files/{position}/rendition": {
            "get": {
                "summary": "The file's PDF rendition, inline (404 until it is made)",
                "parameters": [
                    CODE,
                    NUMBER,
                    POSITION,
                ],
                "responses": {
                    "200": {
                        "description": "The PDF",
                        "content": {"application/pdf": {}},
                    },
                    **_errors(400, 401, 404),
                },
            }
        },
        "/api/v1/documents/{code}/audit": {
            "get": {
                "summary": "The audit trail: who did what, when, from where",
                "parameters": [CODE],
                "responses": {
                    "200": _resp(
                        {
                            "type": "object",
                            "properties": {
                                "items": {"type": "array", "items": {"type": "object"}},
                                "next": {"type": ["string", "null"]},
                            },
                        }
                    ),
                    **_errors(401, 404),
                },
            }
        },
        "/api/v1/tasks": {
            "get": {
                "summary": "Review and sign-off tasks, newest first",
                "parameters": [
                    {"name": "assignee", "in": "query", "schema": {"type": "string"}},
                    {"name": "state", "in": "query", "schema": {"type": "string"}},
                    {"name": "overdue", "in": "query", "schema": {"type": "boolean"}},
                    {"name": "limit", "in": "query", "schema": {"type": "integer", "maximum": 500}},
                ],
                "responses": {
                    "200": _resp(
                        {
                            "type": "object",
                            "properties": {
                                "items": {"type": "array", "items": {"type": "object"}},
                                "next": {"type": ["string", "null"]},
                            },
                        }
                    ),
                    **_errors(400, 401),
                },
            }
        },
        "/api/v1/archive/{record}": {
            "get": {
                "summary": "An issued document's archive record: number, date, signer, files "
                "with SHA-256, retention, legal hold, and its digital signatures validated now",
                "parameters": [RECORD],
                "responses": {
                    "200": _resp(
                        {
                            "type": "object",
                            "properties": {
                                "signatures": {
                                    "type": "object",
                                    "description": "ok (null: nothing signed), files_ok (every "
                                    "file's hash too), items: one per signature (file, field, "
                                    "signer, signing_time, ok, problems)",
                                }
                            },
                        }
                    ),
                    **_errors(401, 404),
                },
            }
        },
        "/api/v1/archive/{record}/copies": {
            "post": {
                "summary": "An electronic copy (SAO Y, SAO LỤC, TRÍCH SAO) of the issued PDF, "
                "signed by the organisation, kept with the record; audited",
                "parameters": [RECORD],
                "requestBody": {
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["form"],
                                "properties": {
                                    "form": {"enum": ["SAO Y", "SAO LỤC", "TRÍCH SAO"]},
                                    "by": {"type": "string"},
                                },
                            }
                        }
                    }
                },
                "responses": {
                    "201": _resp({"type": "object"}, "The copy: position, name, sha256"),
                    **_errors(400, 401, 404, 422),
                },
            }
        },
        "/api/v1/archive/{record}/files/{position}": {
            "get": {
                "summary": "Download an issued file (the stamped copy, or an original)",
                "parameters": [
                    RECORD,
                    POSITION,
                ],
                "responses": {
                    "200": {"description": "The file's bytes"},
                    **_errors(400, 401, 404),
                },
            }
        },
        "/api/v1/archive/{record}/legal-hold": {
            "put": {
                "summary": "Put a record on legal hold or lift it (admins), audited",
                "parameters": [RECORD],
                "requestBody": {
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["held"],
                                "properties": {
                                    "held": {"type": "boolean"},
                                    "reason": {"type": "string"},
                                    "by": {"type": "string"},
                                },
                            }
                        }
                    }
                },
                "responses": {"200": _resp({"type": "object"}), **_errors(400, 401, 404)},
            }
        },
        "/api/v1/search": {
            "get": {
                "summary": "Search issued documents: words (diacritics optional, exact ones "
                'first), "phrases", -excluded words, and filters; ranked, with snippets',
                "parameters": [
                    {"name": name, "in": "query", "schema": schema}
                    for name, schema in (
                        ("q", {"type": "string"}),
                        ("number", {"type": "string"}),
                        ("type", {"type": "string"}),
                        ("register", {"type": "string"}),
                        ("signer", {"type": "string"}),
                        ("from", {"type": "string", "format": "date"}),
                        ("until", {"type": "string", "format": "date"}),
                        ("year", {"type": "integer"}),
                        ("limit", {"type": "integer", "maximum": 100}),
                        ("cursor", {"type": "string"}),
                    )
                ],
                "responses": {"200": _resp(LIST), **_errors(400, 401, 403)},
            }
        },
        "/api/v1/registers": {
            "get": {
                "summary": "Numbering registers and the last number given per year",
                "responses": {"200": _resp(LIST), **_errors(401)},
            }
        },
        "/api/v1/registers/{register}": {
            "get": {
                "summary": "A register book: every number given, in order",
                "parameters": [
                    {
                        "name": "register",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string"},
                    },
                    {"name": "year", "in": "query", "schema": {"type": "integer"}},
                ],
                "responses": {"200": _resp(LIST), **_errors(400, 401, 404)},
            }
        },
        "/healthz": {
            "get": {
                "summary": "Liveness",
                "security": [],
                "responses": {"200": {"description": "OK"}},
            }
        },
        "/metrics": {
            "get": {
                "summary": "Prometheus metrics",
                "security": [],
                "responses": {"200": {"description": "text/plain metrics"}},
            }
        },
    },
    "components": {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        "schemas": {
            "Error": {
                "type": "object",
                "properties": {
                    "error": {
                        "type": "object",
                        "properties": {
                            "status": {"type": "integer"},
                            "message": {"type": "string"},
                        },
                    }
                },
            },
            "File": {
                "type": "object",
                "required": ["name", "role", "mime", "size", "sha256"],
                "properties": {
                    "position": {"type": "integer"},
                    "name": {"type": "string"},
                    "role": {"enum": ["main", "annex"]},
                    "mime": {"type": "string"},
                    "size": {"type": "integer"},
                    "sha256": {"type": "string"},
                    "text": {"type": ["string", "null"]},
                    "extract_error": {"type": ["string", "null"]},
                    "rendition": {
                        "description": "the PDF rendition made by LibreOffice (SPEC), or null "
                        "for a file that is already a PDF or not a text document",
                        "type": ["object", "null"],
                        "properties": {
                            "status": {"enum": ["ok", "failed", "pending"]},
                            "pages": {"type": ["integer", "null"]},
                            "url": {"type": ["string", "null"]},
                            "error": {"type": ["string", "null"]},
                        },
                    },
                },
            },
            "Version": {
                "type": "object",
                "required": ["number", "created_at", "message_id", "files"],
                "properties": {
                    "number": {"type": "integer"},
                    "created_at": {"type": "string", "format": "date-time"},
                    "message_id": {"type": "string"},
                    "files": {"type": "array", "items": {"$ref": "#/components/schemas/File"}},
                },
            },
            "DocumentSummary": {
                "type": "object",
                "required": ["code", "title", "status", "author", "workflow", "created_at"],
                "properties": {
                    "code": {"type": "string"},
                    "title": {"type": "string"},
                    "status": {"type": "string"},
                    "author": {"type": "string"},
                    "author_name": {"type": "string"},
                    "workflow": {"type": "string"},
                    "created_at": {"type": "string", "format": "date-time"},
                    "updated_at": {"type": "string", "format": "date-time"},
                    "version_count": {"type": "integer"},
                },
            },
            "DeliveryFailure": {
                "type": "object",
                "properties": {
                    "to": {"type": "string"},
                    "kind": {"type": "string", "description": "task, code, reminder, receipt…"},
                    "at": {"type": "string", "format": "date-time"},
                    "status": {"type": "string", "description": "enhanced status, e.g. 5.1.1"},
                    "diagnostic": {"type": "string"},
                    "source": {"type": "string", "enum": ["dsn", "relay"]},
                },
            },
            "Document": {
                "allOf": [
                    {"$ref": "#/components/schemas/DocumentSummary"},
                    {
                        "type": "object",
                        "required": ["versions"],
                        "properties": {
                            "versions": {
                                "type": "array",
                                "items": {"$ref": "#/components/schemas/Version"},
                            },
                            "number": {
                                "description": "the official number once issued",
                                "type": ["string", "null"],
                            },
                            "issued_at": {"type": ["string", "null"], "format": "date-time"},
                            "record": {
                                "description": "the archive record's id once issued",
                                "type": ["integer", "null"],
                            },
                            "deliveries_failed": {
                                "description": "docflow's mail about the document that "
                                "bounced or was refused, per recipient",
                                "type": "array",
                                "items": {"$ref": "#/components/schemas/DeliveryFailure"},
                            },
                        },
                    },
                ]
            },
        },
    },
}


@routes.get("/api/v1/openapi.json")
async def openapi(request: web.Request) -> web.Response:
    return web.json_response(SPEC)
