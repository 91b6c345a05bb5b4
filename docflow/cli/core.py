"""`docflow serve`, `migrate`, `user …` and `documents …`."""

from __future__ import annotations

import asyncio
import sys
from datetime import datetime, timedelta
from typing import Any

import click

from docflow import db
from docflow.cli.common import echo_json, run_with_services, settings_or_exit
from docflow.errors import NotMigratedError, SettingsError
from docflow.logs import setup_logging
from docflow.services import Services
from docflow.users.service import UserView

SHUTDOWN_SECONDS = 3.0


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """docflow: drafts by e-mail, versioned, reviewed, signed off and archived."""


@main.command()
@click.option(
    "--dev-relay",
    is_flag=True,
    help="Also run a catch-all relay on the relay port that saves outgoing mail "
    "as .eml files under DATA_DIR/mail-out (development only).",
)
def serve(dev_relay: bool) -> None:
    """Run HTTP, the SMTP/LMTP intake and periodic work in one process."""
    from aiohttp import web

    from docflow.app import create_app

    settings = settings_or_exit()
    setup_logging(settings.log_level)
    try:
        app = create_app(settings, dev_relay=dev_relay)
        web.run_app(
            app,
            host=settings.http.host,
            port=settings.http.port,
            reuse_port=settings.http.reuse_port,
            print=None,
            access_log=None,
            handle_signals=True,
            # at SIGTERM, requests in progress get this long to finish; then serve stops
            # (the default minute kept it running under a burst of decisions)
            shutdown_timeout=SHUTDOWN_SECONDS,
        )
    except (NotMigratedError, SettingsError) as e:
        raise click.ClickException(str(e)) from None


@main.command()
def migrate() -> None:
    """Create or update the database schema."""
    settings = settings_or_exit()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    applied = asyncio.run(db.migrate(settings.database.url))
    if applied:
        for name in applied:
            click.echo(f"applied {name}")
    else:
        click.echo("the database is up to date")


# --- users -------------------------------------------------------------------------


@main.group()
def user() -> None:
    """Manage users (staff, approvers, archivists, admins)."""


@user.command("add")
@click.argument("email")
@click.option("--name", required=True, help="Full name, as it appears in mail.")
@click.option(
    "--role",
    "roles",
    multiple=True,
    default=["staff"],
    show_default=True,
    help="A role; repeat for several.",
)
@click.option(
    "--language",
    type=click.Choice(["vi", "en"]),
    default=None,
    help="Language of the mail docflow sends them (default: org.default_language).",
)
@click.option(
    "--password",
    "with_password",
    is_flag=True,
    help="Ask for a password (archivists and admins log in to the web app with it).",
)
def user_add(
    email: str, name: str, roles: tuple[str, ...], language: str | None, with_password: bool
) -> None:
    """Add a user who may send drafts (and, with --password, log in)."""
    settings = settings_or_exit()
    lang = language or settings.org.default_language
    password = _ask_password() if with_password else None

    async def add(s: Services) -> UserView:
        added = await s.users.add(email, name, list(roles), lang)
        if password is not None:
            await s.accounts.set_password(email, password)
        return added

    added = run_with_services(settings, add)
    click.echo(f"added {added.email} ({added.name}), roles: {', '.join(added.roles)}")


def _ask_password() -> str:
    """From the terminal (asked twice), or one line of standard input when piped."""
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    value: str = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    return value


@user.command("password")
@click.argument("email")
def user_password(email: str) -> None:
    """Set or change EMAIL's password (asked on the terminal, or read from stdin)."""
    password = _ask_password()
    run_with_services(settings_or_exit(), lambda s: s.accounts.set_password(email, password))
    click.echo(f"password set for {email}")


@user.command("list")
@click.option("--json", "as_json", is_flag=True, help="Output JSON.")
def user_list(as_json: bool) -> None:
    """List users."""
    users = run_with_services(settings_or_exit(), lambda s: s.users.list())
    if as_json:
        echo_json([u.__dict__ for u in users])
        return
    for u in users:
        state = "" if u.active else " (inactive)"
        click.echo(f"{u.email:40} {u.name:30} {','.join(u.roles):20} {u.language}{state}")


@user.command("roles")
@click.option("--json", "as_json", is_flag=True, help="Output JSON: role → e-mail addresses.")
def user_roles(as_json: bool) -> None:
    """List each role with its users, and roles workflows need that nobody holds."""

    async def collect(s: Services) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
        return await s.users.roles(), s.workflows.role_uses()

    held, used = run_with_services(settings_or_exit(), collect)
    roles = {role: held.get(role, []) for role in sorted({*held, *used})}
    if as_json:
        echo_json(roles)
        return
    for role, emails in roles.items():
        where = f"  (used by {', '.join(used[role])})" if role in used else ""
        click.echo(f"{role}{where}")
        for email in emails:
            click.echo(f"  {email}")
        if not emails:
            click.echo("  (nobody holds this role: its tasks cannot be assigned)")


