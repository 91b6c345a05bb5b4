"""Workflow files: what a valid one means, and errors that name file, stage and field."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from docflow.config import PACKAGE_ROOT, load_settings
from docflow.errors import SettingsError
from docflow.workflow.definitions import Assignee, Quorum, format_duration, parse_duration
from docflow.workflow.loader import check_workflows, load_workflows

SHIPPED = PACKAGE_ROOT / "config" / "workflows"
REGISTERS = ("CV", "KH", "MAT", "QD", "VB")

GOOD = """\
key = "ke-hoach"
name = { vi = "Kế hoạch", en = "Plan" }
type = "KH"
register = "KH"
distribute_to = ["vanthu@bandantoc.gov.vn"]
retention = "20y"

[[stages]]
key = "review"
name = { vi = "Phòng chuyên môn xem xét", en = "Department review" }
assignees = ["role:truong-phong"]
quorum = "all"
due = "2d"
remind_every = "1d"
escalate_to = ["role:pho-truong-ban"]

[[stages]]
key = "signoff"
name = { vi = "Lãnh đạo Ban ký", en = "Sign-off" }
assignees = ["user:truongban@bandantoc.gov.vn"]
quorum = "any"
due = "1d"
"""


def write(directory: Path, name: str, text: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


def edited(old: str, new: str, count: int = 1) -> str:
    assert old in GOOD, old
    return GOOD.replace(old, new, count)


def error_of(tmp_path: Path, text: str, registers: tuple[str, ...] | None = REGISTERS) -> str:
    """The error a lone ke-hoach.toml with `text` stops loading with: key and problem."""
    write(tmp_path, "ke-hoach.toml", text)
    with pytest.raises(SettingsError) as caught:
        load_workflows(tmp_path, "ke-hoach", registers)
    assert "Traceback" not in str(caught.value)
    return f"{caught.value.key} | {caught.value.problem}"


# --- the shipped files ---------------------------------------------------------------------


def test_shipped_workflows_load_with_the_shipped_registers() -> None:
    settings = load_settings({"DOCFLOW_CONFIG": str(PACKAGE_ROOT / "config" / "docflow.toml")})
    catalog = load_workflows(SHIPPED, settings.org.default_workflow, settings.registers.keys())
    assert {w.key for w in catalog} >= {"cong-van", "ke-hoach", "quyet-dinh", "mac-dinh"}
    assert catalog.default.key == "cong-van"
    for w in catalog:
        assert w.register in settings.registers
        assert len(w.stages) >= 2, w.key
        assert w.stages[-1].key == "signoff", w.key
        assert w.source.parent == SHIPPED


def test_shipped_default_workflow_is_two_stage_vb() -> None:
    w = load_workflows(SHIPPED, "cong-van", REGISTERS).by_key["mac-dinh"]
    assert (w.type_code, w.register, len(w.stages)) == ("VB", "VB", 2)


def test_a_valid_file_is_read_into_typed_values(tmp_path: Path) -> None:
    path = write(tmp_path, "ke-hoach.toml", GOOD)
    w = load_workflows(tmp_path, "ke-hoach", REGISTERS).by_key["ke-hoach"]
    assert (w.key, w.name_vi, w.name_en, w.type_code, w.register) == (
        "ke-hoach",
        "Kế hoạch",
        "Plan",
        "KH",
        "KH",
    )
    assert (w.distribute_to, w.retention, w.source) == (
        ("vanthu@bandantoc.gov.vn",),
        "20y",
        path,
    )
    review, signoff = w.stages
    assert review.assignees == (Assignee("role", "truong-phong"),)
    assert review.quorum == Quorum("all")
    assert (review.due, review.remind_every) == (timedelta(days=2), timedelta(days=1))
    assert review.escalate_to == (Assignee("role", "pho-truong-ban"),)
    assert review.require_code is False
    assert signoff.assignees == (Assignee("user", "truongban@bandantoc.gov.vn"),)
    assert (signoff.remind_every, signoff.escalate_to) == (None, ())
    assert w.name("en") == "Plan" and signoff.name("vi") == "Lãnh đạo Ban ký"


def test_optional_fields_take_their_documented_defaults(tmp_path: Path) -> None:
    text = """\
