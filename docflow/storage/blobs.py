"""Content-addressed blob store: files named by their SHA-256, the same bytes stored once."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

from docflow.storage.durable import write_durably


class BlobStore:
    """Files under `root/ab/cd/<sha256>`; writes are durable, reads by hash."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._tmp = root / "tmp"

    def path_of(self, sha256: str) -> Path:
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            raise ValueError(f"not a sha256: {sha256!r}")
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def put_sync(self, data: bytes) -> str:
        """Store `data` (blocking) and return its SHA-256."""
        digest = hashlib.sha256(data).hexdigest()
        path = self.path_of(digest)
        if not path.exists():
            write_durably(path, data, self._tmp)
        return digest

    async def put(self, data: bytes) -> str:
        return await asyncio.to_thread(self.put_sync, data)

    async def get(self, sha256: str) -> bytes:
        return await asyncio.to_thread(self.path_of(sha256).read_bytes)