@user.group("role")
def user_role() -> None:
    """Give or take away a user's role."""


@user_role.command("add")
@click.argument("email")
@click.argument("role")
def user_role_add(email: str, role: str) -> None:
    """Give EMAIL the role ROLE (as `role:ROLE` in a workflow stage names it)."""
    changed = run_with_services(settings_or_exit(), lambda s: s.users.add_role(email, role))
    click.echo(f"{changed.email}, roles: {', '.join(changed.roles)}")


@user_role.command("remove")
@click.argument("email")
@click.argument("role")
def user_role_remove(email: str, role: str) -> None:
    """Take the role ROLE away from EMAIL (open tasks already assigned stay theirs)."""
    changed = run_with_services(settings_or_exit(), lambda s: s.users.remove_role(email, role))
    click.echo(f"{changed.email}, roles: {', '.join(changed.roles) or '(none)'}")


# --- documents ---------------------------------------------------------------------


@main.group()
def documents() -> None:
    """Look at documents and their versions."""


@documents.command("list")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 500))
@click.option("--status", default=None)
@click.option("--json", "as_json", is_flag=True, help="Output JSON.")
def documents_list(limit: int, status: str | None, as_json: bool) -> None:
    """List documents, newest first."""
    items, _ = run_with_services(
        settings_or_exit(), lambda s: s.documents.list(None, limit, status)
    )
    if as_json:
        echo_json(items)
        return
    for d in items:
        click.echo(
            f"{d['code']}  v{d['version_count']:<3} {d['status']:18} {d['author']:32} {d['title']}"
        )


@documents.command("show")
@click.argument("code")
@click.option("--json", "as_json", is_flag=True, help="Output JSON.")
def documents_show(code: str, as_json: bool) -> None:
    """Show one document with its versions, files and failed deliveries of its mail."""

    async def show(s: Services) -> dict[str, Any]:
        doc = await s.documents.view(code)
        doc["deliveries_failed"] = await s.bounces.failures(doc["code"])
        return doc

    doc = run_with_services(settings_or_exit(), show)
    if as_json:
        echo_json(doc)
        return
    click.echo(f"{doc['code']}  {doc['title']}")
    click.echo(
        f"  status {doc['status']}, workflow {doc['workflow']}, "
        f"author {doc['author_name']} <{doc['author']}>, created {doc['created_at']}"
    )
    for v in doc["versions"]:
        click.echo(f"  version {v['number']}  {v['created_at']}  <{v['message_id']}>")
        for f in v["files"]:
            click.echo(
                f"    [{f['role']}] {f['name']}  {f['mime']}  {f['size']} B  "
                f"sha256 {f['sha256'][:16]}…"
            )
    for d in doc["deliveries_failed"]:
        click.echo(f"  undelivered {d['kind']} mail to {d['to']}  {d['at']}  {d['status']}")


@user.command("delegate")
@click.argument("email")
@click.option("--to", "delegate", required=True, help="Who decides instead, meanwhile.")
@click.option(
    "--from",
    "starts",
    required=True,
    type=click.DateTime(["%Y-%m-%d"]),
    help="First day (office time zone).",
)
@click.option(
    "--until", "ends", required=True, type=click.DateTime(["%Y-%m-%d"]), help="Last day, included."
)
@click.option(
    "--capacity",
    type=click.Choice(["KT", "TUQ", "TL"], case_sensitive=False),
    default="KT",
    show_default=True,
    help="KT. (on behalf of the head), TUQ. (written authorisation), TL. (by order).",
)
def user_delegate(
    email: str, delegate: str, starts: datetime, ends: datetime, capacity: str
) -> None:
    """While the delegation runs, new tasks of EMAIL go to --to, decided "on behalf of"."""
    settings = settings_or_exit()
    tz = settings.org.timezone
    start = starts.replace(tzinfo=tz)
    end = (ends + timedelta(days=1)).replace(tzinfo=tz)
    made = run_with_services(
        settings, lambda s: s.delegations.add(email, delegate, start, end, capacity)
    )
    click.echo(
        f"{email} → {delegate} ({made.capacity}.) from {start:%Y-%m-%d} until {ends:%Y-%m-%d}"
    )


@user.command("delegations")
@click.option("--json", "as_json", is_flag=True, help="Output JSON.")
def user_delegations(as_json: bool) -> None:
    """List delegations."""
    rows = run_with_services(settings_or_exit(), lambda s: s.delegations.all())
    if as_json:
        echo_json(rows)
        return
    for d in rows:
        click.echo(
            f"{d['user']:32} → {d['delegate']:32} {d['capacity']:4} "
            f"{d['from'][:16]} … {d['until'][:16]}"
        )
