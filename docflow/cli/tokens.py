"""`docflow token`: bearer tokens for automation, acting as a user (with their roles)."""

from __future__ import annotations

import click

from docflow.cli.common import echo_json, run_with_services, settings_or_exit


@click.group()
def token() -> None:
    """API tokens: an archivist's reads the archive, an admin's does everything."""


@token.command("add")
@click.argument("name")
@click.option("--user", "email", required=True, help="Whose roles the token acts with.")
def token_add(name: str, email: str) -> None:
    """Make a token NAME for --user; it is printed once and kept only as a hash."""
    made = run_with_services(settings_or_exit(), lambda s: s.accounts.add_token(name, email))
    click.echo(made)


@token.command("list")
@click.option("--json", "as_json", is_flag=True, help="Output JSON.")
def token_list(as_json: bool) -> None:
    """Tokens (never their values)."""
    rows = run_with_services(settings_or_exit(), lambda s: s.accounts.tokens())
    if as_json:
        echo_json(rows)
        return
    for t in rows:
        state = "revoked" if t["revoked"] else f"last used {t['last_used_at'] or 'never'}"
        click.echo(f"{t['id']:>4}  {t['name']:24} {t['user']:32} {state}")


@token.command("revoke")
@click.argument("token_id", type=int)
def token_revoke(token_id: int) -> None:
    """Stop a token working."""
    run_with_services(settings_or_exit(), lambda s: s.accounts.revoke_token(token_id))
    click.echo(f"token {token_id} revoked")
