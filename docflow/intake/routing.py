"""The intake addresses: which recipients are docflow's, and the plus-tag that picks a
workflow (`vanban+ke-hoach@…`)."""

from __future__ import annotations

from collections.abc import Iterable


class IntakeAddresses:
    """The configured intake addresses (`intake.addresses`), each also with any `+tag`."""

    def __init__(self, addresses: Iterable[str]) -> None:
        self._locals = {a.partition("@")[0]: a.partition("@")[2] for a in addresses}

    def plus_tag(self, address: str) -> str | None:
        """`vanban+ke-hoach@…` → `ke-hoach`; None when the address has no tag."""
        local, _, domain = address.strip().lower().partition("@")
        base, plus, tag = local.partition("+")
        return tag if plus and self._locals.get(base) == domain else None

    def is_intake_address(self, address: str) -> bool:
        local, _, domain = address.strip().lower().partition("@")
        return self._locals.get(local.partition("+")[0]) == domain

    def plus_tag_of(self, rcpt_tos: Iterable[str]) -> str | None:
        """The first plus-tag among a message's recipients."""
        for rcpt in rcpt_tos:
            tag = self.plus_tag(rcpt)
            if tag:
                return tag
        return None
