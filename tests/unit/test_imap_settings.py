"""The `[imap]` settings and the mailbox names sent to the server."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from docflow.config import PACKAGE_ROOT, ImapSettings, load_settings
from docflow.errors import SettingsError
from docflow.intake.imap_client import ImapError, ImapSession, mailbox_name

CONFIG = str(PACKAGE_ROOT / "config" / "docflow.toml")


def settings(**env: str) -> ImapSettings:
    return load_settings({"DOCFLOW_CONFIG": CONFIG, **env}).imap


def test_imap_is_off_until_a_host_is_set() -> None:
    assert not settings().enabled
    on = settings(DOCFLOW_IMAP_HOST="imap.gmail.com", DOCFLOW_IMAP_USER="vanban@gmail.com")
    assert on.enabled and (on.port, on.tls, on.folder) == (993, "tls", "INBOX")
    assert settings(DOCFLOW_IMAP_TLS="starttls").port == 143


def test_the_password_may_come_from_a_file(tmp_path: Path) -> None:
    secret = tmp_path / "imap-password"
    secret.write_text("abcd efgh ijkl mnop\n")
    imap = settings(DOCFLOW_IMAP_PASSWORD="ignored", DOCFLOW_IMAP_PASSWORD_FILE=str(secret))
    assert imap.password == "abcd efgh ijkl mnop"


@pytest.mark.parametrize(
    ("env", "key"),
    [
        ({"DOCFLOW_IMAP_TLS": "ssl"}, "DOCFLOW_IMAP_TLS"),
        ({"DOCFLOW_IMAP_PASSWORD_FILE": "/nonexistent/pw"}, "DOCFLOW_IMAP_PASSWORD_FILE"),
        ({"DOCFLOW_IMAP_HOST": "mail.example"}, "imap.user"),  # not given: the TOML key
        (
            {"DOCFLOW_IMAP_HOST": "h", "DOCFLOW_IMAP_USER": "u", "DOCFLOW_IMAP_POLL_SECONDS": "99"},
            "imap.lease_seconds",
        ),
        ({"DOCFLOW_IMAP_CA_FILE": "/nonexistent/ca.pem"}, "DOCFLOW_IMAP_CA_FILE"),
    ],
)
def test_a_bad_imap_setting_names_its_key(env: dict[str, str], key: str) -> None:
    with pytest.raises(SettingsError) as e:
        settings(**env)
    assert e.value.key == key


def test_mailbox_names_are_quoted_modified_utf7() -> None:
    assert mailbox_name("INBOX") == '"INBOX"'
    assert mailbox_name("Đã xử lý") == '"&ARAA4w- x&Hu0- l&AP0-"'
    assert mailbox_name("[Gmail]/All Mail") == '"[Gmail]/All Mail"'
    assert mailbox_name('A&B "x"') == '"A&-B \\"x\\""'


async def test_a_flag_the_server_does_not_keep_asks_for_a_processed_folder_not_seen() -> None:
    """\\Seen is what a person opening the message sets: never suggested instead."""
    imap = settings(DOCFLOW_IMAP_HOST="imap.example", DOCFLOW_IMAP_USER="vanban@example.vn")
    session = ImapSession(None, imap, asyncio.get_running_loop().create_future())
    session.permanent_flags = {"\\answered", "\\deleted", "\\seen"}  # no keywords (\*)
    with pytest.raises(ImapError) as e:
        session.check_flag()
    assert "imap.processed_folder" in str(e.value) and "Seen" not in str(e.value)
