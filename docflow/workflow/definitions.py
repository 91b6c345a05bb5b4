"""Workflow definitions: workflows, their stages, assignees and quorums, and the catalog.

Intake uses the catalog to pick a workflow for a mail (plus-address or `[KEY]`
subject tag); the stages run them. The files are read by `workflow.loader`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

from docflow.errors import SettingsError
from docflow.users.roles import ROLE_PATTERN

EMAIL_PATTERN = re.compile(r"[^@\s<>,;\"]+@[^@\s<>,;\"]+\.[^@\s<>,;\"]+")
_DURATION_PART = re.compile(r"(\d+)([wdhm])")
_UNIT_MINUTES = {"w": 7 * 24 * 60, "d": 24 * 60, "h": 60, "m": 1}


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
    sign: bool = False  # whoever completes it signs the issued PDF (Decree 30)

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
            "sign": self.sign,
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

    @property
    def signing_stage(self) -> int | None:
        """The index of the stage whose approver signs (the last with `sign`), None if none:
        a workflow without one issues unsigned, at once, in the decision's transaction."""
        signing = [i for i, s in enumerate(self.stages) if s.sign]
        return signing[-1] if signing else None

    @property
    def signer_stage(self) -> int:
        """The stage whose last approver is the issued document's signer: the signing stage,
        else sign-off (the last)."""
        signing = self.signing_stage
        return len(self.stages) - 1 if signing is None else signing

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
