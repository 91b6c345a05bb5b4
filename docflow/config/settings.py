"""Settings: `config/docflow.toml` defaults, overridden by `DOCFLOW_*` variables.

Every problem names the key at fault (`SettingsError`), so a bad setting stops
start-up with a message an operator can act on. No other module reads the
environment for a setting: each one is declared in `sections` (or here, the
top-level keys) and read by `load_settings`.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from docflow.config.keys import Key, Reader, keys, text_as
from docflow.config.sections import (
    DatabaseSettings,
    HttpSettings,
    ImapSettings,
    IntakeSettings,
    OcrSettings,
    OrgSettings,
    RelaySettings,
    RemindersSettings,
    RenditionsSettings,
    SigningSettings,
    SmtpSettings,
    to_level,
    to_path,
)
from docflow.errors import SettingsError

PACKAGE_ROOT = Path(__file__).resolve().parent.parent.parent


@dataclass(frozen=True)
class Register:
    """A numbering register (its book is kept by the archive).

    `format` may use {seq} (with a format spec, e.g. {seq:02d}), {org}, {type},
    {unit} and {year}; `confidential` registers keep their documents out of the
    general distribution list and out of archivists' search.
    """

    key: str
    format: str
    unit: str = ""
    confidential: bool = False

    def number(self, seq: int, org: str, type_code: str, year: int) -> str:
        return self.format.format(seq=seq, org=org, type=type_code, unit=self.unit, year=year)


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Everything docflow reads from its configuration, validated, one field per section."""

    data_dir: Path = text_as(
        to_path, "data", env="DOCFLOW_DATA_DIR", doc="spool, blobs, SQLite file, secret key"
    )
    workflows_dir: Path = text_as(to_path, "config/workflows", env="DOCFLOW_WORKFLOWS_DIR")
    log_level: str = text_as(
        to_level,
        "INFO",
        env="DOCFLOW_LOG_LEVEL",
        blame_key=True,
        doc="DEBUG, INFO, WARNING or ERROR",
    )
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    http: HttpSettings = field(default_factory=HttpSettings)
    smtp: SmtpSettings = field(default_factory=SmtpSettings)
    intake: IntakeSettings = field(default_factory=IntakeSettings)
    relay: RelaySettings = field(default_factory=RelaySettings)
    imap: ImapSettings = field(default_factory=ImapSettings)
    org: OrgSettings = field(default_factory=OrgSettings)
    reminders: RemindersSettings = field(default_factory=RemindersSettings)
    signing: SigningSettings = field(default_factory=SigningSettings)
    renditions: RenditionsSettings = field(default_factory=RenditionsSettings)
    ocr: OcrSettings = field(default_factory=OcrSettings)
    registers: dict[str, Register] = field(default_factory=dict)

    @property
    def spool_dir(self) -> Path:
        return self.data_dir / "spool"

    @property
    def blob_dir(self) -> Path:
        return self.data_dir / "blobs"


# TOML section -> its settings, in the order of config/docflow.toml ("" : the top level)
SECTIONS: dict[str, type[Any]] = {
    "": Settings,
    "database": DatabaseSettings,
    "http": HttpSettings,
    "smtp": SmtpSettings,
    "intake": IntakeSettings,
    "relay": RelaySettings,
    "imap": ImapSettings,
    "org": OrgSettings,
    "reminders": RemindersSettings,
    "signing": SigningSettings,
    "renditions": RenditionsSettings,
    "ocr": OcrSettings,
}


def declared() -> list[tuple[str, Key]]:
    """(dotted TOML key, Key) of every setting, in the file's order."""
    return [
        (f"{section}.{toml}" if section else toml, key)
        for section, cls in SECTIONS.items()
        for _, toml, key in keys(cls)
    ]


# DOCFLOW_* variable -> dotted key in docflow.toml
ENV_KEYS: dict[str, str] = {key.env: dotted for dotted, key in declared() if key.env}


