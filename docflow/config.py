"""Settings: `config/docflow.toml` defaults, overridden by `DOCFLOW_*` variables.

Every problem names the key at fault (`SettingsError`), so a bad setting stops
start-up with a message an operator can act on.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from docflow.errors import SettingsError

PACKAGE_ROOT = Path(__file__).resolve().parent.parent
ALL_KINDS = ("docx", "doc", "odt", "pdf", "rtf", "txt", "html", "xlsx", "ods", "pptx", "odp")

# DOCFLOW_* variable -> dotted key in docflow.toml
ENV_KEYS: dict[str, str] = {
    "DOCFLOW_DATA_DIR": "data_dir",
    "DOCFLOW_WORKFLOWS_DIR": "workflows_dir",
    "DOCFLOW_LOG_LEVEL": "log_level",
    "DOCFLOW_DATABASE_URL": "database.url",
    "DOCFLOW_HTTP_HOST": "http.host",
    "DOCFLOW_HTTP_PORT": "http.port",
    "DOCFLOW_REUSE_PORT": "http.reuse_port",
    "DOCFLOW_BASE_URL": "http.base_url",
    "DOCFLOW_ADMIN_TOKEN": "http.admin_token",
    "DOCFLOW_SMTP_HOST": "smtp.host",
    "DOCFLOW_SMTP_PORT": "smtp.port",
    "DOCFLOW_LMTP": "smtp.lmtp",
    "DOCFLOW_MAX_MESSAGE_SIZE": "smtp.max_message_size",
    "DOCFLOW_INTAKE_ADDRESS": "intake.address",
    "DOCFLOW_ANALYSIS_PROCESSES": "intake.analysis_processes",
    "DOCFLOW_REQUIRE_AUTHENTICATED_SENDER": "intake.require_authenticated_sender",
    "DOCFLOW_TRUSTED_AUTHSERV_ID": "intake.trusted_authserv_id",
    "DOCFLOW_VERIFY_DKIM": "intake.verify_dkim",
    "DOCFLOW_RATE_LIMIT": "intake.rate_limit",
    "DOCFLOW_RATE_WINDOW_SECONDS": "intake.rate_window_seconds",
    "DOCFLOW_RELAY_HOST": "relay.host",
    "DOCFLOW_RELAY_PORT": "relay.port",
    "DOCFLOW_FROM_ADDRESS": "relay.from_address",
    "DOCFLOW_BOUNCE_ADDRESS": "relay.bounce_address",
    "DOCFLOW_IMAP_HOST": "imap.host",
    "DOCFLOW_IMAP_PORT": "imap.port",
    "DOCFLOW_IMAP_TLS": "imap.tls",
    "DOCFLOW_IMAP_CA_FILE": "imap.ca_file",
    "DOCFLOW_IMAP_USER": "imap.user",
    "DOCFLOW_IMAP_PASSWORD": "imap.password",
    "DOCFLOW_IMAP_PASSWORD_FILE": "imap.password_file",
    "DOCFLOW_IMAP_FOLDER": "imap.folder",
    "DOCFLOW_IMAP_PROCESSED_FOLDER": "imap.processed_folder",
    "DOCFLOW_IMAP_PROCESSED_FLAG": "imap.processed_flag",
    "DOCFLOW_IMAP_IDLE": "imap.idle",
    "DOCFLOW_IMAP_POLL_SECONDS": "imap.poll_seconds",
    "DOCFLOW_IMAP_LEASE_SECONDS": "imap.lease_seconds",
}
IMAP_TLS_MODES = ("tls", "starttls", "none")


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


@dataclass(frozen=True)
class ImapSettings:
    """The mailbox docflow reads drafts from (`[imap]`); `host` empty: no IMAP intake."""

    host: str = ""
    port: int = 993
    tls: str = "tls"  # tls (IMAPS) | starttls | none
    ca_file: str = ""  # a private CA's certificates; empty: the system's
    user: str = ""
    password: str = field(default="", repr=False)  # imap.password, or imap.password_file's
    folder: str = "INBOX"
    processed_folder: str = ""  # handled mail is moved here; empty: flagged in place
    processed_flag: str = "$DocflowProcessed"
    idle: bool = True  # IDLE when the server offers it; false: poll only
    poll_seconds: int = 60
    lease_seconds: int = 180  # one serve process reads the mailbox; another takes over after

    @property
    def enabled(self) -> bool:
        return bool(self.host)

    @property
    def mailbox_key(self) -> str:
        """Names the mailbox in the database: its lease and the UIDs read from it."""
        return f"{self.user}@{self.host}:{self.port}/{self.folder}"


@dataclass(frozen=True)
class Settings:
    """Everything docflow reads from its configuration, validated."""

    data_dir: Path
    workflows_dir: Path
    log_level: str
    database_url: str
    http_host: str
    http_port: int
    reuse_port: bool  # SO_REUSEPORT on the HTTP and SMTP ports: several processes share them
    base_url: str
    admin_token: str
    smtp_host: str
    smtp_port: int
    lmtp: bool
    max_message_size: int
    smtp_hostname: str
    intake_address: str
    intake_extra_addresses: tuple[str, ...]
    allowed_domains: tuple[str, ...]
    allowed_types: tuple[str, ...]
    max_attempts: int
    retry_seconds: float
    analysis_processes: int
    intake_workers: int
    require_authenticated_sender: bool  # a From: must be vouched for by the MTA (or DKIM)
    trusted_authserv_ids: tuple[str, ...]  # whose Authentication-Results count
    verify_dkim: bool  # without a trusted header, verify DKIM signatures with dkimpy
    rate_limit: int  # messages per sender per window that may be answered; 0: no limit
    rate_window_seconds: int
    relay_host: str
    relay_port: int
    from_address: str
    bounce_address: str  # envelope sender base: docflow-bounce+TOKEN@… (VERP)
    relay_timeout: float
    max_backoff_seconds: float
    org_code: str
    org_name: str
    timezone: ZoneInfo
    default_workflow: str
    default_language: str
    registers: dict[str, Register] = field(default_factory=dict)
    imap: ImapSettings = field(default_factory=ImapSettings)

    @property
    def spool_dir(self) -> Path:
        return self.data_dir / "spool"

    @property
    def blob_dir(self) -> Path:
        return self.data_dir / "blobs"

    @property
    def intake_addresses(self) -> tuple[str, ...]:
        return (self.intake_address, *self.intake_extra_addresses)

    def with_overrides(self, **changes: Any) -> Settings:
        """A copy with some fields replaced (tests, the CLI's flags)."""
        from dataclasses import replace

        return replace(self, **changes)


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
    node[leaf] = (origin, value)  # remembered as coming from a variable, parsed in _build


class _Reader:
    """Typed access to the merged settings that names the key (or variable) at fault."""

    def __init__(self, raw: dict[str, Any]) -> None:
        self.raw = raw

    def _get(self, dotted: str, default: Any) -> tuple[str, Any]:
        node: Any = self.raw
        for part in dotted.split("."):
            if not isinstance(node, dict) or part not in node:
                return dotted, default
            node = node[part]
        if isinstance(node, tuple):  # (variable, text) from the environment
            return node[0], node[1]
        return dotted, node

    def origin(self, dotted: str) -> str:
        """The name to blame for a value: its DOCFLOW_* variable, or its TOML key."""
        return self._get(dotted, None)[0]

    def text(self, dotted: str, default: str = "") -> str:
        name, v = self._get(dotted, default)
        if not isinstance(v, str):
            raise SettingsError(name, f"expected text, got {v!r}")
        return v.strip()

    def integer(
        self, dotted: str, default: int, minimum: int = 0, maximum: int | None = None
    ) -> int:
        name, v = self._get(dotted, default)
        try:
            n = int(v)
        except (TypeError, ValueError):
            raise SettingsError(name, f"expected a whole number, got {v!r}") from None
        if isinstance(v, bool) or n < minimum or (maximum is not None and n > maximum):
            raise SettingsError(name, f"{v!r} is out of range")
        return n

    def flag(self, dotted: str, default: bool) -> bool:
        name, v = self._get(dotted, default)
        if isinstance(v, bool):
            return v
        text = str(v).strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off", ""):
            return False
        raise SettingsError(name, f"expected true or false, got {v!r}")

    def items(self, dotted: str) -> tuple[str, ...]:
        name, v = self._get(dotted, [])
        if isinstance(v, str):
            v = [p for p in (s.strip() for s in v.split(",")) if p]
        if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
            raise SettingsError(name, f"expected a list of text, got {v!r}")
        return tuple(x.strip().lower() for x in v)


def _build(raw: dict[str, Any]) -> Settings:
    r = _Reader(raw)
    data_dir = Path(r.text("data_dir", "data")).expanduser().resolve()
    db_url = r.text("database.url")
    if not db_url:
        db_url = f"sqlite://{data_dir / 'docflow.sqlite3'}"
    elif not db_url.startswith(("sqlite://", "postgres://", "postgresql://")):
        raise SettingsError("database.url", f"unsupported database URL {db_url!r}")
    http_host = r.text("http.host", "127.0.0.1")
    http_port = r.integer("http.port", 8025, 0, 65535)
    base_url = r.text("http.base_url") or f"http://{http_host}:{http_port}"
    intake_address = r.text("intake.address", "vanban@docflow.localhost").lower()
    if "@" not in intake_address:
        raise SettingsError("intake.address", f"{intake_address!r} is not an e-mail address")
    allowed_types = r.items("intake.allowed_types")
    for kind in allowed_types:
        if kind not in ALL_KINDS:
            raise SettingsError("intake.allowed_types", f"unknown type {kind!r} ({ALL_KINDS})")
    tz_name = r.text("org.timezone", "Asia/Ho_Chi_Minh")
    try:
        tz = ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError):
        raise SettingsError("org.timezone", f"unknown time zone {tz_name!r}") from None
    language = r.text("org.default_language", "vi")
    if language not in ("vi", "en"):
        raise SettingsError("org.default_language", "expected 'vi' or 'en'")
    require_auth = r.flag("intake.require_authenticated_sender", False)
    trusted_ids = r.items("intake.trusted_authserv_id")
    verify_dkim = r.flag("intake.verify_dkim", False)
    if require_auth and not trusted_ids and not verify_dkim:
        raise SettingsError(
            "intake.require_authenticated_sender",
            "needs intake.trusted_authserv_id (your MTA's authserv-id) or intake.verify_dkim",
        )
    from_address = r.text("relay.from_address", "docflow@docflow.localhost")
    from_local, _, from_domain = from_address.partition("@")
    bounce_address = r.text("relay.bounce_address") or f"{from_local}-bounce@{from_domain}"
    bounce_address = bounce_address.lower()
    b_local, _, b_domain = bounce_address.partition("@")
    if not b_local or not b_domain or "+" in b_local:
        raise SettingsError(
            r._get("relay.bounce_address", "")[0],  # the variable, when it came from one
            f"{bounce_address!r} is not an e-mail address without '+'",
        )
    intake_bases = {
        a.lower().partition("+")[0] for a in (intake_address, *r.items("intake.extra_addresses"))
    }
    if bounce_address in intake_bases:  # every draft would be taken for a bounce
        raise SettingsError(
            r._get("relay.bounce_address", "")[0],
            f"{bounce_address!r} is an intake address; bounces need an address of their own",
        )
    level = r.text("log_level", "INFO").upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise SettingsError("log_level", f"unknown level {level!r}")
    registers: dict[str, Register] = {}
    reg_raw = raw.get("registers", {})
    if not isinstance(reg_raw, dict):
        raise SettingsError("registers", "expected a table of registers")
    for key, value in reg_raw.items():
        registers[key] = _register(key, value)
    return Settings(
        data_dir=data_dir,
        workflows_dir=Path(r.text("workflows_dir", "config/workflows")).expanduser().resolve(),
        log_level=level,
        database_url=db_url,
        http_host=http_host,
        http_port=http_port,
        reuse_port=r.flag("http.reuse_port", False),
        base_url=base_url.rstrip("/"),
        admin_token=r.text("http.admin_token"),
        smtp_host=r.text("smtp.host", "127.0.0.1"),
        smtp_port=r.integer("smtp.port", 2525, 0, 65535),
        lmtp=r.flag("smtp.lmtp", False),
        max_message_size=r.integer("smtp.max_message_size", 36 * 1024 * 1024, 1024),
        smtp_hostname=r.text("smtp.hostname", "docflow.localhost"),
        intake_address=intake_address,
        intake_extra_addresses=r.items("intake.extra_addresses"),
        allowed_domains=r.items("intake.allowed_domains"),
        allowed_types=allowed_types,
        max_attempts=r.integer("intake.max_attempts", 5, 1, 100),
        retry_seconds=float(r.integer("intake.retry_seconds", 30, 0)),
        analysis_processes=r.integer("intake.analysis_processes", 1, 0, 64),
        intake_workers=r.integer("intake.workers", 4, 1, 64),
        require_authenticated_sender=require_auth,
        trusted_authserv_ids=trusted_ids,
        verify_dkim=verify_dkim,
        rate_limit=r.integer("intake.rate_limit", 30, 0),
        rate_window_seconds=r.integer("intake.rate_window_seconds", 3600, 1),
        relay_host=r.text("relay.host", "127.0.0.1"),
        relay_port=r.integer("relay.port", 25, 1, 65535),
        from_address=from_address,
        bounce_address=bounce_address,
        relay_timeout=float(r.integer("relay.timeout", 30, 1)),
        max_backoff_seconds=float(r.integer("relay.max_backoff_seconds", 900, 1)),
        org_code=r.text("org.code", "ORG"),
        org_name=r.text("org.name", ""),
        timezone=tz,
        default_workflow=r.text("org.default_workflow", "cong-van"),
        default_language=language,
        registers=registers,
        imap=_imap(r),
    )


