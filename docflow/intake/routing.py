"""The intake addresses: which recipients are docflow's, the plus-tag that picks a
workflow (`vanban+ke-hoach@…`), and the reply address of a task (`vanban+t-TOKEN@…`)."""

from __future__ import annotations

from collections.abc import Iterable

REPLY_TAG = "t-"  # `vanban+t-TOKEN@…`: a task's reply address, never a workflow's key


class IntakeAddresses:
    """The configured intake addresses (`intake.addresses`), each also with any `+tag`."""

    def __init__(self, addresses: Iterable[str]) -> None:
        addresses = [a.strip().lower() for a in addresses]
        self._locals = {a.partition("@")[0]: a.partition("@")[2] for a in addresses}
        self._primary = addresses[0] if addresses else ""

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

    def reply_address(self, token: str) -> str:
        """A task's reply address: `LOCAL+t-TOKEN@DOMAIN` of the first intake address."""
        local, _, domain = self._primary.partition("@")
        return f"{local}+{REPLY_TAG}{token}@{domain}"

    def reply_token_of(self, rcpt_tos: Iterable[str]) -> str | None:
        """The token of the first reply address among a message's recipients: such a
        message is a reply to a task mail, never a draft."""
        for rcpt in rcpt_tos:
            tag = self.plus_tag(rcpt)
            if tag and tag.startswith(REPLY_TAG):
                return tag[len(REPLY_TAG) :]
        return None
