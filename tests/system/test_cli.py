"""The `docflow` command as an operator uses it: settings, migrate, users, ingest, quarantine."""

from __future__ import annotations

import asyncio
import json
import mailbox
import re
from collections.abc import Awaitable, Callable
from email import message_from_string, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import click
import pytest

from docflow.config import PACKAGE_ROOT
from docflow.storage.blobs import BlobStore
from tests.conftest import Relay
from tests.filebuilders import make_docx_python_docx
from tests.system.conftest import (
    AUTHOR,
    AUTHOR_NAME,
    DOCX,
    Server,
    cli_ok,
    docflow_env,
    draft,
    mail_to,
    run_cli,
    sha256,
    wait_until,
)

Spawn = Callable[[dict[str, str]], Awaitable[Server]]
STRANGER = "nguoi.la@example.vn"
STRANGER_NAME = "Nguyễn Văn Lạ"


# --- settings -------------------------------------------------------------------------


async def test_bad_smtp_port_variable_stops_serve_naming_the_variable(tmp_path: Path) -> None:
    env = docflow_env(tmp_path, f"sqlite://{tmp_path / 'db.sqlite3'}", 2526)
    env["DOCFLOW_SMTP_PORT"] = "abc"
    result = await run_cli(env, "serve", within=30)
    assert result.returncode != 0, str(result)
    assert "DOCFLOW_SMTP_PORT" in result.stderr, str(result)
    assert "Traceback" not in result.stderr, str(result)


@pytest.mark.parametrize("value", ['["docx", "exe"]', "42"], ids=["unknown-type", "not-a-list"])
async def test_bad_allowed_types_in_config_file_stops_serve_naming_the_key(
    tmp_path: Path, value: str
) -> None:
    text = (PACKAGE_ROOT / "config" / "docflow.toml").read_text(encoding="utf-8")
    lines = [
        f"allowed_types = {value}" if line.startswith("allowed_types") else line
        for line in text.splitlines()
    ]
    assert lines != text.splitlines(), "docflow.toml has no allowed_types line to replace"
    config = tmp_path / "custom.toml"
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")
    env = docflow_env(tmp_path, f"sqlite://{tmp_path / 'db.sqlite3'}", 2526)
    env["DOCFLOW_CONFIG"] = str(config)
    result = await run_cli(env, "serve", within=30)
    assert result.returncode != 0, str(result)
    assert "intake.allowed_types" in result.stderr, str(result)
    assert "Traceback" not in result.stderr, str(result)


# --- migrate --------------------------------------------------------------------------


async def test_serve_refuses_an_unmigrated_database_until_docflow_migrate(
    unmigrated_database_url: str, relay: Relay, tmp_path: Path, spawn: Spawn
) -> None:
    env = docflow_env(tmp_path, unmigrated_database_url, relay.port)
    refused = await run_cli(env, "serve", within=60)
    assert refused.returncode != 0, str(refused)
    assert "docflow migrate" in refused.stderr, str(refused)
    assert "Traceback" not in refused.stderr, str(refused)

    migrated = await cli_ok(env, "migrate")
    assert "applied" in migrated.stdout, str(migrated)
    again = await cli_ok(env, "migrate")
    assert "up to date" in again.stdout, str(again)

    server = await spawn(env)  # waits for /healthz 200
    status, body = await server.api("/healthz", token=None)
    assert (status, body) == (200, {"status": "ok", "database": "ok"})


# --- users ----------------------------------------------------------------------------


async def test_user_add_shows_in_user_list_json_and_a_second_add_is_refused(
    env: dict[str, str],
) -> None:
    added = await cli_ok(env, "user", "add", AUTHOR, "--name", AUTHOR_NAME, "--role", "staff")
    assert AUTHOR in added.stdout

    listed = json.loads((await cli_ok(env, "user", "list", "--json")).stdout)
    assert [(u["email"], u["name"], u["roles"], u["active"]) for u in listed] == [
        (AUTHOR, AUTHOR_NAME, ["staff"], True)
    ]

    for spelling in (AUTHOR, AUTHOR.upper()):
        again = await run_cli(env, "user", "add", spelling, "--name", "Ai đó", "--role", "staff")
        assert again.returncode != 0, str(again)
        assert f"a user {AUTHOR} exists already" in again.stderr, str(again)
        assert "Traceback" not in again.stderr, str(again)
    listed = json.loads((await cli_ok(env, "user", "list", "--json")).stdout)
    assert [u["name"] for u in listed] == [AUTHOR_NAME]


