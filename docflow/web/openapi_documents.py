"""The OpenAPI paths of the authors' part: the differences between two versions."""

from __future__ import annotations

from typing import Any

from docflow.web.openapi_parts import CODE, errors, resp


def _version(name: str, default: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": default,
        "schema": {"type": "integer", "minimum": 1},
    }


PIECE = {
    "type": "object",
    "properties": {
        "op": {"enum": ["same", "added", "removed"]},
        "text": {"type": "string", "description": "with the spacing before it, as sent"},
    },
}
PARAGRAPH = {
    "type": "object",
    "properties": {
        "op": {"enum": ["same", "changed", "added", "removed"]},
        "pieces": {"type": "array", "items": PIECE},
    },
}
DIFF = {
    "type": "object",
    "properties": {
        "code": {"type": "string"},
        "from": {"type": "integer"},
        "to": {"type": "integer"},
        "latest": {"type": "integer"},
        "from_file": {"type": ["string", "null"], "description": "the main file compared"},
        "to_file": {"type": ["string", "null"]},
        "text_missing": {
            "type": "array",
            "items": {"type": "integer"},
            "description": "versions whose main file has no text (a scan): compared as empty",
        },
        "words_added": {"type": "integer"},
        "words_removed": {"type": "integer"},
        "paragraphs_changed": {"type": "integer"},
        "paragraphs_added": {"type": "integer"},
        "paragraphs_removed": {"type": "integer"},
        "paragraphs": {"type": "array", "items": PARAGRAPH},
    },
}

DOCUMENT_PATHS: dict[str, Any] = {
    "/api/v1/documents/{code}/diff": {
        "get": {
            "summary": "What changed between two versions: a word-level comparison of their "
            "main files' text, paragraph by paragraph (NFC; Vietnamese words whole), with "
            "counts. For admins, the document's author and the approvers who have a task on it",
            "parameters": [
                CODE,
                _version("from", "The older version (default: the one before `to`)"),
                _version("to", "The newer version (default: the latest)"),
            ],
            "responses": {"200": resp(DIFF), **errors(400, 401, 403, 404)},
        }
    },
}
