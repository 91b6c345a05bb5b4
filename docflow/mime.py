"""E-mail policies (parsing fast, long non-ASCII subjects composed correctly); comments.

`policy.default` builds a new header class on every header access
(`HeaderRegistry.__getitem__` calls `type(...)`), which made header handling
the largest single cost of processing a draft. The registry here caches those
classes; behaviour is otherwise exactly `policy.default`'s.
"""

from __future__ import annotations

from email import policy
from email.header import Header
from email.headerregistry import BaseHeader, HeaderRegistry
from email.policy import EmailPolicy


class CachingHeaderRegistry(HeaderRegistry):
    """`HeaderRegistry` that builds each header class once."""

    def __init__(self) -> None:
        super().__init__()
        self._classes: dict[str, type[BaseHeader]] = {}

    def __getitem__(self, name: str) -> type[BaseHeader]:
        key = name.lower()
        cls = self._classes.get(key)
        if cls is None:
            cls = self._classes[key] = super().__getitem__(name)
        return cls


PARSE_POLICY = policy.default.clone(header_factory=CachingHeaderRegistry())


class MailPolicy(EmailPolicy):
    """`policy.SMTP`, except that non-ASCII unstructured headers are encoded by the
    legacy `email.header.Header` encoder.

    The modern folder drops the space between two encoded-words when it folds a
    long header (CPython gh-144156, fixed after 3.11): a long Vietnamese subject
    would reach the reader with words run together.
    """

    def _legacy(self, name: str, value: str) -> str | None:
        if name.lower() not in _UNSTRUCTURED or value.isascii():
            return None
        encoded = Header(str(value), "utf-8", header_name=name).encode(linesep=self.linesep)
        return f"{name}: {encoded}{self.linesep}"

    def fold(self, name: str, value: str) -> str:
        return self._legacy(name, value) or super().fold(name, value)

    def fold_binary(self, name: str, value: str) -> bytes:
        folded = self._legacy(name, value)
        return folded.encode("ascii") if folded else super().fold_binary(name, value)


_UNSTRUCTURED = ("subject", "comments", "content-description")
MAIL_POLICY = MailPolicy(linesep="\r\n", header_factory=CachingHeaderRegistry())


def strip_comments(value: str) -> str:
    """Drop RFC 5322 comments `( … )`, nested, outside quoted strings."""
    out: list[str] = []
    depth = 0
    quoted = False
    escaped = False
    for ch in value:
        if escaped:
            escaped = False
            if depth == 0:
                out.append(ch)
            continue
        if ch == "\\":
            escaped = True
            if depth == 0:
                out.append(ch)
            continue
        if quoted:
            quoted = ch != '"'
            out.append(ch)
        elif ch == '"' and depth == 0:
            quoted = True
            out.append(ch)
        elif ch == "(":
            depth += 1
        elif ch == ")" and depth:
            depth -= 1
        elif depth == 0:
            out.append(ch)
    return " ".join(out_part for out_part in "".join(out).split())