# --- ingest and the quarantine --------------------------------------------------------

KNOWN_DRAFTS = [
    (
        "Kế hoạch tổ chức Hội nghị tổng kết công tác dân tộc năm 2026",
        "Kế hoạch hội nghị.docx",
        make_docx_python_docx(["Kế hoạch tổ chức Hội nghị tổng kết công tác dân tộc."]),
        DOCX,
    ),
    (
        "Báo cáo tình hình thực hiện chính sách dân tộc quý III",
        "Báo cáo quý III.txt",
        "Tình hình thực hiện chính sách dân tộc ở vùng đồng bào Mường.\n".encode(),
        "text/plain",
    ),
]
STRANGER_DRAFT = (
    "Công văn đề nghị hỗ trợ kinh phí đào tạo cán bộ người dân tộc thiểu số",
    "Công văn đề nghị.docx",
    make_docx_python_docx(["Đề nghị hỗ trợ kinh phí đào tạo."]),
    DOCX,
)


def write_batch(kind: str, root: Path, messages: list[EmailMessage]) -> list[Path]:
    """The messages as an operator would have them: .eml files, one mbox, or a Maildir."""
    if kind == "eml":
        paths = []
        for i, m in enumerate(messages):
            path = root / f"thư {i + 1}.eml"
            path.write_bytes(m.as_bytes())
            paths.append(path)
        return paths
    if kind == "mbox":
        path = root / "hộp thư.mbox"
        box = mailbox.mbox(str(path))
        for m in messages:
            box.add(m)
        box.close()
        return [path]
    path = root / "Maildir"
    maildir = mailbox.Maildir(str(path), create=True)
    for m in messages:
        maildir.add(m)
    maildir.close()
    return [path]


def assert_is_raw_of(out: str, sent: EmailMessage, data: bytes) -> None:
    shown = message_from_string(out, policy=policy.default)
    assert isinstance(shown, EmailMessage)
    assert shown["Message-ID"] == sent["Message-ID"]
    assert shown["Subject"] == sent["Subject"]
    assert [p.get_content() for p in shown.iter_attachments()] == [data]


async def documents_by_title(env: dict[str, str]) -> dict[str, dict[str, Any]]:
    items = json.loads((await cli_ok(env, "documents", "list", "--json")).stdout)
    return {d["title"]: d for d in items}


@pytest.mark.parametrize("kind", ["eml", "mbox", "maildir"])
async def test_ingest_makes_documents_and_quarantines_the_unknown_sender_until_released(
    env: dict[str, str], relay: Relay, tmp_path: Path, kind: str
) -> None:
    # two .eml files: one draft and the stranger's; mbox and Maildir: two drafts and the stranger's
    known = KNOWN_DRAFTS[:1] if kind == "eml" else KNOWN_DRAFTS
    sent = [draft(*d) for d in known]
    stranger = draft(*STRANGER_DRAFT, sender=STRANGER, sender_name=STRANGER_NAME)
    batch = [*sent[:1], stranger, *sent[1:]]
    await cli_ok(env, "user", "add", AUTHOR, "--name", AUTHOR_NAME, "--role", "staff")
    inbox = tmp_path / "inbox"
    inbox.mkdir()

    result = await cli_ok(env, "ingest", *map(str, write_batch(kind, inbox, batch)))
    summary = result.stdout.strip().splitlines()[-1]
    assert summary.startswith(f"{len(batch)} message(s): "), str(result)
    assert f"{len(known)} accepted" in summary, str(result)
    assert "1 quarantined (unknown_sender)" in summary, str(result)

    docs = await documents_by_title(env)
    assert sorted(docs) == sorted(title for title, *_ in known)
    for title, filename, data, mime in known:
        shown = json.loads(
            (await cli_ok(env, "documents", "show", docs[title]["code"], "--json")).stdout
        )
        assert (shown["title"], shown["author"], shown["status"]) == (title, AUTHOR, "in_review")
        [version] = shown["versions"]
        assert [
            (f["name"], f["role"], f["mime"], f["size"], f["sha256"]) for f in version["files"]
        ] == [(filename, "main", mime, len(data), sha256(data))]
        receipts = [m for m in relay.to(AUTHOR) if docs[title]["code"] in str(m["Subject"])]
        assert len(receipts) == 1, [str(m["Subject"]) for m in relay.to(AUTHOR)]
    assert relay.to(STRANGER) == []  # no backscatter to unknown senders

    [entry] = json.loads((await cli_ok(env, "quarantine", "list", "--json")).stdout)
    assert (entry["reason"], entry["from"], entry["subject"]) == (
        "unknown_sender",
        STRANGER,
        STRANGER_DRAFT[0],
    )
    raw = await cli_ok(env, "quarantine", "show", str(entry["id"]), "--raw")
    assert_is_raw_of(raw.stdout, stranger, STRANGER_DRAFT[2])
    if kind == "eml":  # the file is the message, byte for byte
        assert raw.stdout == stranger.as_bytes().decode()

    await cli_ok(env, "user", "add", STRANGER, "--name", STRANGER_NAME, "--role", "staff")
    released = await cli_ok(env, "quarantine", "release", str(entry["id"]))
    assert released.stdout.startswith("accepted: DF-"), str(released)
    docs = await documents_by_title(env)
    doc = docs[STRANGER_DRAFT[0]]
    assert doc["author"] == STRANGER and doc["code"] in released.stdout
    assert json.loads((await cli_ok(env, "quarantine", "list", "--json")).stdout) == []
    await wait_until(lambda: mail_to(relay, STRANGER), what="receipt to the sender")
    assert doc["code"] in str(relay.to(STRANGER)[0]["Subject"])


