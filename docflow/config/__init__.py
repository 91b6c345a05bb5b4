"""docflow's settings, declared per `docflow.toml` section (see `settings` and `sections`)."""

from docflow.config.sections import (
    ALL_KINDS,
    IMAP_TLS_MODES,
    DatabaseSettings,
    HttpSettings,
    ImapSettings,
    IntakeSettings,
    OrgSettings,
    RelaySettings,
    RemindersSettings,
    SmtpSettings,
)
from docflow.config.settings import (
    ENV_KEYS,
    PACKAGE_ROOT,
    Register,
    Settings,
    declared,
    default_config_path,
    load_settings,
)

__all__ = [
    "ALL_KINDS",
    "ENV_KEYS",
    "IMAP_TLS_MODES",
    "PACKAGE_ROOT",
    "DatabaseSettings",
    "HttpSettings",
    "ImapSettings",
    "IntakeSettings",
    "OrgSettings",
    "Register",
    "RelaySettings",
    "RemindersSettings",
    "Settings",
    "SmtpSettings",
    "declared",
    "default_config_path",
    "load_settings",
]
