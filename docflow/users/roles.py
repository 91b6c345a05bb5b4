"""Role names: what a user may hold and a workflow's stage may name (`role:NAME`)."""

from __future__ import annotations

import re

from docflow.errors import DocflowError

ROLE_PATTERN = re.compile(r"[a-z0-9][a-z0-9._-]*")


def role_name(role: str) -> str:
    """The role as stored, or a DocflowError saying what a role name may contain."""
    role = role.strip()
    if not ROLE_PATTERN.fullmatch(role):
        raise DocflowError(f"not a role name: {role!r} (lowercase letters, digits, '.', '-', '_')")
    return role
