"""The spool: every received message, written durably before it is acknowledged."""

from __future__ import annotations

import asyncio
import hashlib
import os
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from docflow.storage.durable import fsync_dir, write_durably


@dataclass(frozen=True)
class SpoolEntry:
    """Where a message's raw bytes are kept, and their fingerprint."""

    name: str  # path relative to the spool root
    sha256: str
    size: int


class SpoolWriter:
    """A message being received: written to a temp file as it arrives, hashed on the way.

    `finish` makes it durable (fsync, rename, fsync of the directory); `discard`
    removes it. Written to in the event loop: page-cache writes of a chunk each.
    """

    def __init__(self, spool: Spool) -> None:
        self.spool = spool
        spool.tmp_dir.mkdir(parents=True, exist_ok=True)
        self.tmp = spool.tmp_dir / f"{uuid.uuid4().hex}.part"
        self._fd: int | None = os.open(self.tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
        self._hash = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> None:
        assert self._fd is not None
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view) :]
        self._hash.update(data)
        self.size += len(data)

    def discard(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        self.tmp.unlink(missing_ok=True)

    def finish_sync(self, when: datetime) -> SpoolEntry:
        """Durable under its spool name (blocking: run it in a thread)."""
        assert self._fd is not None
        try:
            os.fsync(self._fd)
        finally:
            os.close(self._fd)
            self._fd = None
        name = self.spool.new_name(when)
        path = self.spool.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        os.replace(self.tmp, path)
        try:
            fsync_dir(path.parent)
        except BaseException:  # not durable, so not received: nothing may stay behind
            path.unlink(missing_ok=True)
            raise
        return SpoolEntry(name=name, sha256=self._hash.hexdigest(), size=self.size)


class Spool:
    """Raw messages under `root/YYYY/MM/DD/`; kept for good (they are the quarantine's evidence)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._tmp = root / "tmp"

    @property
    def tmp_dir(self) -> Path:
        return self._tmp

    def new_name(self, when: datetime) -> str:
        return f"{when:%Y/%m/%d}/{when:%H%M%S}-{uuid.uuid4().hex}.eml"

    def writer(self) -> SpoolWriter:
        return SpoolWriter(self)

    def write_sync(self, raw: bytes, when: datetime) -> SpoolEntry:
        name = self.new_name(when)
        try:
            write_durably(self.root / name, raw, self._tmp)
        except BaseException:  # e.g. its directory's fsync failed after the rename
            (self.root / name).unlink(missing_ok=True)
            raise
        return SpoolEntry(name=name, sha256=hashlib.sha256(raw).hexdigest(), size=len(raw))

    async def write(self, raw: bytes, when: datetime) -> SpoolEntry:
        return await asyncio.to_thread(self.write_sync, raw, when)

    def path_of(self, name: str) -> Path:
        path = (self.root / name).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise ValueError(f"spool name outside the spool: {name!r}")
        return path

    def remove(self, name: str) -> None:
        """Forget a message that was never acknowledged."""
        self.path_of(name).unlink(missing_ok=True)

    async def read(self, name: str) -> bytes:
        return await asyncio.to_thread(self.path_of(name).read_bytes)
