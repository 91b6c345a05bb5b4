"""The import rules of docs/architecture.md, read from the modules' own imports.

Each layer imports only its own tier or lower, so that the domain below the workflow
(documents and their journal, users, notify, intake) can be used and tested without
it; no module grows past 400 lines (migrations aside).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "docflow"
# bottom first: a module may import its own tier or a lower one
TIERS = [
    ("storage", "mime", "clock", "errors", "logs", "automatic", "config", "db"),
    ("users", "documents"),
    ("notify",),
    ("intake",),
    ("workflow",),
    ("archive",),
    ("web", "cli", "app", "services", "devrelay"),
]
TIER = {name: i for i, names in enumerate(TIERS) for name in names}
MAX_LINES = 400


def modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "migrations" not in p.parts)


def layer(module: str) -> str:
    """`docflow.intake.drafts` → `intake`; `docflow/services.py` → `services`."""
    return module.split(".")[1] if module.count(".") else module


def imported(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every docflow module `path` imports."""
    package = ["docflow", *path.relative_to(PACKAGE).parts[:-1]]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            name = ".".join([*base, node.module] if node.module else base)
            names = [name] if node.module else [f"{name}.{a.name}" for a in node.names]
            found += [(node.lineno, n) for n in names]
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
    return [(line, name) for line, name in found if name.startswith("docflow.")]


def own_layer(path: Path) -> str:
    return path.relative_to(PACKAGE).parts[0].removesuffix(".py")


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_a_module_imports_only_its_own_layer_or_lower_ones(path: Path) -> None:
    mine = TIER.get(own_layer(path))
    if mine is None:  # docflow/__init__.py
        return
    upward = [
        f"line {line}: {name}" for line, name in imported(path) if TIER.get(layer(name), -1) > mine
    ]
    assert upward == [], f"{path.relative_to(PACKAGE)} imports a higher layer"


def test_nothing_below_the_workflow_imports_it() -> None:
    below = ("notify", "documents", "users", "storage", "intake")
    found = [
        f"{path.relative_to(PACKAGE)}:{line} {name}"
        for path in modules()
        if own_layer(path) in below
        for line, name in imported(path)
        if name.startswith("docflow.workflow")
    ]
    assert found == []


def test_no_module_is_longer_than_400_lines() -> None:
    long = {
        str(p.relative_to(PACKAGE)): n
        for p in modules()
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert long == {}


def test_the_reader_of_imports_sees_what_a_module_imports() -> None:
    """Else the tests above would pass on modules they could not read."""
    names = {name for _, name in imported(PACKAGE / "services.py")}
    assert {"docflow.workflow.stages", "docflow.intake.drafts"} <= names
    assert (
        TIER[layer("docflow.workflow.stages")] > TIER[own_layer(PACKAGE / "intake" / "drafts.py")]
    )
