"""The settings tables of docs/operations.md, written from the declarations.

`python -m docflow.config.table` rewrites them; `--check` only says whether they are
up to date (tests/unit/test_settings_table.py runs it), so the docs cannot drift from
the code's keys, variables and defaults.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable

from docflow.config.keys import Key
from docflow.config.settings import PACKAGE_ROOT, declared

DOCS = PACKAGE_ROOT / "docs" / "operations.md"
# table name in the docs -> which dotted keys it lists
TABLES: dict[str, Callable[[str], bool]] = {
    "main": lambda dotted: not dotted.startswith("imap."),
    "imap": lambda dotted: dotted.startswith("imap."),
}
BLOCK = re.compile(
    r"(<!-- settings table (\w+): written by python -m docflow.config.table -->\n)"
    r"(.*?)(<!-- end of settings table -->)",
    re.DOTALL,
)


def default_text(key: Key) -> str:
    """A default as the docs show it."""
    v = key.default
    if v == "":
        return "empty"
    if v == ():
        return "none"
    if isinstance(v, bool):
        return f"`{str(v).lower()}`"
    if isinstance(v, float):
        return f"`{v:g}`"
    if isinstance(v, tuple):
        return " ".join(f"`{x}`" for x in v)
    return f"`{v}`"


def settings_table(name: str) -> str:
    """The markdown table `name` (see TABLES)."""
    rows = ["| variable | key | default | meaning |", "| --- | --- | --- | --- |"]
    for dotted, key in declared():
        if TABLES[name](dotted):
            env = f"`{key.env}`" if key.env else "—"
            rows.append(f"| {env} | `{dotted}` | {default_text(key)} | {key.doc} |")
    return "\n".join(rows) + "\n"


def update(text: str) -> str:
    """`text` with every marked table rewritten."""
    return BLOCK.sub(lambda m: m[1] + settings_table(m[2]) + m[4], text)


def main(argv: list[str]) -> int:
    text = DOCS.read_text(encoding="utf-8")
    fresh = update(text)
    if "--check" in argv:
        if fresh != text:
            print(f"{DOCS}: settings tables out of date; run python -m docflow.config.table")
            return 1
        return 0
    DOCS.write_text(fresh, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
