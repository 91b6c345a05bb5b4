"""`docflow registers` and `docflow archive`: the register books and issued records."""

from __future__ import annotations

import getpass

import click

from docflow.cli.common import echo_json, run_with_services, settings_or_exit


@click.group()
def registers() -> None:
    """The numbering registers and their books (sổ đăng ký văn bản đi)."""


@registers.command("list")
@click.option("--json", "as_json", is_flag=True, help="Output JSON.")
def registers_list(as_json: bool) -> None:
    """Each register: its number format and the last number given per year."""
    rows = run_with_services(settings_or_exit(), lambda s: s.archive.registers())
    if as_json:
        echo_json(rows)
        return
    for r in rows:
        years = ", ".join(f"{y}: {n}" for y, n in r["years"].items()) or "nothing issued"
        mark = " (confidential)" if r["confidential"] else ""
        click.echo(f"{r['key']:6} {r['format']:26} e.g. {r['example']:16} {years}{mark}")


@registers.command("show")
@click.argument("register")
@click.option("--year", type=int, default=None, help="Only this calendar year.")
@click.option("--json", "as_json", is_flag=True, help="Output JSON.")
def registers_show(register: str, year: int | None, as_json: bool) -> None:
    """The register's book: number, issue date, title, signer, in order."""
    rows = run_with_services(settings_or_exit(), lambda s: s.archive.book(register, year))
    if as_json:
        echo_json(rows)
        return
    if not rows:
        click.echo("nothing issued")
    for r in rows:
        date = "/".join(reversed(r["issue_date"].split("-")))
        click.echo(f"{r['number']:18} {date}  {r['title']}  ({r['signer']})")


@click.group()
def archive() -> None:
    """Issued documents: show, verify, issue an approved one, legal hold."""


@archive.command("show")
@click.argument("record")
@click.option("--json", "as_json", is_flag=True, help="Output JSON.")
def archive_show(record: str, as_json: bool) -> None:
    """RECORD is an id, an official number (47/KH-BDT) or a tracking code."""
    view = run_with_services(settings_or_exit(), lambda s: s.archive.view(record))
    if as_json:
        echo_json(view)
        return
    click.echo(f"Số: {view['number']}  ngày {view['issue_date']}  ({view['code']})")
    click.echo(f"  {view['title']}")
    click.echo(f"  trích yếu: {view['summary']}")
    click.echo(f"  signer: {view['signer']['name']} <{view['signer']['email']}>")
    hold = "on legal hold" if view["legal_hold"] else "no legal hold"
    click.echo(f"  retention {view['retention']}, {hold}")
    for f in view["files"]:
        click.echo(f"  [{f['role']}] {f['name']}  {f['size']} B  sha256 {f['sha256']}")


@archive.command("hold")
@click.argument("record")
@click.option("--on/--off", "held", required=True, help="Put on legal hold, or lift it.")
@click.option("--reason", default="", help="Why (kept in the history and the audit trail).")
@click.option("--by", default=None, help="Who decides it; default: the system user name.")
def archive_hold(record: str, held: bool, reason: str, by: str | None) -> None:
    """Put RECORD on legal hold (it must not be destroyed at retention's end), or lift it."""
    who = by or getpass.getuser()
    run_with_services(
        settings_or_exit(), lambda s: s.archive.set_hold(record, held, who, reason, "cli")
    )
    click.echo(f"{record}: legal hold {'on' if held else 'off'}")


@archive.command("issue")
@click.argument("code")
def archive_issue(code: str) -> None:
    """Issue the approved document CODE now: number, signed PDF, distribution. For a
    document whose signing failed (the reason is mailed to the signer and the admins),
    once the key or the certificate is fixed; serve also retries by itself."""
    record = run_with_services(settings_or_exit(), lambda s: s.signed_issuing.issue_now(code))
    click.echo(f"{code.upper()}: issued as Số {record.number} (record {record.id})")


@archive.command("copy")
@click.argument("record")
@click.option(
    "--form",
    "form",
    required=True,
    help='"SAO Y", "SAO LỤC" or "TRÍCH SAO" (Decree 30/2020, Art. 25).',
)
@click.option("--by", default=None, help="Who asks for it; default: the system user name.")
def archive_copy(record: str, form: str, by: str | None) -> None:
    """An electronic copy of RECORD's issued PDF, signed by the organisation, kept with the
    record (a file of role `copy`) and audited."""
    who = by or getpass.getuser()
    made = run_with_services(settings_or_exit(), lambda s: s.copies.make(record, form, who, "cli"))
    click.echo(
        f"{made.name}: file {made.position} of record {made.record_id}, sha256 {made.sha256}"
    )


@archive.command("verify")
@click.argument("record")
@click.option("--json", "as_json", is_flag=True, help="Output JSON.")
def archive_verify(record: str, as_json: bool) -> None:
    """Re-check RECORD: every issued file against its SHA-256, every signature against
    `signing.trust_roots`. Exit status 1 on any finding."""
    from docflow.archive.verification import verify_record  # pyHanko: only when verifying

    settings = settings_or_exit()
    roots = settings.signing.trust_root_paths(settings.data_dir)
    report = run_with_services(settings, lambda s: verify_record(s.archive, s.blobs, record, roots))
    if as_json:
        echo_json(report)
    else:
        click.echo(f"Số: {report['number']} (record {report['record']})")
        for f in report["files"]:
            click.echo(f"  [{f['role']}] {f['name']}: {'ok' if f['ok'] else 'FAILED'}")
            for s in f["signatures"]:
                state = "valid" if s["ok"] else "INVALID"
                click.echo(f"    signature {s['field']} by {s['signer']}: {state}")
            for p in f["problems"]:
                click.echo(f"    {p}")
        click.echo("ok" if report["ok"] else "FAILED")
    if not report["ok"]:
        raise SystemExit(1)
