"""The spool: every received message, written durably before it is acknowledged."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from docflow.storage.durable import write_durably


@dataclass(frozen=True)
class SpoolEntry:
    """Where a message's raw bytes are kept, and their fingerprint."""

    name: str  # path relative to the spool root
    sha256: str
    size: int


class Spool:
    """Raw messages under `root/YYYY/MM/DD/`; kept for good (they are the quarantine's evidence)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._tmp = root / "tmp"

    def write_sync(self, raw: bytes, when: datetime) -> SpoolEntry:
        name = f"{when:%Y/%m/%d}/{when:%H%M%S}-{uuid.uuid4().hex}.eml"
        write_durably(self.root / name, raw, self._tmp)
        return SpoolEntry(name=name, sha256=hashlib.sha256(raw).hexdigest(), size=len(raw))

    async def write(self, raw: bytes, when: datetime) -> SpoolEntry:
        return await asyncio.to_thread(self.write_sync, raw, when)

    def path_of(self, name: str) -> Path:
        path = (self.root / name).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise ValueError(f"spool name outside the spool: {name!r}")
        return path

    async def read(self, name: str) -> bytes:
        return await asyncio.to_thread(self.path_of(name).read_bytes)
