"""`docflow pki`: the certificates that sign issued documents (a test PKI, imports, a list)."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import click

from docflow.archive.keyring import IMPORTS
from docflow.cli.common import echo_json, run_with_services, settings_or_exit
from docflow.services import Services
from docflow.users.models import User


@click.group()
def pki() -> None:
    """Signing certificates: `init` a TEST PKI, `import` a user's key, `list` them."""


async def _signers(services: Services) -> list[tuple[str, str]]:
    """(email, name) of everyone who may complete a signing (else sign-off) stage: named
    there, or holding a role named there."""
    emails: set[str] = set()
    roles: set[str] = set()
    for workflow in services.workflows.by_key.values():
        stage = workflow.stages[workflow.signer_stage]
        for a in stage.assignees + stage.escalate_to:
            (emails if a.kind == "user" else roles).add(a.value)
    return [
        (u.email, u.name)
        for u in await User.all().order_by("email")
        if u.email in emails or roles.intersection(u.roles)
    ]


@pki.command("init")
@click.option("--user", "users", multiple=True, help="Only this signer (repeatable).")
def pki_init(users: tuple[str, ...]) -> None:
    """A TEST CA, the organisation's certificate and seal, and a certificate and signature
    image for each signer, in the keystore. For development and the demo only."""
    from docflow.archive.signing.pki import init_test_pki  # pyHanko: only when used

    settings = settings_or_exit()
    keystore = settings.signing.keystore_dir(settings.data_dir)
    people = run_with_services(settings, _signers)
    if users:
        wanted = {u.lower() for u in users}
        people = [p for p in people if p[0] in wanted]
    try:
        made = init_test_pki(keystore, settings.org.name, settings.org.code, people)
    except FileExistsError as e:
        raise click.ClickException(str(e)) from None
    click.echo(
        f"TEST PKI in {keystore}: CA {made.ca_certificate.name}, organisation "
        f"{made.organisation.name}, {len(made.users)} signer(s)"
    )
    for u in made.users:
        click.echo(f"  {u.email}: {u.p12.name}")


@pki.command("import")
@click.argument("email")
@click.option("--p12", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--passphrase-file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--pkcs11", "pkcs11_uri", default=None, help="A pkcs11: URI of the key.")
@click.option("--signature-image", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def pki_import(
    email: str,
    p12: Path | None,
    passphrase_file: Path | None,
    pkcs11_uri: str | None,
    signature_image: Path | None,
) -> None:
    """Use this key (and signature image) when EMAIL signs."""
    if (p12 is None) == (pkcs11_uri is None):
        raise click.UsageError("give one of --p12 FILE or --pkcs11 URI")
    from docflow.archive.signing.pki import certificate_info

    settings = settings_or_exit()
    keystore = settings.signing.keystore_dir(settings.data_dir)
    keystore.mkdir(parents=True, exist_ok=True)
    entry: dict[str, str] = {}
    if p12 is not None:
        if passphrase_file is None:
            raise click.UsageError("--p12 needs --passphrase-file")
        try:
            info = certificate_info(p12, passphrase_file)
        except (ValueError, OSError) as e:
            raise click.ClickException(f"cannot read {p12}: {type(e).__name__}") from None
        entry = {"key": f"pkcs12:{p12.resolve()}?passphrase-file={passphrase_file.resolve()}"}
        click.echo(f"{email}: {info.subject}, valid until {info.not_after:%Y-%m-%d}")
    else:
        entry = {"key": str(pkcs11_uri)}
    if signature_image is not None:
        target = keystore / f"signature-import-{email.lower()}.png"
        shutil.copyfile(signature_image, target)
        entry["image"] = str(target)
    index = keystore / IMPORTS
    known = json.loads(index.read_text(encoding="utf-8")) if index.exists() else {}
    known[email.lower()] = entry
    index.write_text(json.dumps(known, indent=2, ensure_ascii=False), encoding="utf-8")
    click.echo(f"{email}: imported")


@pki.command("list")
@click.option("--json", "as_json", is_flag=True, help="Output JSON.")
def pki_list(as_json: bool) -> None:
    """Each certificate in the keystore: subject, issuer, expiry (and a warning from 30
    days before it)."""
    settings = settings_or_exit()
    now = datetime.now(UTC)
    items: list[dict[str, object]] = []
    from docflow.archive.signing.pki import EXPIRY_WARNING, keystore_certificates

    for name, path, info in keystore_certificates(settings):
        if isinstance(info, str):
            items.append({"name": name, "file": str(path), "error": info})
            continue
        items.append(
            {
                "name": name,
                "file": str(path),
                "subject": info.subject,
                "issuer": info.issuer,
                "not_before": info.not_before.isoformat(),
                "not_after": info.not_after.isoformat(),
                "expired": info.not_after <= now,
                "expires_soon": now < info.not_after <= now + EXPIRY_WARNING,
            }
        )
    if as_json:
        echo_json(items)
        return
    if not items:
        click.echo("no certificates (docflow pki init makes a TEST PKI)")
    for item in items:
        if "error" in item:
            click.echo(f"{item['name']:28} {item['error']}")
            continue
        mark = " EXPIRED" if item["expired"] else (" expires soon" if item["expires_soon"] else "")
        click.echo(
            f"{item['name']:28} until {str(item['not_after'])[:10]}{mark}  {item['subject']}"
        )