def _imap(r: _Reader) -> ImapSettings:
    host = r.text("imap.host")
    tls = r.text("imap.tls", "tls").lower()
    if tls not in IMAP_TLS_MODES:
        raise SettingsError(r.origin("imap.tls"), f"expected one of {IMAP_TLS_MODES}, got {tls!r}")
    port = r.integer("imap.port", 0, 0, 65535) or (993 if tls == "tls" else 143)
    password, password_file = r.text("imap.password"), r.text("imap.password_file")
    if password_file:
        try:
            password = Path(password_file).expanduser().read_text(encoding="utf-8").strip()
        except OSError as e:
            raise SettingsError(r.origin("imap.password_file"), f"cannot be read: {e}") from None
    imap = ImapSettings(
        host=host,
        port=port,
        tls=tls,
        ca_file=r.text("imap.ca_file"),
        user=r.text("imap.user"),
        password=password,
        folder=r.text("imap.folder", "INBOX") or "INBOX",
        processed_folder=r.text("imap.processed_folder"),
        processed_flag=r.text("imap.processed_flag", "$DocflowProcessed"),
        idle=r.flag("imap.idle", True),
        poll_seconds=r.integer("imap.poll_seconds", 60, 1, 86400),
        lease_seconds=r.integer("imap.lease_seconds", 180, 2, 86400),
    )
    if host and not imap.user:
        raise SettingsError(
            r.origin("imap.user"), "the mailbox's login is needed when imap.host is set"
        )
    if host and not imap.processed_folder and not imap.processed_flag:
        raise SettingsError(
            r.origin("imap.processed_flag"), "needed when imap.processed_folder is empty"
        )
    if host and imap.lease_seconds < 2 * imap.poll_seconds:
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
