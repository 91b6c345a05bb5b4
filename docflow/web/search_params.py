"""One reading of search parameters, for the API, the archive pages and their exports."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from urllib.parse import urlencode

from docflow.archive.search import MAX_LIMIT, SearchQuery
from docflow.errors import InvalidRequestError

PARAMS = ("q", "number", "type", "register", "signer", "from", "until", "year")


def _date(params: Mapping[str, str], name: str) -> date | None:
    raw = (params.get(name) or "").strip()
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise InvalidRequestError(f"{name} must be a date such as 2026-11-25") from None


def _int(params: Mapping[str, str], name: str, default: int | None, lo: int, hi: int) -> int | None:
    raw = (params.get(name) or "").strip()
    if not raw:
        return default
    if not raw.isdigit() or not lo <= int(raw) <= hi:
        raise InvalidRequestError(f"{name} must be a whole number from {lo} to {hi}")
    return int(raw)


def search_query(params: Mapping[str, str], limit: int | None = None) -> SearchQuery:
    """`q` (words, "phrases", -excluded), number, type, register, signer, from, until
    (ISO dates, included), year, limit, cursor."""

    def text(name: str) -> str | None:
        return (params.get(name) or "").strip() or None

    return SearchQuery(
        text=params.get("q", "") or "",
        number=text("number"),
        type=text("type"),
        register=text("register"),
        signer=text("signer"),
        issued_from=_date(params, "from"),
        issued_until=_date(params, "until"),
        year=_int(params, "year", None, 1900, 9999),
        limit=limit or _int(params, "limit", 20, 1, MAX_LIMIT) or 20,
        cursor=text("cursor"),
    )


def query_string(params: Mapping[str, str], **extra: str) -> str:
    """The search's own parameters (no cursor), for links to the next page and exports."""
    kept = {k: params[k] for k in PARAMS if params.get(k)}
    kept.update(extra)
    return urlencode(kept)
