"""Each setting is declared once; the docs, the shipped file and the variables agree with it."""

from __future__ import annotations

import tomllib
from typing import Any

import pytest

from docflow.config import ENV_KEYS, PACKAGE_ROOT, declared, load_settings
from docflow.config.table import DOCS, main, update
from docflow.errors import SettingsError

SHIPPED = PACKAGE_ROOT / "config" / "docflow.toml"
# every variable docflow read before the settings were declared per section (issue 12)
VARIABLES = """DATA_DIR WORKFLOWS_DIR LOG_LEVEL DATABASE_URL HTTP_HOST HTTP_PORT REUSE_PORT BASE_URL
ADMIN_TOKEN SMTP_HOST SMTP_PORT LMTP MAX_MESSAGE_SIZE INTAKE_ADDRESS ANALYSIS_PROCESSES
REQUIRE_AUTHENTICATED_SENDER TRUSTED_AUTHSERV_ID VERIFY_DKIM RATE_LIMIT RATE_WINDOW_SECONDS
RELAY_HOST RELAY_PORT FROM_ADDRESS BOUNCE_ADDRESS IMAP_HOST IMAP_PORT IMAP_TLS IMAP_CA_FILE
IMAP_USER IMAP_PASSWORD IMAP_PASSWORD_FILE IMAP_FOLDER IMAP_PROCESSED_FOLDER IMAP_PROCESSED_FLAG
IMAP_IDLE IMAP_POLL_SECONDS IMAP_LEASE_SECONDS SWEEP_SECONDS TEST_IMAP_PAUSE_BEFORE_MARK"""
# and the ones added since, each with its issue
ADDED = """RENDITIONS"""  # issue 13: [renditions] converters
ADDED += " OCR OCR_MAX_PAGES OCR_JOBS"  # issue 15: [ocr] enabled, max_pages, jobs
ADDED += " BODY_AS_DRAFT"  # issue 15: intake.body_as_draft


def _dotted(table: dict[str, Any], prefix: str = "") -> list[str]:
    keys = []
    for name, value in table.items():
        if isinstance(value, dict):
            keys += _dotted(value, f"{prefix}{name}.")
        else:
            keys.append(prefix + name)
    return keys


def test_the_docs_tables_are_written_from_the_declarations() -> None:
    text = DOCS.read_text(encoding="utf-8")
    assert text.count("<!-- settings table ") == 2
    assert update(text) == text, "run: python -m docflow.config.table"
    assert main(["--check"]) == 0


def test_every_key_of_the_shipped_file_is_declared_and_every_variable_still_works() -> None:
    shipped = tomllib.loads(SHIPPED.read_text(encoding="utf-8"))
    shipped.pop("registers")
    assert set(_dotted(shipped)) <= {dotted for dotted, _ in declared()}
    assert {f"DOCFLOW_{v}" for v in (VARIABLES + " " + ADDED).split()} == set(ENV_KEYS)


def test_the_two_variables_read_elsewhere_before_are_settings_now() -> None:
    settings = load_settings(
        {
            "DOCFLOW_CONFIG": str(SHIPPED),
            "DOCFLOW_SWEEP_SECONDS": "0.2",
            "DOCFLOW_TEST_IMAP_PAUSE_BEFORE_MARK": "300",
        }
    )
    assert settings.reminders.sweep_seconds == 0.2
    assert settings.imap.test_pause_before_mark == 300.0
    defaults = load_settings({"DOCFLOW_CONFIG": str(SHIPPED)})
    assert (defaults.reminders.sweep_seconds, defaults.imap.test_pause_before_mark) == (60.0, 0.0)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DOCFLOW_HTTP_PORT": "x"}, "setting DOCFLOW_HTTP_PORT: expected a whole number, got 'x'"),
        ({"DOCFLOW_LOG_LEVEL": "loud"}, "setting log_level: unknown level 'LOUD'"),
        (
            {"DOCFLOW_INTAKE_ADDRESS": "noat"},
            "setting intake.address: 'noat' is not an e-mail address",
        ),
        (
            {"DOCFLOW_DATABASE_URL": "mysql://x"},
            "setting database.url: unsupported database URL 'mysql://x'",
        ),
        ({"DOCFLOW_LMTP": "maybe"}, "setting DOCFLOW_LMTP: expected true or false, got 'maybe'"),
        (
            {"DOCFLOW_SWEEP_SECONDS": "soon"},
            "setting DOCFLOW_SWEEP_SECONDS: expected a number, got 'soon'",
        ),
    ],
)
def test_a_bad_value_names_the_key_as_it_always_has(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError) as e:
        load_settings({"DOCFLOW_CONFIG": str(SHIPPED), **env})
    assert str(e.value) == message