key = "to-trinh"
name = { vi = "Tờ trình" }
type = "TTr"
register = "KH"

[[stages]]
key = "signoff"
assignees = ["user:TruongBan@BanDanToc.gov.vn"]
due = "12h"
require_code = true
"""
    write(tmp_path, "to-trinh.toml", text)
    w = load_workflows(tmp_path, "to-trinh", REGISTERS).by_key["to-trinh"]
    assert (w.name_en, w.distribute_to, w.retention) == ("Tờ trình", (), "permanent")
    (stage,) = w.stages
    assert (stage.name_vi, stage.quorum, stage.require_code) == ("signoff", Quorum("all"), True)


def test_catalog_pick_still_chooses_by_plus_tag_type_tag_or_default(tmp_path: Path) -> None:
    write(tmp_path, "ke-hoach.toml", GOOD)
    write(
        tmp_path,
        "cong-van.toml",
        edited('key = "ke-hoach"', 'key = "cong-van"').replace('type = "KH"', 'type = "CV"'),
    )
    catalog = load_workflows(tmp_path, "cong-van", REGISTERS)
    assert catalog.pick("ke-hoach", "Kế hoạch")[0].key == "ke-hoach"
    assert catalog.pick(None, "[kh] Kế hoạch năm") == (catalog.by_key["ke-hoach"], "Kế hoạch năm")
    assert catalog.pick(None, "Không gắn thẻ")[0].key == "cong-van"
    assert catalog.role_uses() == {
        "pho-truong-ban": ["cong-van.review", "ke-hoach.review"],
        "truong-phong": ["cong-van.review", "ke-hoach.review"],
    }


# --- errors name file, stage and field -----------------------------------------------------


@pytest.mark.parametrize(
    ("text", "key", "problem"),
    [
        (GOOD + "colour = 'red'\n", "ke-hoach.toml: stages[2] (signoff).colour", "unknown"),
        ("asignees = []\n" + GOOD, "ke-hoach.toml: asignees", "unknown setting 'asignees'"),
        (
            edited('assignees = ["role:truong-phong"]', 'asignees = ["role:truong-phong"]'),
            "ke-hoach.toml: stages[1] (review).asignees",
            "unknown setting 'asignees'",
        ),
        (edited('"Plan" }', '"Plan", fr = "Plan" }'), "ke-hoach.toml: name.fr", "unknown"),
        (edited('key = "ke-hoach"', 'key = "Kế Hoạch"'), "ke-hoach.toml: key", "lowercase"),
        (edited('type = "KH"', 'type = "K H"'), "ke-hoach.toml: type", "type code"),
        (edited('register = "KH"\n', ""), "ke-hoach.toml: register", "register key"),
        (edited('register = "KH"', 'register = "XX"'), "ke-hoach.toml: register", "'XX'"),
        (edited('retention = "20y"', 'retention = "forever"'), "ke-hoach.toml: retention", ""),
        (
            edited('distribute_to = ["vanthu@bandantoc.gov.vn"]', 'distribute_to = ["vanthu"]'),
            "ke-hoach.toml: distribute_to",
            "'vanthu' is not an e-mail address",
        ),
        (
            edited('key = "signoff"', 'key = "review"'),
            "ke-hoach.toml: stages[2] (review).key",
            "defined twice",
        ),
        (
            edited('key = "signoff"', 'key = "Ký duyệt"'),
            "ke-hoach.toml: stages[2].key",
            "lowercase key",
        ),
        (
            edited('assignees = ["role:truong-phong"]', "assignees = []"),
            "ke-hoach.toml: stages[1] (review).assignees",
            "at least one assignee",
        ),
        (
            edited('assignees = ["role:truong-phong"]\n', ""),
            "ke-hoach.toml: stages[1] (review).assignees",
            "missing",
        ),
        (
            edited('assignees = ["role:truong-phong"]', 'assignees = ["truong-phong"]'),
            "ke-hoach.toml: stages[1] (review).assignees",
            "'user:EMAIL' or 'role:NAME'",
        ),
        (
            edited('"user:truongban@bandantoc.gov.vn"', '"user:truongban"'),
            "ke-hoach.toml: stages[2] (signoff).assignees",
            "not an e-mail address",
        ),
        (
            edited('"role:truong-phong"]', '"role:truong-phong", "role:truong-phong"]'),
            "ke-hoach.toml: stages[1] (review).assignees",
            "listed twice",
        ),
        (
            edited('quorum = "any"', "quorum = 2"),
            "ke-hoach.toml: stages[2] (signoff).quorum",
            "2 approvals needed but only 1 assignee(s)",
        ),
        (
            edited('quorum = "any"', 'quorum = "most"'),
            "ke-hoach.toml: stages[2] (signoff).quorum",
            "'all', 'any' or a whole number",
        ),
        (
            edited('quorum = "any"', "quorum = 0"),
            "ke-hoach.toml: stages[2] (signoff).quorum",
            "≥ 1",
        ),
        (
            edited('due = "1d"', 'due = "tomorrow"'),
            "ke-hoach.toml: stages[2] (signoff).due",
            "not a duration",
        ),
        (edited('due = "1d"\n', ""), "ke-hoach.toml: stages[2] (signoff).due", "missing"),
        (edited('due = "2d"', "due = 2"), "ke-hoach.toml: stages[1] (review).due", "duration"),
        (
            edited('remind_every = "1d"', 'remind_every = "0h"'),
            "ke-hoach.toml: stages[1] (review).remind_every",
            "zero",
        ),
        (
            edited('escalate_to = ["role:pho-truong-ban"]', 'escalate_to = ["pho-truong-ban"]'),
            "ke-hoach.toml: stages[1] (review).escalate_to",
            "'user:EMAIL' or 'role:NAME'",
        ),
        (
            edited('due = "1d"', 'due = "1d"\nrequire_code = "yes"'),
            "ke-hoach.toml: stages[2] (signoff).require_code",
            "true or false",
        ),
        (GOOD.split("[[stages]]")[0], "ke-hoach.toml: stages", "at least one"),
        ("key = ", "ke-hoach.toml: (file)", "not valid TOML"),
    ],
    ids=lambda v: None,
)
def test_each_mistake_is_reported_naming_file_stage_and_field(
    tmp_path: Path, text: str, key: str, problem: str
) -> None:
    error = error_of(tmp_path, text)
    assert error.startswith(key + " | "), error
    assert problem in error, error


def test_unknown_register_error_lists_the_registers_docflow_toml_defines(tmp_path: Path) -> None:
    error = error_of(tmp_path, edited('register = "KH"', 'register = "KHX"'))
    assert "CV, KH, MAT, QD, VB" in error


def test_register_check_is_skipped_without_known_registers(tmp_path: Path) -> None:
    write(tmp_path, "ke-hoach.toml", edited('register = "KH"', 'register = "XX"'))
    assert load_workflows(tmp_path, "ke-hoach", None).by_key["ke-hoach"].register == "XX"


def test_numeric_quorum_is_checked_against_roles_only_when_they_resolve(tmp_path: Path) -> None:
    # a role may be held by any number of people: N = 3 is fine until the stage runs
    write(tmp_path, "ke-hoach.toml", edited('quorum = "all"', "quorum = 3"))
    review = load_workflows(tmp_path, "ke-hoach", REGISTERS).by_key["ke-hoach"].stages[0]
    assert review.quorum == Quorum(3)


def test_two_files_with_one_key_are_refused_naming_both(tmp_path: Path) -> None:
    write(tmp_path, "a.toml", GOOD)
    write(tmp_path, "b.toml", edited('type = "KH"', 'type = "KH2"'))
    with pytest.raises(SettingsError) as caught:
        load_workflows(tmp_path, "ke-hoach", REGISTERS)
    assert caught.value.key == "b.toml: key"
    assert "also defined in a.toml" in caught.value.problem


def test_two_files_with_one_type_code_are_refused_whatever_the_case(tmp_path: Path) -> None:
    write(tmp_path, "a.toml", GOOD)
    write(
        tmp_path, "b.toml", edited('key = "ke-hoach"', 'key = "ke-hoach-2"').replace("KH", "kh", 1)
    )
    with pytest.raises(SettingsError) as caught:
        load_workflows(tmp_path, "ke-hoach", REGISTERS)
    assert caught.value.key == "b.toml: type"
    assert "also used by a.toml" in caught.value.problem


def test_a_missing_default_workflow_names_the_org_setting(tmp_path: Path) -> None:
    write(tmp_path, "ke-hoach.toml", GOOD)
    with pytest.raises(SettingsError) as caught:
        load_workflows(tmp_path, "cong-van", REGISTERS)
    assert caught.value.key == "org.default_workflow"


def test_a_missing_directory_names_the_setting(tmp_path: Path) -> None:
    with pytest.raises(SettingsError) as caught:
        load_workflows(tmp_path / "nowhere", "cong-van", REGISTERS)
    assert caught.value.key == "workflows_dir"


def test_check_reports_the_first_problem_of_every_broken_file(tmp_path: Path) -> None:
    write(tmp_path, "ke-hoach.toml", GOOD)
    write(tmp_path, "x.toml", edited('due = "2d"', 'due = "2 days"'))
    write(tmp_path, "y.toml", edited('quorum = "any"', 'quorum = "half"'))
    found, problems = check_workflows(tmp_path, "ke-hoach", REGISTERS)
    assert [w.key for w in found] == ["ke-hoach"]
    assert [p.key for p in problems] == [
        "x.toml: stages[1] (review).due",
        "y.toml: stages[2] (signoff).quorum",
    ]


# --- durations -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2d", timedelta(days=2)),
        ("12h", timedelta(hours=12)),
        ("30m", timedelta(minutes=30)),
        ("1d12h", timedelta(days=1, hours=12)),
        ("1w", timedelta(weeks=1)),
        ("1w2d3h4m", timedelta(weeks=1, days=2, hours=3, minutes=4)),
        (" 2D ", timedelta(days=2)),
    ],
)
def test_durations_parse(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "2", "d", "2 d", "1.5d", "-1d", "2s", "12h1d", "1d1d", "0m"])
def test_bad_durations_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


@pytest.mark.parametrize("text", ["2d", "12h", "30m", "1d12h", "1d30m"])
def test_durations_format_back_to_what_was_written(text: str) -> None:
    assert format_duration(parse_duration(text)) == text


# --- quorum --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "approvals", "assignees", "reached"),
    [
        ("all", 2, 3, False),
        ("all", 3, 3, True),
        ("any", 0, 3, False),
        ("any", 1, 3, True),
        (2, 1, 3, False),
        (2, 2, 3, True),
        (3, 2, 2, True),  # N is capped at the number of people who can decide
        (3, 1, 2, False),
        ("all", 0, 0, False),  # a stage nobody can decide never completes by itself
    ],
)
def test_quorum_reached(rule: str | int, approvals: int, assignees: int, reached: bool) -> None:
    assert Quorum.parse(rule).reached(approvals, assignees) is reached


@pytest.mark.parametrize(("value", "rule"), [("all", "all"), ("ANY", "any"), (2, 2), ("3", 3)])
def test_quorum_parses(value: object, rule: object) -> None:
    assert Quorum.parse(value).rule == rule


@pytest.mark.parametrize("value", ["most", 0, -1, True, 1.5, None])
def test_bad_quorums_are_refused(value: object) -> None:
    with pytest.raises(ValueError):
        Quorum.parse(value)


def test_assignees_parse_and_print_back() -> None:
    assert Assignee.parse("user:A.B@BanDanToc.gov.vn") == Assignee("user", "a.b@bandantoc.gov.vn")
    assert str(Assignee.parse("role:truong-ban")) == "role:truong-ban"
    for bad in ("group:x", "role:", "role:Trưởng Ban", "user:x@", "truong-ban"):
        with pytest.raises(ValueError):
            Assignee.parse(bad)
