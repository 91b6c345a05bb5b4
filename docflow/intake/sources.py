"""Messages from files for `docflow ingest`: .eml files, mbox files, Maildir folders."""

from __future__ import annotations

import mailbox
from collections.abc import Iterator
from pathlib import Path


def count_messages(paths: list[Path]) -> int:
    return sum(1 for _ in iter_messages(paths, count_only=True))


def iter_messages(paths: list[Path], count_only: bool = False) -> Iterator[tuple[str, bytes]]:
    """(label, raw bytes) for every message found under `paths`."""
    for path in paths:
        if path.is_dir():
            if all((path / sub).is_dir() for sub in ("cur", "new", "tmp")):
                box = mailbox.Maildir(str(path), factory=None, create=False)
                for key in sorted(box.keys()):
                    yield f"{path}/{key}", b"" if count_only else box.get_bytes(key)
            else:
                yield from iter_messages(
                    sorted(p for p in path.iterdir() if p.is_dir() or p.suffix == ".eml"),
                    count_only,
                )
        elif _is_mbox(path):
            mbox = mailbox.mbox(str(path), factory=None, create=False)
            for i, key in enumerate(mbox.keys()):
                yield f"{path}#{i + 1}", b"" if count_only else mbox.get_bytes(key)
        else:
            yield str(path), b"" if count_only else path.read_bytes()


def _is_mbox(path: Path) -> bool:
    with path.open("rb") as f:
        return f.read(5) == b"From "
