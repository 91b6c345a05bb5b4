"""Loading workflow files: one TOML file a workflow under the workflows directory, validated.

Every problem is a `SettingsError` whose key names the file, the stage and the
field, e.g. `ke-hoach.toml: stages[2] (signoff).quorum`, so a bad file stops
start-up with a message an admin can act on.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Collection, Iterable
from datetime import timedelta
from pathlib import Path
from typing import Any

from docflow.errors import SettingsError
from docflow.intake.routing import REPLY_TAG
from docflow.workflow.definitions import (
    EMAIL_PATTERN,
    Assignee,
    Quorum,
    Stage,
    Workflow,
    WorkflowCatalog,
    parse_duration,
)

KEY_PATTERN = re.compile(r"[a-z0-9][a-z0-9-]*")
# a type code is what a subject's `[KH]` tag holds (see WorkflowCatalog.pick)
TYPE_PATTERN = re.compile(r"[^\[\]\s]{1,30}")
RETENTION_PATTERN = re.compile(r"permanent|[1-9][0-9]{0,2}y")
WORKFLOW_FIELDS = ("key", "name", "type", "register", "distribute_to", "retention", "stages")
STAGE_FIELDS = (
    "key",
    "name",
    "assignees",
    "quorum",
    "due",
    "remind_every",
    "escalate_to",
    "require_code",
    "sign",
)


def load_workflows(
    directory: Path, default_key: str, registers: Collection[str] | None = None
) -> WorkflowCatalog:
    """Read and validate every `*.toml` in `directory`; raise the first problem found.

    `registers` are the register keys of docflow.toml; None skips that check.
    """
    workflows, problems = check_workflows(directory, default_key, registers)
    if problems:
        raise problems[0]
    return WorkflowCatalog(workflows, default_key)


def check_workflows(
    directory: Path, default_key: str, registers: Collection[str] | None = None
) -> tuple[list[Workflow], list[SettingsError]]:
    """The valid workflows of `directory`, and every problem (the first of each file)."""
    if not directory.is_dir():
        return [], [SettingsError("workflows_dir", f"no such directory: {directory}")]
    workflows: list[Workflow] = []
    problems: list[SettingsError] = []
    for path in sorted(directory.glob("*.toml")):
        try:
            workflows.append(_load(path, registers))
        except SettingsError as e:
            problems.append(e)
    problems.extend(_clashes(workflows))
    if not problems and default_key not in {w.key for w in workflows}:
        problems.append(
            SettingsError("org.default_workflow", f"no workflow file defines {default_key!r}")
        )
    return workflows, problems


def _clashes(workflows: Iterable[Workflow]) -> list[SettingsError]:
    """Two files may not share a workflow key or a type code (a `[KH]` tag must pick one)."""
    problems = []
    keys: dict[str, Workflow] = {}
    types: dict[str, Workflow] = {}
    for w in workflows:
        if w.key in keys:
            problems.append(
                SettingsError(
                    f"{w.source.name}: key",
                    f"workflow key {w.key!r} is also defined in {keys[w.key].source.name}",
                )
            )
        keys.setdefault(w.key, w)
        code = w.type_code.upper()
        if code in types:
            problems.append(
                SettingsError(
                    f"{w.source.name}: type",
                    f"type code {w.type_code!r} is also used by {types[code].source.name}",
                )
            )
        types.setdefault(code, w)
    return problems


class _File:
    """Reads one workflow file; `fail` makes errors that name file, stage and field."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, field: str, problem: str) -> SettingsError:
        return SettingsError(f"{self.path.name}: {field}", problem)

    def unknown_keys(self, table: dict[str, Any], allowed: tuple[str, ...], where: str) -> None:
        for k in table:
            if k not in allowed:
                raise self.fail(
                    f"{where}{k}", f"unknown setting {k!r}; expected one of: {', '.join(allowed)}"
                )

    def names(self, value: object, field: str, fallback: str | None) -> tuple[str, str]:
        """`{ vi = "…", en = "…" }` → (vi, en); en defaults to vi, vi to `fallback`."""
        if value is None and fallback is not None:
            return fallback, fallback
        if not isinstance(value, dict):
            raise self.fail(field, 'expected { vi = "…", en = "…" }')
        self.unknown_keys(value, ("vi", "en"), f"{field}.")
        vi, en = value.get("vi"), value.get("en", value.get("vi"))
        if not isinstance(vi, str) or not vi.strip() or not isinstance(en, str) or not en.strip():
            raise self.fail(field, 'expected { vi = "…", en = "…" } with non-empty text')
        return vi.strip(), en.strip()

    def text_list(self, value: object, field: str) -> list[str]:
        if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
            raise self.fail(
                field, f'expected a list of text such as ["role:truong-ban"], got {value!r}'
            )
        return value

    def assignees(self, value: object, field: str) -> tuple[Assignee, ...]:
        out: list[Assignee] = []
        for i, text in enumerate(self.text_list(value, field), start=1):
            try:
                a = Assignee.parse(text)
            except ValueError as e:
                raise self.fail(field, f"item {i}: {e}") from None
            if a in out:
                raise self.fail(field, f"item {i}: {text!r} is listed twice")
            out.append(a)
        return tuple(out)

    def duration(self, value: object, field: str) -> timedelta:
        if not isinstance(value, str):
            raise self.fail(field, f"expected a duration such as '2d' or '12h', got {value!r}")
        try:
            return parse_duration(value)
        except ValueError as e:
            raise self.fail(field, str(e)) from None


