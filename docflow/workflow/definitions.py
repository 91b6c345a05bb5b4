"""Workflow definitions: one TOML file a workflow under the workflows directory.

The spine only needs to know which workflows exist and how a mail picks one
(plus-address or `[KEY]` subject tag); stages are read here, run by the engine.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from docflow.errors import SettingsError


@dataclass(frozen=True)
class Stage:
    key: str
    name_vi: str
    name_en: str


@dataclass(frozen=True)
class Workflow:
    key: str
    name_vi: str
    name_en: str
    type_code: str
    register: str
    stages: tuple[Stage, ...]

    def name(self, language: str) -> str:
        return self.name_en if language == "en" else self.name_vi


class WorkflowCatalog:
    """The loaded workflows, and how a mail's address or subject chooses one."""

    def __init__(self, workflows: list[Workflow], default_key: str) -> None:
        self.by_key = {w.key: w for w in workflows}
        self.by_type = {w.type_code.upper(): w for w in workflows}
        if default_key not in self.by_key:
            raise SettingsError("org.default_workflow", f"no workflow file defines {default_key!r}")
        self.default = self.by_key[default_key]

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


def load_workflows(directory: Path, default_key: str) -> WorkflowCatalog:
    """Read every `*.toml` in `directory`; errors name the file and the field."""
    if not directory.is_dir():
        raise SettingsError("workflows_dir", f"no such directory: {directory}")
    workflows = [_load(path) for path in sorted(directory.glob("*.toml"))]
    keys = [w.key for w in workflows]
    for key in keys:
        if keys.count(key) > 1:
            raise SettingsError("workflows_dir", f"workflow key {key!r} is defined twice")
    return WorkflowCatalog(workflows, default_key)


def _load(path: Path) -> Workflow:
    def fail(field: str, problem: str) -> SettingsError:
        return SettingsError(f"{path.name}: {field}", problem)

    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise fail("(file)", f"not valid TOML: {e}") from None
    key = raw.get("key")
    if not isinstance(key, str) or not re.fullmatch(r"[a-z0-9][a-z0-9-]*", key):
        raise fail("key", "expected a lowercase key such as 'ke-hoach'")
    name = raw.get("name")
    if not isinstance(name, dict) or not isinstance(name.get("vi"), str):
        raise fail("name", 'expected { vi = "…", en = "…" }')
    type_code = raw.get("type")
    if not isinstance(type_code, str) or not type_code:
        raise fail("type", "expected a document type code such as 'KH'")
    stages: list[Stage] = []
    for i, st in enumerate(raw.get("stages", []), start=1):
        if not isinstance(st, dict) or not isinstance(st.get("key"), str):
            raise fail(f"stages[{i}].key", "expected a stage key")
        sname = st.get("name", {})
        stages.append(
            Stage(
                st["key"],
                str(sname.get("vi", st["key"])),
                str(sname.get("en", sname.get("vi", st["key"]))),
            )
        )
    if not stages:
        raise fail("stages", "a workflow needs at least one stage")
    return Workflow(
        key=key,
        name_vi=name["vi"],
        name_en=str(name.get("en", name["vi"])),
        type_code=type_code,
        register=str(raw.get("register", type_code)),
        stages=tuple(stages),
    )
