"""Serving stored files over HTTP."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from docflow.storage.filenames import content_disposition


def pdf_inline(path: Path, name: str) -> web.FileResponse:
    """A PDF the browser shows in place (a phone opens it without any office program)."""
    return web.FileResponse(
        path,
        headers={
            "Content-Type": "application/pdf",
            "Content-Disposition": content_disposition(name, "inline"),
            "X-Content-Type-Options": "nosniff",
        },
    )
