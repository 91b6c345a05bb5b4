"""Workflow definitions: one TOML file a workflow under the workflows directory, validated.

Intake uses the catalog to pick a workflow for a mail (plus-address or `[KEY]`
subject tag); the engine runs the stages. Every problem is a `SettingsError`
whose key names the file, the stage and the field, e.g.
`ke-hoach.toml: stages[2] (signoff).quorum`, so a bad file stops start-up with a
message an admin can act on.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

from docflow.errors import SettingsError

KEY_PATTERN = re.compile(r"[a-z0-9][a-z0-9-]*")
ROLE_PATTERN = re.compile(r"[a-z0-9][a-z0-9._-]*")
# a type code is what a subject's `[KH]` tag holds (see WorkflowCatalog.pick)
TYPE_PATTERN = re.compile(r"[^\[\]\s]{1,30}")
EMAIL_PATTERN = re.compile(r"[^@\s<>,;\"]+@[^@\s<>,;\"]+\.[^@\s<>,;\"]+")
RETENTION_PATTERN = re.compile(r"permanent|[1-9][0-9]{0,2}y")
_DURATION_PART = re.compile(r"(\d+)([wdhm])")
_UNIT_MINUTES = {"w": 7 * 24 * 60, "d": 24 * 60, "h": 60, "m": 1}

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
)


# --- values --------------------------------------------------------------------------------


def parse_duration(text: str) -> timedelta:
    """`"2d"`, `"12h"`, `"30m"`, `"1w"` or combinations, largest unit first (`"1d12h"`).

    Raises ValueError for anything else, and for a zero duration.
    """
    compact = text.strip().lower()
    parts = _DURATION_PART.findall(compact)
    if not compact or "".join(n + u for n, u in parts) != compact:
        raise ValueError(f"{text!r} is not a duration such as '2d', '12h', '30m' or '1d12h'")
    units = [u for _, u in parts]
    if len(set(units)) != len(units) or units != sorted(units, key=lambda u: -_UNIT_MINUTES[u]):
        raise ValueError(f"{text!r}: give each unit once, largest first (w, d, h, m)")
    minutes = sum(int(n) * _UNIT_MINUTES[u] for n, u in parts)
    if minutes == 0:
        raise ValueError(f"{text!r} is zero; a duration must be at least one minute")
    return timedelta(minutes=minutes)


def format_duration(value: timedelta) -> str:
    """The inverse of `parse_duration`, in whole minutes: 1 day 12 hours → `"1d12h"`."""
    minutes = int(value.total_seconds() // 60)
    out = ""
    for unit in ("d", "h", "m"):  # weeks are shown as days: "14d" reads better than "2w"
        n, minutes = divmod(minutes, _UNIT_MINUTES[unit])
        if n:
            out += f"{n}{unit}"
    return out or "0m"


@dataclass(frozen=True)
class Assignee:
    """Who a stage's task goes to: one user by e-mail, or everyone holding a role."""

    kind: Literal["user", "role"]
    value: str  # a lowercased e-mail address, or a role name

    @classmethod
    def parse(cls, text: str) -> Assignee:
        """`user:EMAIL` or `role:NAME`; raises ValueError naming what is wrong."""
        kind, sep, value = text.strip().partition(":")
        value = value.strip()
        if kind == "user" and sep:
            if not EMAIL_PATTERN.fullmatch(value):
                raise ValueError(f"{text!r}: {value!r} is not an e-mail address")
            return cls("user", value.lower())
        if kind == "role" and sep:
            if not ROLE_PATTERN.fullmatch(value):
                raise ValueError(f"{text!r}: a role name is lowercase letters, digits, '-', '_'")
            return cls("role", value)
        raise ValueError(f"{text!r}: expected 'user:EMAIL' or 'role:NAME'")

    def __str__(self) -> str:
        return f"{self.kind}:{self.value}"