# --- help -----------------------------------------------------------------------------


def command_paths(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths: list[tuple[str, ...]] = []
    for name, command in sorted(group.commands.items()):
        paths.append((*prefix, name))
        if isinstance(command, click.Group):
            paths.extend(command_paths(command, (*prefix, name)))
    return paths


async def test_help_on_docflow_and_every_subcommand_exits_0(tmp_path: Path) -> None:
    from docflow.cli import main

    paths = [(), *command_paths(main)]
    assert {
        ("serve",),
        ("migrate",),
        ("user", "add"),
        ("ingest",),
        ("quarantine", "list"),
        ("quarantine", "show"),
        ("quarantine", "release"),
        ("demo",),
    } <= set(paths)
    env = docflow_env(tmp_path, f"sqlite://{tmp_path / 'db.sqlite3'}", 2526)
    results = await asyncio.gather(*(run_cli(env, *p, "--help", within=60) for p in paths))
    for path, result in zip(paths, results, strict=True):
        assert result.returncode == 0, str(result)
        assert result.stdout.startswith(f"Usage: docflow {' '.join(path)}".rstrip()), str(result)


# --- bad options ----------------------------------------------------------------------


@pytest.mark.parametrize("command", [("documents", "list"), ("quarantine", "list")], ids=" ".join)
async def test_negative_limit_is_refused_with_a_usage_message_not_a_traceback(
    env: dict[str, str], command: tuple[str, str]
) -> None:
    result = await run_cli(env, *command, "--limit", "-1")
    assert result.returncode != 0, str(result)
    assert "--limit" in result.stderr, str(result)
    assert "Traceback" not in result.stderr, str(result)


# --- tasks ----------------------------------------------------------------------------


async def test_task_decide_records_a_paper_decision_and_the_stage_moves_on(
    env: dict[str, str], tmp_path: Path
) -> None:
    reviewer, signer = "hung.nv@bandantoc.gov.vn", "minh.td@bandantoc.gov.vn"
    await cli_ok(env, "user", "add", AUTHOR, "--name", AUTHOR_NAME, "--role", "staff")
    await cli_ok(
        env, "user", "add", reviewer, "--name", "Nguyễn Văn Hùng", "--role", "chanh-van-phong"
    )
    await cli_ok(env, "user", "add", signer, "--name", "Trần Đức Minh", "--role", "truong-ban")
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    await cli_ok(env, "ingest", *map(str, write_batch("eml", inbox, [draft(*KNOWN_DRAFTS[0])])))

    [open_task] = json.loads((await cli_ok(env, "task", "list", "--json")).stdout)
    assert (open_task["assignee"], open_task["state"]) == (reviewer, "open")
    listed = (await cli_ok(env, "task", "list", "--assignee", reviewer)).stdout
    assert open_task["code"] in listed and "open" in listed

    decided = await cli_ok(
        env,
        "task",
        "decide",
        str(open_task["id"]),
        "approve",
        "--comment",
        "Đã ký duyệt trên bản giấy.",
        "--entered-by",
        "Văn thư Nguyễn Thị Mai",
    )
    assert f"{open_task['code']}: task {open_task['id']} approved" in decided.stdout

    tasks = json.loads((await cli_ok(env, "task", "list", "--json")).stdout)
    assert [(t["assignee"], t["state"], t["comment"]) for t in tasks] == [
        (signer, "open", ""),
        (reviewer, "approved", "Đã ký duyệt trên bản giấy."),
    ]
    again = await run_cli(env, "task", "decide", str(open_task["id"]), "reject")
    assert again.returncode != 0 and "is approved, not open" in again.stderr, str(again)
    assert "Traceback" not in again.stderr


async def test_register_book_and_archive_record_after_issuing_from_the_cli(
    env: dict[str, str], tmp_path: Path
) -> None:
    reviewer, signer = "hung.nv@bandantoc.gov.vn", "minh.td@bandantoc.gov.vn"
    await cli_ok(env, "user", "add", AUTHOR, "--name", AUTHOR_NAME, "--role", "staff")
    for email, name, role in (
        (reviewer, "Nguyễn Văn Hùng", "chanh-van-phong"),
        (signer, "Trần Đức Minh", "truong-ban"),
    ):
        await cli_ok(env, "user", "add", email, "--name", name, "--role", role)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    await cli_ok(env, "ingest", *map(str, write_batch("eml", inbox, [draft(*KNOWN_DRAFTS[0])])))
    for _ in range(2):  # review, then sign-off
        [t] = json.loads((await cli_ok(env, "task", "list", "--state", "open", "--json")).stdout)
        await cli_ok(env, "task", "decide", str(t["id"]), "approve")

    registers = json.loads((await cli_ok(env, "registers", "list", "--json")).stdout)
    cv = next(r for r in registers if r["key"] == "CV")
    assert cv["example"] == "01/BDT-VP" and list(cv["years"].values()) == [1]
    book = (await cli_ok(env, "registers", "show", "CV")).stdout
    assert "01/BDT-VP" in book and KNOWN_DRAFTS[0][0] in book and "Trần Đức Minh" in book

    shown = json.loads((await cli_ok(env, "archive", "show", "01/BDT-VP", "--json")).stdout)
    assert (shown["number"], shown["title"], shown["legal_hold"]) == (
        "01/BDT-VP",
        KNOWN_DRAFTS[0][0],
        False,
    )
    await cli_ok(env, "archive", "hold", "01/BDT-VP", "--on", "--reason", "Thanh tra", "--by", "qt")
    shown = json.loads((await cli_ok(env, "archive", "show", shown["code"], "--json")).stdout)
    assert shown["legal_hold"] is True
    missing = await run_cli(env, "registers", "show", "ZZ")
    assert missing.returncode != 0 and "no register 'ZZ'" in missing.stderr

    # the record re-checked against its hashes; one changed byte in the store is found
    verified = await cli_ok(env, "archive", "verify", "01/BDT-VP", "--json")
    report = json.loads(verified.stdout)
    assert report["ok"] is True and report["files"], report
    store = BlobStore(Path(env["DOCFLOW_DATA_DIR"]) / "blobs")
    blob = store.path_of(report["files"][0]["sha256"])
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0x01
    blob.chmod(0o644)
    blob.write_bytes(bytes(data))
    broken = await run_cli(env, "archive", "verify", "01/BDT-VP")
    assert broken.returncode == 1, str(broken)
    assert "FAILED" in broken.stdout and "changed: its SHA-256 is" in broken.stdout


async def test_pki_init_makes_a_test_ca_organisation_and_a_certificate_per_signer(
    env: dict[str, str],
) -> None:
    """`pki init` knows the signers from the workflows' sign-off stages; `pki list` shows
    every certificate with TEST in its subject and its expiry; a second init is refused."""
    await cli_ok(env, "user", "add", AUTHOR, "--name", AUTHOR_NAME, "--role", "staff")
    await cli_ok(
        env,
        "user",
        "add",
        "minh.td@bandantoc.gov.vn",
        "--name",
        "Trần Đức Minh",
        "--role",
        "truong-ban",
    )
    made = await cli_ok(env, "pki", "init")
    assert "minh.td@bandantoc.gov.vn" in made.stdout and AUTHOR not in made.stdout
    listed = json.loads((await cli_ok(env, "pki", "list", "--json")).stdout)
    subjects = [c["subject"] for c in listed]
    assert len(listed) == 3 and all("TEST" in s for s in subjects), subjects
    assert any("Trần Đức Minh" in s for s in subjects), subjects
    assert not any(c["expired"] or c["expires_soon"] for c in listed)
    keystore = Path(env["DOCFLOW_DATA_DIR"]) / "keystore"
    assert all((p.stat().st_mode & 0o077) == 0 for p in keystore.glob("**/*.pass"))
    again = await run_cli(env, "pki", "init")
    assert again.returncode != 0 and "already there" in again.stderr
    assert "Traceback" not in again.stderr


async def test_serve_warns_of_a_signing_certificate_that_expires_within_30_days(
    env: dict[str, str], spawn: Spawn
) -> None:
    from datetime import UTC, datetime, timedelta

    from docflow.archive.signing.pki import init_test_pki, issue_user_certificate

    keystore = Path(env["DOCFLOW_DATA_DIR"]) / "keystore"
    pki = init_test_pki(keystore, "Ban Dân tộc", "BDT", [])
    soon = datetime.now(UTC) + timedelta(days=12, hours=1)
    issue_user_certificate(pki, "minh.td@bandantoc.gov.vn", "Trần Đức Minh", not_after=soon)
    server = await spawn(env)

    async def warned() -> bool:
        return "minh.td_bandantoc.gov.vn" in server.log_tail(20000)

    await wait_until(warned, what="the expiry warning in serve's log")
    line = next(x for x in server.log_tail(20000).splitlines() if "minh.td_bandantoc" in x)
    assert "WARNING" in line.upper() and f"expires on {soon:%Y-%m-%d}, in 12 days" in line, line
    assert "org-BDT" not in server.log_tail(20000), "only the certificate that expires soon"
    listed = json.loads((await cli_ok(env, "pki", "list", "--json")).stdout)
    assert [c["name"] for c in listed if c["expires_soon"]] == ["minh.td_bandantoc.gov.vn"]


# --- demo -----------------------------------------------------------------------------


async def test_demo_mails_drafts_issues_the_letter_and_the_archivist_finds_it(
    env: dict[str, str], relay: Relay, spawn: Spawn
) -> None:
    import aiohttp

    from docflow.cli.demo import ARCHIVIST, ARCHIVIST_PASSWORD

    env = {**env, "DOCFLOW_RENDITIONS": "1"}  # the demo's decision is a DOCX, signed
    server = await spawn(env)
    result = await cli_ok(env, "demo")
    assert "issued: Số 01/BDT-VP" in result.stdout, str(result)
    assert "TEST certificates made in" in result.stdout
    assert "signed by Trần Đức Minh and the organisation (TEST certificates): Số 01/QĐ-BDT" in (
        result.stdout
    ), str(result)
    verified = await cli_ok(env, "archive", "verify", "01/QĐ-BDT")
    assert verified.stdout.strip().endswith("ok") and "signature Organisation" in verified.stdout
    assert f"{server.base}/archive" in result.stdout

    jar = aiohttp.CookieJar(unsafe=True)  # cookies of an IP-address host
    async with aiohttp.ClientSession(cookie_jar=jar) as http:
        async with http.get(f"{server.base}/archive") as r:  # off to the sign-in page
            csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', await r.text())
        assert csrf and "next=/archive" in str(r.url)
        form = {"csrf": csrf.group(1), "email": ARCHIVIST[0], "password": ARCHIVIST_PASSWORD}
        form["next"] = "/archive"
        async with http.post(f"{server.base}/login", data=form) as r:
            assert r.status == 200 and str(r.url).endswith("/archive")
        async with http.get(f"{server.base}/archive", params={"q": "bao cao cong tac"}) as r:
            page = await r.text()
    assert "01/BDT-VP" in page and "<mark>" in page

    async def issued_mail() -> list[EmailMessage]:
        return [m for m in relay.to(AUTHOR) if "Ban hành" in str(m["Subject"])]

    await wait_until(issued_mail, what="the issued letter mailed to its author")