def _load(path: Path, registers: Collection[str] | None) -> Workflow:
    f = _File(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise f.fail("(file)", f"not valid TOML: {e}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise f.fail("(file)", f"cannot be read: {e}") from None
    f.unknown_keys(raw, WORKFLOW_FIELDS, "")
    key = raw.get("key")
    if not isinstance(key, str) or not KEY_PATTERN.fullmatch(key):
        raise f.fail("key", f"expected a lowercase key such as 'ke-hoach', got {key!r}")
    if key.startswith(REPLY_TAG):  # `vanban+t-…@` is a task's reply address
        raise f.fail("key", f"keys starting with {REPLY_TAG!r} are reserved, got {key!r}")
    name_vi, name_en = f.names(raw.get("name"), "name", None)
    type_code = raw.get("type")
    if not isinstance(type_code, str) or not TYPE_PATTERN.fullmatch(type_code):
        raise f.fail("type", f"expected a document type code such as 'KH', got {type_code!r}")
    register = raw.get("register")
    if not isinstance(register, str) or not register:
        raise f.fail("register", f"expected a register key such as 'KH', got {register!r}")
    if registers is not None and register not in registers:
        known = ", ".join(sorted(registers)) or "none"
        raise f.fail(
            "register",
            f"unknown register {register!r}; [registers] in docflow.toml defines: {known}",
        )
    distribute_to = f.text_list(raw.get("distribute_to", []), "distribute_to")
    for i, address in enumerate(distribute_to, start=1):
        if not EMAIL_PATTERN.fullmatch(address.strip()):
            raise f.fail("distribute_to", f"item {i}: {address!r} is not an e-mail address")
    retention = raw.get("retention", "permanent")
    if not isinstance(retention, str) or not RETENTION_PATTERN.fullmatch(retention.strip()):
        raise f.fail("retention", f"expected 'permanent' or years such as '10y', got {retention!r}")
    raw_stages = raw.get("stages")
    if not isinstance(raw_stages, list) or not raw_stages:
        raise f.fail("stages", "a workflow needs at least one [[stages]] table")
    stages: list[Stage] = []
    for i, st in enumerate(raw_stages, start=1):
        stage = _stage(f, i, st)
        if any(s.key == stage.key for s in stages):
            raise f.fail(f"stages[{i}] ({stage.key}).key", f"stage {stage.key!r} is defined twice")
        stages.append(stage)
    return Workflow(
        key=key,
        name_vi=name_vi,
        name_en=name_en,
        type_code=type_code,
        register=register,
        distribute_to=tuple(a.strip().lower() for a in distribute_to),
        retention=retention.strip(),
        stages=tuple(stages),
        source=path,
    )


def _stage(f: _File, i: int, st: object) -> Stage:
    if not isinstance(st, dict):
        raise f.fail(f"stages[{i}]", "expected a [[stages]] table")
    key = st.get("key")
    if not isinstance(key, str) or not KEY_PATTERN.fullmatch(key):
        raise f.fail(f"stages[{i}].key", f"expected a lowercase key such as 'review', got {key!r}")
    where = f"stages[{i}] ({key})."
    f.unknown_keys(st, STAGE_FIELDS, where)
    name_vi, name_en = f.names(st.get("name"), where + "name", key)
    if "assignees" not in st:
        raise f.fail(where + "assignees", 'missing; expected e.g. ["role:truong-phong"]')
    assignees = f.assignees(st["assignees"], where + "assignees")
    if not assignees:
        raise f.fail(where + "assignees", "a stage needs at least one assignee")
    try:
        quorum = Quorum.parse(st.get("quorum", "all"))
    except ValueError as e:
        raise f.fail(where + "quorum", str(e)) from None
    # roles resolve to people only when a document enters the stage; only a list of
    # users alone tells now how many can decide
    if isinstance(quorum.rule, int) and all(a.kind == "user" for a in assignees):
        if quorum.rule > len(assignees):
            raise f.fail(
                where + "quorum",
                f"{quorum.rule} approvals needed but only {len(assignees)} assignee(s)",
            )
    if "due" not in st:
        raise f.fail(where + "due", "missing; expected a duration such as '2d'")
    due = f.duration(st["due"], where + "due")
    remind = st.get("remind_every")
    remind_every = None if remind is None else f.duration(remind, where + "remind_every")
    escalate_to = f.assignees(st.get("escalate_to", []), where + "escalate_to")
    sign = st.get("sign", False)
    if not isinstance(sign, bool):
        raise f.fail(where + "sign", f"expected true or false, got {sign!r}")
    # a signature is consent to a legal act: the mailed code unless the file says otherwise
    require_code = st.get("require_code", sign)
    if not isinstance(require_code, bool):
        raise f.fail(where + "require_code", f"expected true or false, got {require_code!r}")
    return Stage(
        key=key,
        name_vi=name_vi,
        name_en=name_en,
        assignees=assignees,
        quorum=quorum,
        due=due,
        remind_every=remind_every,
        escalate_to=escalate_to,
        require_code=require_code,
        sign=sign,
    )
