"""`docflow archive verify`: an issued record's files against their hashes and signatures.

Each issued file is read back from the blob store and hashed; each PDF's signatures are
validated against the trust roots (pyHanko's validator, no network). A PDF without
signatures is reported as such, not as a failure: records issued before signing existed
carry none.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from docflow.archive.records import IssuedFile
from docflow.archive.service import ArchiveService
from docflow.archive.signing import SignatureReport, verify_pdf
from docflow.storage.blobs import BlobStore

PDF = "application/pdf"


@dataclass
class FileCheck:
    position: int
    name: str
    role: str
    sha256: str
    problems: list[str] = field(default_factory=list)
    signatures: list[SignatureReport] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "position": self.position,
            "name": self.name,
            "role": self.role,
            "sha256": self.sha256,
            "ok": not self.problems,
            "problems": self.problems,
            "signatures": [
                {
                    "field": s.field,
                    "signer": s.signer,
                    "signing_time": s.signing_time.isoformat() if s.signing_time else None,
                    "intact": s.intact,
                    "trusted": s.valid,
                    "coverage": s.coverage,
                    "modified_after": s.modified_after,
                    "ok": s.ok,
                    "problems": s.problems,
                }
                for s in self.signatures
            ],
        }


async def verify_record(
    archive: ArchiveService, blobs: BlobStore, key: str, trust_roots: list[Path]
) -> dict[str, Any]:
    """Every file of the record re-hashed, every signature validated: a report with `ok`."""
    record = await archive.find(key)
    checks = [
        await _check(blobs, f, trust_roots)
        for f in await IssuedFile.filter(record=record).order_by("position")
    ]
    return {
        "record": record.id,
        "number": record.number,
        "ok": all(not c.problems for c in checks),
        "files": [c.to_json() for c in checks],
    }


async def _check(blobs: BlobStore, f: IssuedFile, trust_roots: list[Path]) -> FileCheck:
    check = FileCheck(f.position, f.name, f.role, f.sha256)
    try:
        data = await blobs.get(f.sha256)
    except (OSError, LookupError) as e:
        check.problems.append(f"the stored file cannot be read: {e}")
        return check
    actual = hashlib.sha256(data).hexdigest()
    if actual != f.sha256:
        check.problems.append(f"changed: its SHA-256 is {actual}, the record says {f.sha256}")
    if f.mime == PDF:
        check.signatures = await asyncio.to_thread(verify_pdf, data, trust_roots)
        for s in check.signatures:
            check.problems += [f"signature {s.field!r} ({s.signer}): {p}" for p in s.problems]
            if not s.ok and not s.problems:
                check.problems.append(f"signature {s.field!r} ({s.signer}) does not validate")
    return check
