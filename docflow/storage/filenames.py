"""File names as people sent them, made safe where they meet a disk or a header."""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import quote

_UNSAFE = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|]+')


def safe_filename(name: str, fallback: str = "file") -> str:
    """A name that cannot escape a directory: no separators, no control characters,
    no leading dots, at most 200 characters; Vietnamese letters are kept (NFC)."""
    name = unicodedata.normalize("NFC", name)
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = _UNSAFE.sub("_", name).strip().lstrip(".").strip()
    if len(name) > 200:
        stem, dot, ext = name.rpartition(".")
        name = (stem[: 200 - len(ext) - 1] + "." + ext) if dot and len(ext) < 10 else name[:200]
    return name or fallback


def content_disposition(name: str, disposition: str = "attachment") -> str:
    """`attachment` (or `inline`) with an ASCII fallback and the UTF-8 name (RFC 6266),
    safe for disk."""
    safe = safe_filename(name)
    ascii_name = safe.encode("ascii", "replace").decode().replace("?", "_")
    return f"{disposition}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(safe)}"
