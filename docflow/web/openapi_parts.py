"""Pieces the OpenAPI document is built of: responses, errors, path parameters."""

from __future__ import annotations

from typing import Any

ERROR = {"$ref": "#/components/schemas/Error"}


def resp(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def errors(*codes: int) -> dict[str, Any]:
    return {str(c): resp(ERROR, "Error") for c in codes}


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
