"""The OpenAPI paths of the archive: records, their files and copies, search, registers."""

from __future__ import annotations

from typing import Any

from docflow.web.openapi_parts import LIST, POSITION, RECORD, errors, resp

ARCHIVE_PATHS: dict[str, Any] = {
    "/api/v1/archive/{record}": {
        "get": {
            "summary": "An issued document's archive record: number, date, signer, files "
            "with SHA-256, retention, legal hold, and its digital signatures validated now",
            "parameters": [RECORD],
            "responses": {
                "200": resp(
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
                **errors(401, 404),
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
                "201": resp({"type": "object"}, "The copy: position, name, sha256"),
                **errors(400, 401, 404, 422),
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
                **errors(400, 401, 404),
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
            "responses": {"200": resp({"type": "object"}), **errors(400, 401, 404)},
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
            "responses": {"200": resp(LIST), **errors(400, 401, 403)},
        }
    },
    "/api/v1/registers": {
        "get": {
            "summary": "Numbering registers and the last number given per year",
            "responses": {"200": resp(LIST), **errors(401)},
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
            "responses": {"200": resp(LIST), **errors(400, 401, 404)},
        }
    },
}
