"""`docflow search QUERY` and `docflow reindex`."""

from __future__ import annotations

import html
import re
import sys
from datetime import date, datetime
from typing import Any

import click

from docflow.archive.search import MAX_LIMIT, SearchPage, SearchQuery
from docflow.cli.common import echo_json, run_with_services, settings_or_exit
from docflow.services import Services

_MARK = re.compile(r"<mark>(.*?)</mark>")


def _day(value: datetime | None) -> date | None:
    return value.date() if value else None


def _plain(fragment: str) -> str:
    """A highlighted HTML fragment for the terminal: matches in bold, entities decoded."""
    parts = _MARK.split(fragment)
    return "".join(
        click.style(html.unescape(p), bold=True) if i % 2 else html.unescape(p)
        for i, p in enumerate(parts)
    )


@click.command()
@click.argument("query", required=False, default="")
@click.option("--number", help="Exact number, e.g. 47/KH-BDT.")
@click.option("--type", "type_", help="Document type code, e.g. KH.")
@click.option("--register", help="Numbering register, e.g. KH.")
@click.option("--signer", help="Signer's name (diacritics and case do not matter).")
@click.option(
    "--from", "issued_from", type=click.DateTime(["%Y-%m-%d"]), help="Issued on or after."
)
@click.option(
    "--until", "issued_until", type=click.DateTime(["%Y-%m-%d"]), help="Issued on or before."
)
@click.option("--year", type=int, help="Issued in this year.")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, MAX_LIMIT))
@click.option("--cursor", help="`next` of a previous --json page.")
@click.option("--json", "as_json", is_flag=True, help="Output JSON: {items, next}.")
def search(
    query: str,
    number: str | None,
    type_: str | None,
    register: str | None,
    signer: str | None,
    issued_from: datetime | None,
    issued_until: datetime | None,
    year: int | None,
    limit: int,
    cursor: str | None,
    as_json: bool,
) -> None:
    """Search issued documents: words (diacritics optional), "phrases", -excluded words.

    Without words, lists what the filters select, newest first.
    """
    q = SearchQuery(
        text=query,
        number=number,
        type=type_,
        register=register,
        signer=signer,
        issued_from=_day(issued_from),
        issued_until=_day(issued_until),
        year=year,
        limit=limit,
        cursor=cursor,
    )

    async def go(s: Services) -> SearchPage:
        return await s.search.search(q)

    page = run_with_services(settings_or_exit(), go)
    if as_json:
        echo_json(page.to_json())
        return
    if not page.items:
        click.echo("no document found")
    for hit in page.items:
        click.echo(f"{hit.number:16} {hit.issued_on}  {hit.signer}")
        click.echo(f"  {_plain(hit.title_html)}")
        if hit.snippet_html:
            click.echo(f"  {_plain(hit.snippet_html)}")
    if page.next:
        click.echo(f"(more: --cursor {page.next})")


@click.command()
def reindex() -> None:
    """Rebuild the search index from the archive records (confidential ones stay out).

    Run it after an upgrade that changes how text is tokenised or ranked, or to make
    sure the index holds exactly what the archive does.
    """

    async def go(s: Services) -> int:
        total = await s.archive.indexable_count()
        # Any: click 8.4's stubs confuse mypy about progressbar's context-manager type
        bar_cm: Any = click.progressbar(length=total, label="reindexing", file=sys.stderr)
        with bar_cm as bar:
            return await s.search.reindex(s.archive.index_entries, bar.update)

    done = run_with_services(settings_or_exit(), go)
    click.echo(f"reindexed {done} document(s)")