@dataclass(frozen=True)
class Quorum:
    """How many approvals complete a stage: `"all"`, `"any"` or a number N ≥ 1.

    `reached` counts against the assignees the stage actually has once roles are
    resolved: "all" needs every one of them; "any" needs one; N needs N, but never
    more than there are assignees (N = 3 with two people holding the role completes
    at 2) — a role that shrinks must not leave a document stuck for ever.
    """

    rule: Literal["all", "any"] | int

    @classmethod
    def parse(cls, value: object) -> Quorum:
        """From TOML: `"all"`, `"any"`, a whole number ≥ 1 (or its digits as text)."""
        if isinstance(value, str) and value.strip().lower() in ("all", "any"):
            return cls("all" if value.strip().lower() == "all" else "any")
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value.strip())
        if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
            return cls(value)
        raise ValueError(f"expected 'all', 'any' or a whole number ≥ 1, got {value!r}")

    def needed(self, assignees: int) -> int:
        """Approvals needed when the stage has `assignees` people to decide."""
        if self.rule == "all":
            return assignees
        if self.rule == "any":
            return 1
        return min(self.rule, assignees)

    def reached(self, approvals: int, assignees: int) -> bool:
        """Whether `approvals` complete a stage with `assignees` (at least one needed)."""
        return approvals >= max(1, self.needed(assignees))

    def __str__(self) -> str:
        return str(self.rule)


@dataclass(frozen=True)
class Stage:
    """One step of a workflow; the last one is sign-off."""

    key: str
    name_vi: str
    name_en: str
    assignees: tuple[Assignee, ...] = ()
    quorum: Quorum = Quorum("all")
    due: timedelta = timedelta(days=2)
    remind_every: timedelta | None = None
    escalate_to: tuple[Assignee, ...] = ()
    require_code: bool = False  # a one-time code, mailed separately, before a decision counts

    def name(self, language: str) -> str:
        return self.name_en if language == "en" else self.name_vi

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "name": {"vi": self.name_vi, "en": self.name_en},
            "assignees": [str(a) for a in self.assignees],
            "quorum": self.quorum.rule,
            "due": format_duration(self.due),
            "remind_every": format_duration(self.remind_every) if self.remind_every else None,
            "escalate_to": [str(a) for a in self.escalate_to],
            "require_code": self.require_code,
        }


@dataclass(frozen=True)
class Workflow:
    """A document type's path from draft to issue."""

    key: str
    name_vi: str
    name_en: str
    type_code: str
    register: str
    distribute_to: tuple[str, ...] = ()
    retention: str = "permanent"  # "permanent" or "<n>y"
    stages: tuple[Stage, ...] = ()
    source: Path = Path()

    def name(self, language: str) -> str:
        return self.name_en if language == "en" else self.name_vi

    def stage(self, key: str) -> Stage:
        """The stage named `key` (KeyError when there is none)."""
        for s in self.stages:
            if s.key == key:
                return s
        raise KeyError(key)

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "name": {"vi": self.name_vi, "en": self.name_en},
            "type": self.type_code,
            "register": self.register,
            "distribute_to": list(self.distribute_to),
            "retention": self.retention,
            "source": str(self.source),
            "stages": [s.as_dict() for s in self.stages],
        }


# --- the catalog -----------------------------------------------------------------------------


class WorkflowCatalog:
    """The loaded workflows, and how a mail's address or subject chooses one."""

    def __init__(self, workflows: list[Workflow], default_key: str) -> None:
        self.by_key = {w.key: w for w in workflows}
        self.by_type = {w.type_code.upper(): w for w in workflows}
        if default_key not in self.by_key:
            raise SettingsError("org.default_workflow", f"no workflow file defines {default_key!r}")
        self.default = self.by_key[default_key]

    def __iter__(self) -> Iterator[Workflow]:
        return iter(sorted(self.by_key.values(), key=lambda w: w.key))

    def __len__(self) -> int:
        return len(self.by_key)

    def pick(self, plus_tag: str | None, subject: str) -> tuple[Workflow, str]:
        """The workflow a mail asks for, and the subject with its `[KEY]` tag removed."""
        if plus_tag and plus_tag.lower() in self.by_key:
            return self.by_key[plus_tag.lower()], subject
        m = re.match(r"\s*\[([^\]\s]{1,30})\]\s*", subject)
        if m:
            tag = m.group(1)
            found = self.by_key.get(tag.lower()) or self.by_type.get(tag.upper())
            if found is not None:
                return found, subject[m.end() :]
        return self.default, subject

    def role_uses(self) -> dict[str, list[str]]:
        """Each role a workflow names (as assignee or escalation) → where: `["ke-hoach.review"]`."""
        uses: dict[str, list[str]] = {}
        for w in self:
            for s in w.stages:
                for a in (*s.assignees, *s.escalate_to):
                    if a.kind == "role":
                        where = uses.setdefault(a.value, [])
                        if f"{w.key}.{s.key}" not in where:
                            where.append(f"{w.key}.{s.key}")
        return dict(sorted(uses.items()))


# --- loading -------------------------------------------------------------------------------


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
    require_code = st.get("require_code", False)
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
    )
