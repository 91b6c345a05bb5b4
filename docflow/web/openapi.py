"""The OpenAPI document for /api/v1 (kept by hand, checked by a test against the routes)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from docflow.web.openapi_admin import ADMIN_PATHS
from docflow.web.openapi_archive import ARCHIVE_PATHS
from docflow.web.openapi_documents import DOCUMENT_PATHS
from docflow.web.openapi_parts import CODE, NUMBER, POSITION, errors, resp
from docflow.web.openapi_reports import REPORT_PATHS
from docflow.web.openapi_tasks import TASK_PATHS

routes = web.RouteTableDef()


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
                    "200": resp(
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
                    **errors(400, 401),
                },
            }
        },
        "/api/v1/documents/{code}": {
            "get": {
                "summary": "A document with its versions and files",
                "parameters": [CODE],
                "responses": {
                    "200": resp({"$ref": "#/components/schemas/Document"}),
                    **errors(401, 404),
                },
            }
        },
        "/api/v1/documents/{code}/versions/{number}": {
            "get": {
                "summary": "One version, with each file's extracted text",
                "parameters": [CODE, NUMBER],
                "responses": {
                    "200": resp({"$ref": "#/components/schemas/Version"}),
                    **errors(400, 401, 404),
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
                "responses": {"200": {"description": "The file's bytes"}, **errors(400, 401, 404)},
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
                    **errors(400, 401, 404),
                },
            }
        },
        "/api/v1/documents/{code}/audit": {
            "get": {
                "summary": "The audit trail: who did what, when, from where",
                "parameters": [CODE],
                "responses": {
                    "200": resp(
                        {
                            "type": "object",
                            "properties": {
                                "items": {"type": "array", "items": {"type": "object"}},
                                "next": {"type": ["string", "null"]},
                            },
                        }
                    ),
                    **errors(401, 404),
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
                    "200": resp(
                        {
                            "type": "object",
                            "properties": {
                                "items": {"type": "array", "items": {"type": "object"}},
                                "next": {"type": ["string", "null"]},
                            },
                        }
                    ),
                    **errors(400, 401),
                },
            }
        },
        **ARCHIVE_PATHS,
        **DOCUMENT_PATHS,
        **ADMIN_PATHS,
        **TASK_PATHS,
        **REPORT_PATHS,
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
                    "text_source": {
                        "description": "ocr: the text (or the part of it from pages without "
                        "a text layer) was read by OCR; file: extracted from the file",
                        "enum": ["file", "ocr"],
                    },
                    "extract_error": {"type": ["string", "null"]},
                    "legacy_encoding": {
                        "description": "the old Vietnamese font encoding the text was typed in "
                        "and converted from (TCVN3 `.VnTime`, VNI `VNI-Times`; both: "
                        "`tcvn3,vni`); null when the file has no text in such a font",
                        "type": ["string", "null"],
                        "examples": ["tcvn3", "vni", "tcvn3,vni"],
                    },
                    "ocr": {
                        "description": "the OCR of a PDF or an image; null for other types, and "
                        "until the OCR sweep has seen the file",
                        "type": ["object", "null"],
                        "properties": {
                            "status": {"enum": ["pending", "ok", "failed", "not_needed"]},
                            "pages": {"type": ["integer", "null"]},
                            "pages_read": {"type": "integer"},
                            "cut_at_page_limit": {"type": "boolean"},
                            "seconds": {"type": ["number", "null"]},
                            "error": {"type": ["string", "null"]},
                        },
                    },
                    "rendition": {
                        "description": "the PDF rendition made by LibreOffice (SPEC), or the "
                        "searchable PDF OCR makes of an image; null for a file that is already "
                        "a PDF or not a text document",
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
