"""`docflow quarantine …` and `docflow ingest PATH…`."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path
from typing import Any

import click

from docflow.cli.common import echo_json, run_with_services, settings_or_exit
from docflow.errors import NotFoundError
from docflow.intake import quarantine as q
from docflow.intake.sources import count_messages, iter_messages
from docflow.services import Services


@click.group()
def quarantine() -> None:
    """Refused mail, kept with its reason: list, show, release."""


@quarantine.command("list")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 1000))
@click.option("--json", "as_json", is_flag=True, help="Output JSON.")
def quarantine_list(limit: int, as_json: bool) -> None:
    """List quarantined messages, newest first."""
    entries = run_with_services(settings_or_exit(), lambda s: q.list_entries(limit))
    if as_json:
        echo_json(entries)
        return
    if not entries:
        click.echo("the quarantine is empty")
    for e in entries:
        click.echo(
            f"Q-{e['id']:<6} {e['received_at'][:19]}  {e['reason']:18} {e['from']:32} "
            f"{e['subject']}"
        )


@quarantine.command("show")
@click.argument("entry_id", type=int)
@click.option("--raw", is_flag=True, help="Print the raw message as received.")
@click.option("--json", "as_json", is_flag=True, help="Output JSON.")
def quarantine_show(entry_id: int, raw: bool, as_json: bool) -> None:
    """Show one entry (its id as in `quarantine list`, without the Q-)."""

    async def show(s: Services) -> tuple[dict[str, object], bytes]:
        row = await q.get_entry(entry_id)
        return q.entry_view(row), await s.spool.read(row.spool_name)

    entry, data = run_with_services(settings_or_exit(), show)
    if raw:
        click.echo(data.decode("utf-8", "replace"), nl=False)
    elif as_json:
        echo_json(entry)
    else:
        for k, v in entry.items():
            click.echo(f"{k:12} {v}")


@quarantine.command("release")
@click.argument("entry_id", type=int)
def quarantine_release(entry_id: int) -> None:
    """Run a quarantined message through intake again (e.g. after adding its sender)."""

    async def release(s: Services) -> str:
        await q.get_entry(entry_id)
        outcome = await s.intake.release(entry_id)
        if outcome is None:
            raise NotFoundError(f"no quarantine entry {entry_id}")
        await s.outbox.send_due()
        if outcome.code:
            return f"{outcome.state}: {outcome.code} version {outcome.version}"
        return f"{outcome.state}: {outcome.reason}"

    click.echo(run_with_services(settings_or_exit(), release))


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
def ingest(paths: tuple[Path, ...]) -> None:
    """Feed .eml files, mbox files or Maildir folders through intake."""
    total = count_messages(list(paths))

    async def run(s: Services) -> Counter[str]:
        results: Counter[str] = Counter()
        # Any: click 8.4's stubs confuse mypy about progressbar's context-manager type
        bar_cm: Any = click.progressbar(length=total, label="ingesting", file=sys.stderr)
        with bar_cm as bar:
            for _label, raw in iter_messages(list(paths)):
                inbound_id = await s.intake.receive(raw, "", [], "ingest", queue=False)
                outcome = await s.intake.process(inbound_id)
                key = outcome.state if outcome else "pending"
                if outcome and outcome.reason:
                    key += f" ({outcome.reason})"
                results[key] += 1
                bar.update(1)
        await s.outbox.send_due()
        return results

    results = run_with_services(settings_or_exit(), run)
    click.echo(f"{total} message(s): " + ", ".join(f"{n} {k}" for k, n in sorted(results.items())))
