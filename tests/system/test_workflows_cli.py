"""`docflow workflows list|check` and `docflow user role…` as an admin runs them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from docflow.config import PACKAGE_ROOT
from tests.system.conftest import AUTHOR, AUTHOR_NAME, cli_ok, docflow_env, run_cli

SHIPPED = PACKAGE_ROOT / "config" / "workflows"
HEAD = "truongban@bandantoc.gov.vn"
DEPUTY = "photruongban@bandantoc.gov.vn"


def no_database_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """Workflow commands read files only: a database that does not exist must not matter."""
    return docflow_env(tmp_path, f"sqlite://{tmp_path / 'absent.sqlite3'}", 2526, **extra)


def broken_copy(tmp_path: Path, name: str, old: str, new: str) -> Path:
    """The shipped workflows with one mistake in one file."""
    directory = tmp_path / "workflows"
    shutil.copytree(SHIPPED, directory)
    path = directory / name
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{name} has no {old!r} to break"
    path.write_text(text.replace(old, new), encoding="utf-8")
    return directory


# --- workflows check / list -----------------------------------------------------------------


async def test_workflows_check_passes_the_shipped_files(tmp_path: Path) -> None:
    result = await cli_ok(no_database_env(tmp_path), "workflows", "check")
    shipped = len(list(SHIPPED.glob("*.toml")))
    assert result.stdout.startswith(f"{shipped} workflows OK"), str(result)


async def test_workflows_list_json_shows_stages_with_assignees_quorum_and_due(
    tmp_path: Path,
) -> None:
    result = await cli_ok(no_database_env(tmp_path), "workflows", "list", "--json")
    listed = {w["key"]: w for w in json.loads(result.stdout)}
    assert {"cong-van", "ke-hoach", "quyet-dinh", "mac-dinh"} <= set(listed)
    assert [k for k, w in listed.items() if w["default"]] == ["cong-van"]
    plan = listed["ke-hoach"]
    assert (plan["name"], plan["type"], plan["register"]) == (
        {"vi": "Kế hoạch", "en": "Plan"},
        "KH",
        "KH",
    )
    review, signoff = plan["stages"]
    assert review == {
        "key": "review",
        "name": {"vi": "Phòng chuyên môn xem xét", "en": "Department review"},
        "assignees": ["role:truong-phong"],
        "quorum": "all",
        "due": "2d",
        "remind_every": "1d",
        "escalate_to": ["role:pho-truong-ban"],
        "require_code": False,
        "sign": False,
    }
    assert (signoff["key"], signoff["quorum"], signoff["due"]) == ("signoff", "any", "1d")
    assert (listed["mac-dinh"]["type"], listed["mac-dinh"]["register"]) == ("VB", "VB")


async def test_workflows_list_text_shows_each_stage(tmp_path: Path) -> None:
    result = await cli_ok(no_database_env(tmp_path), "workflows", "list")
    assert "ke-hoach  [KH]  Kế hoạch / Plan" in result.stdout, str(result)
    assert "assignees role:truong-phong; quorum all; due 2d" in result.stdout, str(result)


async def test_workflows_check_names_file_stage_and_field_and_exits_1(tmp_path: Path) -> None:
    directory = broken_copy(tmp_path, "ke-hoach.toml", 'quorum = "any"', 'quorum = "most"')
    env = no_database_env(tmp_path, DOCFLOW_WORKFLOWS_DIR=str(directory))
    for command in (("workflows", "check"), ("workflows", "list")):
        result = await run_cli(env, *command)
        assert result.returncode == 1, str(result)
        assert "ke-hoach.toml: stages[2] (signoff).quorum" in result.stderr, str(result)
        assert "'all', 'any' or a whole number" in result.stderr, str(result)
        assert "Traceback" not in result.stderr, str(result)


async def test_workflows_check_reports_a_typo_in_a_stage_key(tmp_path: Path) -> None:
    directory = broken_copy(tmp_path, "quyet-dinh.toml", "assignees = ", "asignees = ")
    env = no_database_env(tmp_path, DOCFLOW_WORKFLOWS_DIR=str(directory))
    result = await run_cli(env, "workflows", "check")
    assert result.returncode == 1, str(result)
    assert "quyet-dinh.toml: stages[1] (review).asignees" in result.stderr, str(result)


async def test_workflows_check_refuses_a_register_docflow_toml_lacks(tmp_path: Path) -> None:
    directory = broken_copy(tmp_path, "mac-dinh.toml", 'register = "VB"', 'register = "ZZ"')
    env = no_database_env(tmp_path, DOCFLOW_WORKFLOWS_DIR=str(directory))
    result = await run_cli(env, "workflows", "check")
    assert result.returncode == 1, str(result)
    assert "mac-dinh.toml: register" in result.stderr, str(result)
    assert "unknown register 'ZZ'" in result.stderr, str(result)


async def test_serve_refuses_to_start_with_a_broken_workflow_file(tmp_path: Path) -> None:
    directory = broken_copy(tmp_path, "cong-van.toml", 'due = "2d"', 'due = "two days"')
    env = no_database_env(tmp_path, DOCFLOW_WORKFLOWS_DIR=str(directory))
    result = await run_cli(env, "serve", within=30)
    assert result.returncode != 0, str(result)
    assert "cong-van.toml: stages[1] (review).due" in result.stderr, str(result)
    assert "Traceback" not in result.stderr, str(result)


# --- roles (both databases) -----------------------------------------------------------------


async def roles_json(env: dict[str, str]) -> dict[str, list[str]]:
    data: dict[str, list[str]] = json.loads((await cli_ok(env, "user", "roles", "--json")).stdout)
    return data


async def test_user_role_add_and_remove_show_in_user_roles(env: dict[str, str]) -> None:
    await cli_ok(env, "user", "add", AUTHOR, "--name", AUTHOR_NAME)
    await cli_ok(env, "user", "add", HEAD, "--name", "Trưởng Ban", "--role", "truong-ban")
    await cli_ok(env, "user", "add", DEPUTY, "--name", "Phó Trưởng Ban", "--role", "staff")

    added = await cli_ok(env, "user", "role", "add", DEPUTY.upper(), "pho-truong-ban")
    assert f"{DEPUTY}, roles: pho-truong-ban, staff" in added.stdout, str(added)
    await cli_ok(env, "user", "role", "add", DEPUTY, "truong-ban")
    await cli_ok(env, "user", "role", "add", DEPUTY, "truong-ban")  # held already: no change

    roles = await roles_json(env)
    assert roles["truong-ban"] == [DEPUTY, HEAD]
    assert roles["pho-truong-ban"] == [DEPUTY]
    assert roles["staff"] == [DEPUTY, AUTHOR]
    # roles the shipped workflows assign that nobody holds yet are listed, empty
    assert roles["truong-phong"] == []

    await cli_ok(env, "user", "role", "remove", DEPUTY, "truong-ban")
    roles = await roles_json(env)
    assert roles["truong-ban"] == [HEAD]
    listed = json.loads((await cli_ok(env, "user", "list", "--json")).stdout)
    assert {u["email"]: u["roles"] for u in listed}[DEPUTY] == ["pho-truong-ban", "staff"]

    text = (await cli_ok(env, "user", "roles")).stdout
    assert "truong-phong  (used by ke-hoach.review, quyet-dinh.review)" in text, text
    assert "nobody holds this role" in text, text


async def test_user_role_mistakes_are_refused_with_a_reason(env: dict[str, str]) -> None:
    await cli_ok(env, "user", "add", HEAD, "--name", "Trưởng Ban", "--role", "truong-ban")
    cases = [
        (("user", "role", "add", "ai.do@bandantoc.gov.vn", "truong-ban"), "no user"),
        (("user", "role", "add", HEAD, "Trưởng Ban"), "not a role name"),
        (("user", "role", "remove", HEAD, "truong-phong"), "does not have the role"),
        (("user", "add", AUTHOR, "--name", AUTHOR_NAME, "--role", "Văn thư"), "not a role name"),
    ]
    for args, message in cases:
        result = await run_cli(env, *args)
        assert result.returncode == 1, str(result)
        assert message in result.stderr, str(result)
        assert "Traceback" not in result.stderr, str(result)
    assert (await roles_json(env))["truong-ban"] == [HEAD]


async def test_user_delegate_records_a_window_in_office_time(env: dict[str, str]) -> None:
    await cli_ok(env, "user", "add", HEAD, "--name", "Trưởng Ban", "--role", "truong-ban")
    await cli_ok(env, "user", "add", DEPUTY, "--name", "Phó Trưởng Ban")
    made = await cli_ok(
        env,
        "user",
        "delegate",
        HEAD,
        "--to",
        DEPUTY,
        "--from",
        "2026-12-01",
        "--until",
        "2026-12-05",
        "--capacity",
        "tuq",
    )
    assert "(TUQ.)" in made.stdout, str(made)
    rows = json.loads((await cli_ok(env, "user", "delegations", "--json")).stdout)
    # 1 to 5 December included, Asia/Ho_Chi_Minh (UTC+7): ends at 6 December 00:00 there
    assert rows == [
        {
            "user": HEAD,
            "delegate": DEPUTY,
            "capacity": "TUQ",
            "from": "2026-11-30T17:00:00+00:00",
            "until": "2026-12-05T17:00:00+00:00",
        }
    ]
    wrong = await run_cli(
        env, "user", "delegate", HEAD, "--to", HEAD, "--from", "2026-12-01", "--until", "2026-12-02"
    )
    assert wrong.returncode != 0 and "themselves" in wrong.stderr
