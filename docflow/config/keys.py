"""How a setting is declared: once, as a section's dataclass field.

A field made by `text()`, `integer()`, `real()`, `flag()` or `items()` carries its
`Key`: TOML key, `DOCFLOW_*` variable, default and checks. The loader, the variable
table and the docs table (`docflow.config.table`) are all read from these, so a key is
never spelled twice.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar, cast

from docflow.errors import SettingsError

T = TypeVar("T")
Kind = Literal["text", "integer", "real", "flag", "items"]
META = "docflow.setting"


@dataclass(frozen=True)
class Key:
    """One setting: how it is spelled, read, checked and documented."""

    kind: Kind
    default: object  # as it would be written in the TOML file
    env: str = ""  # its DOCFLOW_* variable; empty: the TOML file only
    toml: str = ""  # the key within its section, when the field is named otherwise
    minimum: float = 0
    maximum: float | None = None
    # turns the value read into the field's value; a ValueError's text is the problem
    convert: Callable[[Any], Any] | None = None
    doc: str = ""  # what the docs table says beside the default
    # convert's problems name the TOML key even when a variable gave the value (as they
    # always have for these keys); otherwise the variable is named
    blame_key: bool = False


def _field(key: Key, *, secret: bool = False) -> Any:
    """A dataclasses.field carrying `key`; typed as the value it stands for, as field() is."""
    if key.convert is not None:  # the field holds the converted value
        convert, raw = key.convert, key.default
        return field(default_factory=lambda: convert(raw), metadata={META: key})
    return field(default=key.default, repr=not secret, metadata={META: key})


def text(
    default: str = "", *, env: str = "", toml: str = "", secret: bool = False, doc: str = ""
) -> str:
    """A text setting, stripped of surrounding blanks; `secret`: kept out of repr()."""
    return cast(str, _field(Key("text", default, env, toml, doc=doc), secret=secret))


def text_as(
    convert: Callable[[str], T],
    default: str = "",
    *,
    env: str = "",
    toml: str = "",
    blame_key: bool = False,
    doc: str = "",
) -> T:
    """A text setting that `convert` checks and turns into the field's value."""
    key = Key("text", default, env, toml, convert=convert, doc=doc, blame_key=blame_key)
    return cast(T, _field(key))


def integer(
    default: int,
    *,
    env: str = "",
    toml: str = "",
    minimum: int = 0,
    maximum: int | None = None,
    doc: str = "",
) -> int:
    """A whole number within [minimum, maximum]."""
    return cast(int, _field(Key("integer", default, env, toml, minimum, maximum, doc=doc)))


def real(
    default: float,
    *,
    env: str = "",
    toml: str = "",
    minimum: float = 0,
    whole: bool = False,
    doc: str = "",
) -> float:
    """Seconds and the like; `whole`: written as a whole number (read as one, kept as float)."""
    key = Key(
        "integer" if whole else "real",
        int(default) if whole else default,
        env,
        toml,
        minimum,
        convert=float if whole else None,
        doc=doc,
    )
    return cast(float, _field(key))


def flag(default: bool, *, env: str = "", toml: str = "", doc: str = "") -> bool:
    """true/false; from a variable also 1/0, yes/no, on/off."""
    return cast(bool, _field(Key("flag", default, env, toml, doc=doc)))


def items(
    *,
    env: str = "",
    toml: str = "",
    convert: Callable[[tuple[str, ...]], tuple[str, ...]] | None = None,
    default: tuple[str, ...] = (),
    doc: str = "",
) -> tuple[str, ...]:
    """A list of text (lower-cased); from a variable, comma-separated."""
    return cast(
        "tuple[str, ...]", _field(Key("items", default, env, toml, convert=convert, doc=doc))
    )


def keys(section: type[Any]) -> Iterator[tuple[str, str, Key]]:
    """(field name, TOML key within the section, Key) of a section's declared settings."""
    for f in dataclasses.fields(section):
        key = f.metadata.get(META)
        if isinstance(key, Key):
            yield f.name, key.toml or f.name, key


class Reader:
    """Typed access to the merged settings that names the key (or variable) at fault."""

    def __init__(self, raw: dict[str, Any]) -> None:
        self.raw = raw

    def get(self, dotted: str, default: Any) -> tuple[str, Any]:
        """(the name to blame, the value): a variable's name when it came from one."""
        node: Any = self.raw
        for part in dotted.split("."):
            if not isinstance(node, dict) or part not in node:
                return dotted, default
            node = node[part]
        if isinstance(node, tuple):  # (variable, text) from the environment
            return node[0], node[1]
        return dotted, node

    def origin(self, dotted: str) -> str:
        """The name to blame for a value: its DOCFLOW_* variable, or its TOML key."""
        return self.get(dotted, None)[0]

    def section(self, cls: type[T], prefix: str) -> T:
        """The section `cls` read from `[prefix]` (the top level when empty)."""
        values = {}
        for name, toml, key in keys(cls):
            values[name] = self.value(f"{prefix}.{toml}" if prefix else toml, key)
        return cls(**values)

    def value(self, dotted: str, key: Key) -> Any:
        name, v = self.get(dotted, key.default)
        read = getattr(self, "_" + key.kind)
        value = read(name, v, key)
        if key.convert is None:
            return value
        try:
            return key.convert(value)
        except ValueError as e:
            raise SettingsError(dotted if key.blame_key else name, str(e)) from None

    @staticmethod
    def _text(name: str, v: Any, key: Key) -> str:
        if not isinstance(v, str):
            raise SettingsError(name, f"expected text, got {v!r}")
        return v.strip()

    @staticmethod
    def _integer(name: str, v: Any, key: Key) -> int:
        try:
            n = int(v)
        except (TypeError, ValueError):
            raise SettingsError(name, f"expected a whole number, got {v!r}") from None
        if isinstance(v, bool) or n < key.minimum or (key.maximum is not None and n > key.maximum):
            raise SettingsError(name, f"{v!r} is out of range")
        return n

    @staticmethod
    def _real(name: str, v: Any, key: Key) -> float:
        try:
            x = float(v)
        except (TypeError, ValueError):
            raise SettingsError(name, f"expected a number, got {v!r}") from None
        if isinstance(v, bool) or x < key.minimum:
            raise SettingsError(name, f"{v!r} is out of range")
        return x

    @staticmethod
    def _flag(name: str, v: Any, key: Key) -> bool:
        if isinstance(v, bool):
            return v
        t = str(v).strip().lower()
        if t in ("1", "true", "yes", "on"):
            return True
        if t in ("0", "false", "no", "off", ""):
            return False
        raise SettingsError(name, f"expected true or false, got {v!r}")

    @staticmethod
    def _items(name: str, v: Any, key: Key) -> tuple[str, ...]:
        if isinstance(v, str):
            v = [p for p in (s.strip() for s in v.split(",")) if p]
        if isinstance(v, tuple):
            v = list(v)
        if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
            raise SettingsError(name, f"expected a list of text, got {v!r}")
        return tuple(x.strip().lower() for x in v)
