"""The OpenAPI paths of the reports: paper saved, and tasks decided on time."""

from __future__ import annotations

from typing import Any

from docflow.web.openapi_parts import errors, resp

YEAR = {
    "name": "year",
    "in": "query",
    "description": "The calendar year in the office's time zone; this year by default",
    "schema": {"type": "integer", "minimum": 1900, "maximum": 9999},
}
COUNT = {"type": "integer"}
PAPER_LINE = {
    "type": "object",
    "properties": {
        "month": {"type": ["integer", "null"], "description": "1-12; null: the whole year"},
        "workflow": {"type": ["string", "null"], "description": "null: every workflow"},
        **{
            k: COUNT
            for k in (
                "versions",
                "version_pages",
                "version_sheets",
                "issued",
                "issued_pages",
                "issued_sheets",
                "pages",
                "sheets",
            )
        },
    },
}
HOURS = {"type": ["number", "null"]}
TIMELINESS_LINE = {
    "type": "object",
    "properties": {
        "month": {"type": ["integer", "null"]},
        "workflow": {"type": ["string", "null"]},
        "stage": {"type": ["string", "null"]},
        "decided": COUNT,
        "with_due": COUNT,
        "on_time": COUNT,
        "on_time_share": {"type": ["number", "null"], "description": "0-1; null: no due"},
        "median_hours": HOURS,
        "p90_hours": HOURS,
        "escalations": COUNT,
    },
}

REPORT_PATHS: dict[str, Any] = {
    "/api/v1/reports/paper": {
        "get": {
            "summary": "Paper saved (SPEC, 'Paper saved'): every version's pages x (its "
            "approvers + 1 author's copy), every issued document's pages x (its recipients "
            "+ 1 file copy); sheets = ceil(pages / 2) per copy; per month and workflow. "
            "Leaders and admins.",
            "parameters": [YEAR],
            "responses": {
                "200": resp(
                    {
                        "type": "object",
                        "properties": {
                            "year": COUNT,
                            "formula": {"type": "string"},
                            "total": PAPER_LINE,
                            "months": {"type": "array", "items": PAPER_LINE},
                            "workflows": {"type": "array", "items": PAPER_LINE},
                            "items": {
                                "type": "array",
                                "items": PAPER_LINE,
                                "description": "one per month and workflow with data",
                            },
                            "counted": {
                                "type": "object",
                                "description": "files whose pages came from: rendition, "
                                "pdf (the file), docx or odt (saved page count); none: "
                                "not counted, missing from the totals",
                                "properties": {
                                    k: COUNT for k in ("rendition", "pdf", "docx", "odt", "none")
                                },
                            },
                            "uncounted": {"type": "array", "items": {"type": "string"}},
                        },
                    }
                ),
                **errors(400, 401, 403),
            },
        }
    },
    "/api/v1/reports/timeliness": {
        "get": {
            "summary": "Tasks decided on time per month, workflow and stage: decided, share "
            "by the due time, median and 90th-percentile hours to decide, escalations; and "
            "the documents waiting past due now. Leaders and admins.",
            "parameters": [YEAR],
            "responses": {
                "200": resp(
                    {
                        "type": "object",
                        "properties": {
                            "year": COUNT,
                            "now": {"type": "string", "format": "date-time"},
                            "total": TIMELINESS_LINE,
                            "months": {"type": "array", "items": TIMELINESS_LINE},
                            "items": {"type": "array", "items": TIMELINESS_LINE},
                            "open_past_due": {
                                "type": "object",
                                "properties": {
                                    "documents": COUNT,
                                    "items": {"type": "array", "items": {"type": "object"}},
                                },
                            },
                        },
                    }
                ),
                **errors(400, 401, 403),
            },
        }
    },
}