def default_config_path() -> Path:
    """`./config/docflow.toml` when run from a checkout, else the one beside the package."""
    local = Path("config/docflow.toml")
    return local if local.exists() else PACKAGE_ROOT / "config" / "docflow.toml"


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read the TOML file, apply `DOCFLOW_*` overrides, validate."""
    env = os.environ if environ is None else environ
    path = Path(env.get("DOCFLOW_CONFIG") or default_config_path())
    try:
        raw: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SettingsError("DOCFLOW_CONFIG", f"no such file: {path}") from None
    except tomllib.TOMLDecodeError as e:
        raise SettingsError("DOCFLOW_CONFIG", f"{path} is not valid TOML: {e}") from None
    for var, key in ENV_KEYS.items():
        if var in env:
            _set(raw, key, env[var], origin=var)
    return _build(raw)


def _set(raw: dict[str, Any], dotted: str, value: str, origin: str) -> None:
    *parents, leaf = dotted.split(".")
    node = raw
    for p in parents:
        node = node.setdefault(p, {})
    node[leaf] = (origin, value)  # remembered as coming from a variable, parsed by the Reader


def _build(raw: dict[str, Any]) -> Settings:
    r = Reader(raw)
    top = {name: r.value(toml, key) for name, toml, key in keys(Settings)}
    sections = {name: r.section(cls, name) for name, cls in SECTIONS.items() if name}
    data_dir: Path = top["data_dir"]
    database: DatabaseSettings = sections["database"]
    if not database.url:
        database = replace(database, url=f"sqlite://{data_dir / 'docflow.sqlite3'}")
    http: HttpSettings = sections["http"]
    base_url = http.base_url or f"http://{http.host}:{http.port}"
    intake: IntakeSettings = sections["intake"]
    if intake.require_authenticated_sender and not intake.trusted_authserv_ids:
        if not intake.verify_dkim:
            raise SettingsError(
                "intake.require_authenticated_sender",
                "needs intake.trusted_authserv_id (your MTA's authserv-id) or intake.verify_dkim",
            )
    reg_raw = raw.get("registers", {})
    if not isinstance(reg_raw, dict):
        raise SettingsError("registers", "expected a table of registers")
    return Settings(
        **top,
        database=database,
        http=replace(http, base_url=base_url.rstrip("/")),
        smtp=sections["smtp"],
        intake=intake,
        relay=_relay(r, sections["relay"], intake),
        imap=_imap(r, sections["imap"]),
        org=sections["org"],
        reminders=sections["reminders"],
        signing=sections["signing"],
        renditions=sections["renditions"],
        ocr=sections["ocr"],
        registers={key: _register(key, value) for key, value in reg_raw.items()},
    )


def _relay(r: Reader, relay: RelaySettings, intake: IntakeSettings) -> RelaySettings:
    """The bounce address completed from the from address, and checked."""
    from_local, _, from_domain = relay.from_address.partition("@")
    bounce_address = (relay.bounce_address or f"{from_local}-bounce@{from_domain}").lower()
    b_local, _, b_domain = bounce_address.partition("@")
    if not b_local or not b_domain or "+" in b_local:
        raise SettingsError(
            r.origin("relay.bounce_address"),  # the variable, when it came from one
            f"{bounce_address!r} is not an e-mail address without '+'",
        )
    if bounce_address in {a.partition("+")[0] for a in intake.addresses}:
        # every draft would be taken for a bounce
        raise SettingsError(
            r.origin("relay.bounce_address"),
            f"{bounce_address!r} is an intake address; bounces need an address of their own",
        )
    return replace(relay, bounce_address=bounce_address)


def _imap(r: Reader, imap: ImapSettings) -> ImapSettings:
    """The port from the TLS mode, the password from its file, and the checks across keys."""
    port = imap.port or (993 if imap.tls == "tls" else 143)
    password = imap.password
    if imap.password_file:
        try:
            password = Path(imap.password_file).expanduser().read_text(encoding="utf-8").strip()
        except OSError as e:
            raise SettingsError(r.origin("imap.password_file"), f"cannot be read: {e}") from None
    imap = replace(imap, port=port, password=password, folder=imap.folder or "INBOX")
    if imap.host and not imap.user:
        raise SettingsError(
            r.origin("imap.user"), "the mailbox's login is needed when imap.host is set"
        )
    if imap.host and not imap.processed_folder and not imap.processed_flag:
        raise SettingsError(
            r.origin("imap.processed_flag"), "needed when imap.processed_folder is empty"
        )
    if imap.host and imap.lease_seconds < 2 * imap.poll_seconds:
        raise SettingsError(
            r.origin("imap.lease_seconds"),
            "must be at least twice imap.poll_seconds (it is renewed then)",
        )
    if imap.ca_file and not Path(imap.ca_file).is_file():
        raise SettingsError(r.origin("imap.ca_file"), f"no such file: {imap.ca_file}")
    return imap


def _register(key: str, value: object) -> Register:
    where = f"registers.{key}"
    if not isinstance(value, dict):
        raise SettingsError(where, 'expected a table with format = "{seq:02d}/…"')
    unknown = set(value) - {"format", "unit", "confidential"}
    if unknown:
        raise SettingsError(f"{where}.{sorted(unknown)[0]}", "unknown setting")
    fmt, unit, confidential = (
        value.get("format"),
        value.get("unit", ""),
        value.get("confidential", False),
    )
    if not isinstance(fmt, str) or "{seq" not in fmt:
        raise SettingsError(f"{where}.format", "expected a format with {seq...}")
    if not isinstance(unit, str):
        raise SettingsError(f"{where}.unit", 'expected text such as "VP"')
    if not isinstance(confidential, bool):
        raise SettingsError(f"{where}.confidential", "expected true or false")
    register = Register(key=key, format=fmt, unit=unit, confidential=confidential)
    try:
        register.number(7, "ORG", "KH", 2026)
    except (KeyError, ValueError, IndexError) as e:
        raise SettingsError(
            f"{where}.format",
            f"cannot be filled ({e!s}); use {{seq:02d}}, {{org}}, {{type}}, {{unit}}, {{year}}",
        ) from None
    return register
