"""The settings of each `docflow.toml` section, each key declared once (see `keys`).

The defaults here are docflow's own, used when the file leaves a key out;
`config/docflow.toml` ships with some set otherwise (`relay.port`, `org.code`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from docflow.config.keys import flag, integer, items, real, text, text_as

ALL_KINDS = (
    *("docx", "doc", "odt", "pdf", "rtf", "txt", "html", "xlsx", "ods", "pptx", "odp"),
    *("jpeg", "png", "tiff"),  # scans and photos: their text is read by OCR
)
IMAP_TLS_MODES = ("tls", "starttls", "none")


def to_path(value: str) -> Path:
    return Path(value).expanduser().resolve()


def to_level(value: str) -> str:
    if value.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ValueError(f"unknown level {value.upper()!r}")
    return value.upper()


def _database_url(value: str) -> str:
    if value and not value.startswith(("sqlite://", "postgres://", "postgresql://")):
        raise ValueError(f"unsupported database URL {value!r}")
    return value


def _address(value: str) -> str:
    if "@" not in value.lower():
        raise ValueError(f"{value.lower()!r} is not an e-mail address")
    return value.lower()


def _kinds(values: tuple[str, ...]) -> tuple[str, ...]:
    for kind in values:
        if kind not in ALL_KINDS:
            raise ValueError(f"unknown type {kind!r} ({ALL_KINDS})")
    return values


def _tls(value: str) -> str:
    if value.lower() not in IMAP_TLS_MODES:
        raise ValueError(f"expected one of {IMAP_TLS_MODES}, got {value.lower()!r}")
    return value.lower()


def _zone(value: str) -> ZoneInfo:
    try:
        return ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r}") from None


def _language(value: str) -> str:
    if value not in ("vi", "en"):
        raise ValueError("expected 'vi' or 'en'")
    return value


@dataclass(frozen=True, kw_only=True)
class DatabaseSettings:
    """`[database]`; an empty URL is completed to the SQLite file under data_dir."""

    url: str = text_as(
        _database_url,
        env="DOCFLOW_DATABASE_URL",
        blame_key=True,
        doc="empty: `sqlite://DATA_DIR/docflow.sqlite3`; `postgresql://user@host:5432/db` "
        "for production",
    )


@dataclass(frozen=True, kw_only=True)
class HttpSettings:
    """`[http]`: the web interface and API."""

    host: str = text("127.0.0.1", env="DOCFLOW_HTTP_HOST")
    port: int = integer(8025, env="DOCFLOW_HTTP_PORT", maximum=65535)
    base_url: str = text(
        env="DOCFLOW_BASE_URL", doc="empty: `http://HOST:PORT`; used in links in mail"
    )
    admin_token: str = text(
        env="DOCFLOW_ADMIN_TOKEN", secret=True, doc="empty: the API refuses every request"
    )
    reuse_port: bool = flag(
        False,
        env="DOCFLOW_REUSE_PORT",
        doc="`1`: bind the HTTP and SMTP ports with SO_REUSEPORT, so that several `serve` "
        "processes share them (see below)",
    )


@dataclass(frozen=True, kw_only=True)
class SmtpSettings:
    """`[smtp]`: the listener drafts arrive at."""

    host: str = text("127.0.0.1", env="DOCFLOW_SMTP_HOST")
    port: int = integer(2525, env="DOCFLOW_SMTP_PORT", maximum=65535)
    lmtp: bool = flag(False, env="DOCFLOW_LMTP", doc="`1` to speak LMTP to an MTA in front")
    max_message_size: int = integer(
        36 * 1024 * 1024,
        env="DOCFLOW_MAX_MESSAGE_SIZE",
        minimum=1024,
        doc="bytes, the whole message (36 MiB: a 25 MB file, ×1.37 in base64, fits)",
    )
    hostname: str = text("docflow.localhost", doc="name in the greeting")


@dataclass(frozen=True, kw_only=True)
class IntakeSettings:
    """`[intake]`: which mail becomes a document version, and how it is processed."""

    address: str = text_as(
        _address,
        "vanban@docflow.localhost",
        env="DOCFLOW_INTAKE_ADDRESS",
        blame_key=True,
        doc="plus-addressing picks a workflow",
    )
    extra_addresses: tuple[str, ...] = items(doc="more addresses that also reach intake")
    allowed_domains: tuple[str, ...] = items(doc="senders of these domains need no account")
    allowed_types: tuple[str, ...] = items(
        convert=_kinds,
        doc="`config/docflow.toml`: docx doc odt pdf rtf txt (decided from the bytes)",
    )
    max_attempts: int = integer(5, minimum=1, maximum=100, doc="tries before `processing_failed`")
    retry_seconds: float = real(
        30, whole=True, doc="before a failed message is tried again (doubling)"
    )
    workers: int = integer(4, minimum=1, maximum=64, doc="messages processed at once")
    analysis_processes: int = integer(
        1,
        env="DOCFLOW_ANALYSIS_PROCESSES",
        maximum=64,
        doc="worker processes parsing and extracting (0: a thread)",
    )
    # a From: must be vouched for by the MTA (or DKIM)
    require_authenticated_sender: bool = flag(
        False, env="DOCFLOW_REQUIRE_AUTHENTICATED_SENDER", doc='see "Sender authentication"'
    )
    trusted_authserv_ids: tuple[str, ...] = items(
        env="DOCFLOW_TRUSTED_AUTHSERV_ID",
        toml="trusted_authserv_id",
        doc="your MTA's authserv-id, whose Authentication-Results count "
        "(a list, or comma-separated)",
    )
    verify_dkim: bool = flag(
        False, env="DOCFLOW_VERIFY_DKIM", doc="without a trusted header, verify DKIM here"
    )
    rate_limit: int = integer(
        30,
        env="DOCFLOW_RATE_LIMIT",
        doc="answers per sender per window (drafts past it are still stored); `0`: no limit "
        '(see "Loops")',
    )
    rate_window_seconds: int = integer(3600, env="DOCFLOW_RATE_WINDOW_SECONDS", minimum=1)
    body_as_draft: bool = flag(
        False,
        env="DOCFLOW_BODY_AS_DRAFT",
        doc="a new draft with no usable file: its body becomes the draft, as a PDF "
        '(see "A draft typed in the mail")',
    )

    @property
    def addresses(self) -> tuple[str, ...]:
        return (self.address, *self.extra_addresses)


@dataclass(frozen=True, kw_only=True)
class RelaySettings:
    """`[relay]`: the MTA docflow sends its mail through."""

    host: str = text("127.0.0.1", env="DOCFLOW_RELAY_HOST")
    port: int = integer(
        25,
        env="DOCFLOW_RELAY_PORT",
        minimum=1,
        maximum=65535,
        doc="`config/docflow.toml`: 2526 (the development relay)",
    )
    from_address: str = text("docflow@docflow.localhost", env="DOCFLOW_FROM_ADDRESS")
    # envelope sender base: docflow-bounce+TOKEN@… (VERP)
    bounce_address: str = text(
        env="DOCFLOW_BOUNCE_ADDRESS",
        doc="empty: the from address's local part + `-bounce` "
        "(`docflow-bounce@docflow.localhost`): "
        'envelope sender of docflow\'s mail, as `LOCAL+TOKEN@DOMAIN` (see "Bounces")',
    )
    timeout: float = real(30, whole=True, minimum=1, doc="seconds per delivery attempt")
    max_backoff_seconds: float = real(900, whole=True, minimum=1, doc="retries back off up to this")


@dataclass(frozen=True, kw_only=True)
class ImapSettings:
    """`[imap]`: the mailbox docflow reads drafts from; `host` empty: no IMAP intake."""

    host: str = text(env="DOCFLOW_IMAP_HOST", doc="empty: no IMAP intake")
    port: int = integer(
        0, env="DOCFLOW_IMAP_PORT", maximum=65535, doc="`0`: 993 with `tls`, 143 otherwise"
    )
    tls: str = text_as(
        _tls, "tls", env="DOCFLOW_IMAP_TLS", doc="`tls` (IMAPS); `starttls`; `none` (loopback only)"
    )
    ca_file: str = text(
        env="DOCFLOW_IMAP_CA_FILE",
        doc="empty: the system's CAs; a PEM file for a private CA. The certificate is "
        "always checked, name included",
    )
    user: str = text(env="DOCFLOW_IMAP_USER", doc="the mailbox's login (needed with a host)")
    password: str = text(env="DOCFLOW_IMAP_PASSWORD", secret=True, doc="better: a file, next key")
    password_file: str = text(
        env="DOCFLOW_IMAP_PASSWORD_FILE",
        doc="the password is its content, and wins (keep it mode 0600, out of the TOML)",
    )
    folder: str = text("INBOX", env="DOCFLOW_IMAP_FOLDER", doc="where drafts arrive")
    processed_folder: str = text(
        env="DOCFLOW_IMAP_PROCESSED_FOLDER",
        doc="empty: handled mail stays and is flagged; a name: it is moved there "
        "(created if missing; any language, e.g. `Đã xử lý`)",
    )
    processed_flag: str = text(
        "$DocflowProcessed",
        env="DOCFLOW_IMAP_PROCESSED_FLAG",
        doc="a keyword. Not `\\Seen`: see below",
    )
    idle: bool = flag(
        True, env="DOCFLOW_IMAP_IDLE", doc="IDLE when the server offers it; `false`: poll only"
    )
    poll_seconds: int = integer(
        60,
        env="DOCFLOW_IMAP_POLL_SECONDS",
        minimum=1,
        maximum=86400,
        doc="how often it polls, and renews its lease",
    )
    # one serve process reads the mailbox; another takes over after
    lease_seconds: int = integer(
        180,
        env="DOCFLOW_IMAP_LEASE_SECONDS",
        minimum=2,
        maximum=86400,
        doc="at least twice the poll: how soon another process takes over",
    )
    test_pause_before_mark: float = real(
        0,
        env="DOCFLOW_TEST_IMAP_PAUSE_BEFORE_MARK",
        doc="tests only: seconds between storing a message and marking it, so that a test can "
        "kill a `serve` in that window",
    )

    @property
    def enabled(self) -> bool:
        return bool(self.host)

    @property
    def mailbox_key(self) -> str:
        """Names the mailbox in the database: its lease and the UIDs read from it."""
        return f"{self.user}@{self.host}:{self.port}/{self.folder}"


@dataclass(frozen=True, kw_only=True)
class OrgSettings:
    """`[org]`: the organisation whose documents these are."""

    code: str = text("ORG", doc="`{org}` in numbers; `config/docflow.toml`: BDT")
    name: str = text(doc="in docflow's mails")
    timezone: ZoneInfo = text_as(_zone, "Asia/Ho_Chi_Minh", doc="dates shown, and a number's year")
    default_workflow: str = text("cong-van", doc="for mail to the intake address without +workflow")
    default_language: str = text_as(_language, "vi", doc="`vi` or `en`")


@dataclass(frozen=True, kw_only=True)
class RemindersSettings:
    """`[reminders]`: the reminder and escalation sweep."""

    sweep_seconds: float = real(
        60, env="DOCFLOW_SWEEP_SECONDS", doc="how often it runs (tests set a second or less)"
    )


@dataclass(frozen=True, kw_only=True)
class SigningSettings:
    """`[signing]`: the keys that sign issued documents (Decree 30), and whom to trust.

    Paths are relative to the working directory; empty ones fall back to the keystore
    (`docflow pki init` writes a test organisation there)."""

    keystore: str = text(doc="per-user keys and images; empty: `<data_dir>/keystore`")
    org_certificate: str = text(doc="a PKCS#12 path or a `pkcs11:` URI; empty: the keystore's")
    org_passphrase_file: str = text(doc="the PKCS#12 passphrase, in a file of its own")
    org_seal_image: str = text(doc="PNG with transparency, drawn over the signer's image")
    trust_roots: str = text(doc="CA certificate files, comma-separated; empty: the keystore's CA")
    tsa_url: str = text(doc="an RFC 3161 time-stamping service: PAdES B-T instead of B-B")
    sweep_seconds: float = real(
        5, doc="how often approved documents of signing workflows are looked for and retried"
    )

    def keystore_dir(self, data_dir: Path) -> Path:
        return to_path(self.keystore) if self.keystore else data_dir / "keystore"

    def trust_root_paths(self, data_dir: Path) -> list[Path]:
        named = [to_path(p.strip()) for p in self.trust_roots.split(",") if p.strip()]
        return named or [self.keystore_dir(data_dir) / "ca.pem"]


@dataclass(frozen=True, kw_only=True)
class RenditionsSettings:
    """`[renditions]`: PDF renditions of drafts by warm LibreOffice converters."""

    converters: int = integer(
        2, env="DOCFLOW_RENDITIONS", doc="LibreOffice processes kept warm; 0: no renditions"
    )
    timeout_seconds: float = real(120, doc="a conversion taking longer is killed and retried")
    max_jobs: int = integer(200, doc="a converter is restarted after this many conversions")
    max_attempts: int = integer(3, doc="a file that fails this often is left `failed`")
    sweep_seconds: float = real(2, doc="how often stored versions are looked for")


def _languages(value: str) -> str:
    """Tesseract's `vie+eng`: letters, digits and `_`, joined by `+`."""
    if not all(part.isascii() and part.replace("_", "").isalnum() for part in value.split("+")):
        raise ValueError(f"expected languages such as 'vie+eng', got {value!r}")
    return value


@dataclass(frozen=True, kw_only=True)
class OcrSettings:
    """`[ocr]`: text read from scanned PDFs and photos (ocrmypdf, Tesseract) after intake."""

    enabled: bool = flag(True, env="DOCFLOW_OCR", doc="false: scans and photos keep no text")
    languages: str = text_as(_languages, "vie+eng", doc="Tesseract's language packs, `+`-joined")
    max_pages: int = integer(
        50, env="DOCFLOW_OCR_MAX_PAGES", minimum=1, doc="pages read per file; the rest recorded"
    )
    timeout_seconds: float = real(
        600, minimum=1, doc="a file whose OCR ran longer (pauses for mail not counted) fails"
    )
    jobs: int = integer(
        1, env="DOCFLOW_OCR_JOBS", minimum=1, maximum=64, doc="CPU cores one file's OCR may use"
    )
    max_attempts: int = integer(3, minimum=1, doc="tries of a file whose OCR crashed")
    sweep_seconds: float = real(5, doc="how often stored versions are looked for")
