"""Reading a message's content in a worker process: parse, type, extract, store blobs.

This is the CPU-heavy half of processing, and the half that touches untrusted
bytes: in its own process it runs beside the event loop instead of competing
with it for the GIL, and a parser that crashes or runs away cannot take the
SMTP listener down (the message is retried, then quarantined).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any, TypeVar

from docflow.documents.service import NewFile
from docflow.errors import Refused
from docflow.intake.body_draft import body_file, body_text
from docflow.intake.files import prepare_files
from docflow.intake.parse import Attachment, ParsedMail, parse_message
from docflow.storage.blobs import BlobStore

T = TypeVar("T")


@dataclass(frozen=True)
class Analysis:
    """What a message holds; attachment bytes stay behind (they are in the blob store)."""

    mail: ParsedMail
    files: tuple[NewFile, ...]
    refusal: tuple[str, str] | None  # (reason, detail) when its files cannot be accepted


def analyse(
    raw_path: str, allowed_types: tuple[str, ...], blob_root: str, body_draft: bool = False
) -> Analysis:
    """Parse the spooled message at `raw_path`; store its accepted files as blobs.

    `body_draft`: a message with no usable file but a body has the body as its file, a
    PDF (`intake.body_as_draft`, for a new document only: see `Drafts`).
    """
    mail = parse_message(Path(raw_path).read_bytes())
    files: list[NewFile] = []
    refusal = None
    try:
        files = prepare_files(mail.attachments, allowed_types, BlobStore(Path(blob_root)))
    except Refused as r:
        if body_draft and r.reason == "no_attachment" and body_text(mail):
            files = [body_file(mail, BlobStore(Path(blob_root)))]
        else:
            refusal = (r.reason, r.detail)
    light = dataclasses.replace(
        mail, attachments=tuple(dataclasses.replace(a, data=b"") for a in mail.attachments)
    )
    return Analysis(light, tuple(files), refusal)


def analyse_files(
    attachments: tuple[Attachment, ...], allowed_types: tuple[str, ...], blob_root: str
) -> tuple[tuple[NewFile, ...], tuple[str, str] | None]:
    """Files uploaded from a browser, checked and stored as a mail's attachments are."""
    try:
        return tuple(prepare_files(attachments, allowed_types, BlobStore(Path(blob_root)))), None
    except Refused as r:
        return (), (r.reason, r.detail)


def read_whole(raw_path: str) -> ParsedMail:
    """The whole message, its attachments' bytes left out (a reply to a task mail: its
    text decides, its files only get named)."""
    mail = parse_message(Path(raw_path).read_bytes())
    return dataclasses.replace(
        mail, attachments=tuple(dataclasses.replace(a, data=b"") for a in mail.attachments)
    )


def read_headers(raw_path: str, limit: int = 256 * 1024) -> ParsedMail:
    """Only the header block: enough to decide whether the message is read whole."""
    with open(raw_path, "rb") as f:
        return read_header_bytes(f.read(limit))


def read_header_bytes(data: bytes, limit: int = 256 * 1024) -> ParsedMail:
    """The same from the message's bytes in memory."""
    data = data[:limit]
    end = data.find(b"\r\n\r\n")
    if end < 0:
        end = data.find(b"\n\n")
    return parse_message(data if end < 0 else data[: end + 2])


class Analyser:
    """Runs `analyse` in a pool of `processes` worker processes (0: in a thread)."""

    def __init__(
        self,
        processes: int,
        allowed_types: tuple[str, ...],
        blob_root: Path,
        body_as_draft: bool = False,
    ) -> None:
        self.processes = processes
        self.allowed_types = allowed_types
        self.blob_root = str(blob_root)
        self.body_as_draft = body_as_draft  # intake.body_as_draft
        self._pool: ProcessPoolExecutor | None = None

    async def headers(self, raw_path: Path) -> ParsedMail:
        return await self._call(read_headers, str(raw_path))

    async def whole(self, raw_path: Path) -> ParsedMail:
        return await self._call(read_whole, str(raw_path))

    async def run(self, raw_path: Path, new_document: bool = False) -> Analysis:
        """The message read whole; for a `new_document`, its body may be the draft."""
        body_draft = self.body_as_draft and new_document
        return await self._call(
            analyse, str(raw_path), self.allowed_types, self.blob_root, body_draft
        )

    async def files(
        self, attachments: tuple[Attachment, ...]
    ) -> tuple[tuple[NewFile, ...], tuple[str, str] | None]:
        """`analyse_files` in the same workers: the type by content, text, blobs."""
        return await self._call(analyse_files, attachments, self.allowed_types, self.blob_root)

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        if self.processes == 0:
            return await asyncio.to_thread(fn, *args)
        if self._pool is None:  # started on first use: tools that never process pay nothing
            # forkserver: workers fork from a clean process that has imported the parsers
            # once (fork from this threaded process would be unsafe, spawn slower)
            context = get_context("forkserver")
            context.set_forkserver_preload(["docflow.intake.analysis"])
            self._pool = ProcessPoolExecutor(self.processes, mp_context=context)
        try:
            return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)
        except BrokenProcessPool:
            self.close()  # a worker died (crash, OOM kill): the next message gets a new pool
            raise

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
