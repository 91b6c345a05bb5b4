"""CSV downloads that spreadsheet programs open safely: UTF-8 with a BOM (so Excel reads
Vietnamese), and text that would start a formula (`=`, `+`, `-`, `@`, a tab or a carriage
return: a mail subject such as `=HYPERLINK(…)`) written with a leading apostrophe, as
OWASP advises against CSV injection. Numbers stay numbers."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

from aiohttp import web

from docflow.storage.filenames import content_disposition

BOM = "\ufeff"
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def cell(value: object) -> object:
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def csv_response(rows: Iterable[Sequence[object]], name: str) -> web.Response:
    out = io.StringIO()
    csv.writer(out).writerows([cell(v) for v in row] for row in rows)
    return web.Response(
        body=(BOM + out.getvalue()).encode("utf-8"),
        headers={
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": content_disposition(name),
        },
    )
