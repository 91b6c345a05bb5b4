"""Warm LibreOffice converters: PDF renditions of office drafts without a LibreOffice start.

Each is one soffice.bin with its own profile, driven over UNO by `uno_worker.py`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import io
import json
import logging
import os
import secrets
import shutil
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pypdf

log = logging.getLogger("docflow.renditions")

WORKER = Path(__file__).with_name("uno_worker.py")
FONTS = Path(__file__).with_name("fonts.conf")  # no glyph-less stand-ins for Times (see there)
UNO_PYTHON = "/usr/bin/python3"  # Debian's Python, the one with `import uno`
START_TIMEOUT = 60.0
STOP_GRACE = 2.0
RESTART_EXIT = 81  # soffice.bin asks its launcher for a restart after creating a profile
SUFFIXES = (".docx", ".doc", ".odt", ".rtf")  # uno_worker.WORD_FILTERS: what may be inside
Process = asyncio.subprocess.Process
PIPE, DEVNULL = asyncio.subprocess.PIPE, asyncio.subprocess.DEVNULL


class ConversionError(Exception):
    """A draft that could not be rendered; the message says why, in plain English."""


@dataclass(frozen=True)
class Rendition:
    """A PDF rendition and its page count as pypdf reads it; the document as DOCX too
    when it was asked for (`ConverterPool.convert(..., docx=True)`)."""

    pdf: bytes
    pages: int
    docx: bytes | None = None


def _office_binary(soffice: str) -> str:
    """soffice.bin itself, so the office is our direct child: reaped by us, killable by pid."""
    found = shutil.which(soffice)
    binary = Path(found).resolve().with_name("soffice.bin") if found else None
    return str(binary) if binary and binary.is_file() else found or soffice


def _read_rendition(path: Path) -> Rendition:
    """The PDF at `path`, refused unless pypdf opens it and finds at least one page."""
    if not path.is_file():
        raise ConversionError("LibreOffice wrote no PDF (output missing)")
    pdf = path.read_bytes()
    if not pdf.startswith(b"%PDF-"):
        raise ConversionError("LibreOffice's output is not a PDF")
    try:
        pages = len(pypdf.PdfReader(io.BytesIO(pdf)).pages)
    except Exception as error:
        raise ConversionError(f"LibreOffice's output is not a readable PDF ({error})") from None
    if pages < 1:
        raise ConversionError("LibreOffice's PDF has no pages")
    return Rendition(pdf=pdf, pages=pages)


def _read_docx(path: Path) -> bytes:
    """The DOCX LibreOffice stored beside the PDF (a zip, or it is refused)."""
    data = path.read_bytes() if path.is_file() else b""
    if not data.startswith(b"PK"):
        raise ConversionError("LibreOffice wrote no DOCX")
    return data


def _write_input(path: Path, data: bytes) -> None:
    """A fresh job directory holding the input, named with its suffix for type detection."""
    path.parent.mkdir(parents=True)
    path.write_bytes(data)


async def _reap(process: Process, grace: float) -> None:
    """Give a child `grace` seconds to exit by itself, then SIGKILL it; reap it either way."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(process.wait(), grace)
    if process.returncode is None:  # not process.kill(): its poll() would steal the exit status
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGKILL)
    await process.wait()


def _kill_orphans(profile_uri: str) -> None:
    """Kill any soffice.bin still running on this profile (its serve was killed: SIGKILL,
    OOM). A new office on the same profile would hand its work to that one and exit 0."""
    needle = f"-env:UserInstallation={profile_uri}".encode()
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            args = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue  # gone meanwhile, or not ours to read
        if needle in args and int(proc.name) != os.getpid():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(int(proc.name), signal.SIGKILL)
                log.warning("orphaned converter killed", extra={"pid": int(proc.name)})


class _Converter:
    """One warm soffice.bin with its own profile and temp dir, and the worker driving it."""

    def __init__(self, pool: ConverterPool, index: int) -> None:
        self.pool, self.index = pool, index
        self.profile = pool.workdir / "profiles" / f"converter-{index}"
        self.tmp = pool.workdir / "tmp" / f"converter-{index}"  # LibreOffice's own temp files
        self.office: Process | None = None
        self.worker: Process | None = None
        self.pipe, self.jobs = "", 0
        self.starting: asyncio.Task[None] | None = None

    def running(self) -> bool:
        """Whether both processes are up; a converter killed while idle shows here."""
        return all(p is not None and p.returncode is None for p in (self.office, self.worker))

    def restart(self, reason: str = "", graceful: bool = False) -> None:
        """Replace the processes in the background; the next job on this converter waits."""
        if self.pool.closed or (self.starting is not None and not self.starting.done()):
            return
        if reason:  # never the document or its name: only what happened
            log.warning("converter restarted", extra={"converter": self.index, "reason": reason})
        self.starting = asyncio.create_task(self._launch(graceful))
        self.starting.add_done_callback(lambda t: t.cancelled() or t.exception())

    async def ready(self) -> None:
        """Start lazily on first use, and again if LibreOffice died while idle."""
        if self.pool.closed:
            raise ConversionError("the converter pool is closed")
        if self.starting is None:
            self.restart()
        elif self.starting.done() and not self.running():
            self.restart("LibreOffice was not running")
        task = self.starting
        assert task is not None
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if task.cancelled() and not (current and current.cancelling()):
                raise ConversionError("the converter pool was closed") from None
            raise

    async def _launch(self, graceful: bool) -> None:
        """Stop what is left, then start soffice.bin and a worker connected to it."""
        await self.stop(graceful)
        self.jobs = 0
        await asyncio.to_thread(self._prepare)
        self.pipe = f"docflow-{os.getpid()}-{self.index}-{secrets.token_hex(6)}"
        try:
            self.office = await self._spawn_office()
            self.worker = await asyncio.create_subprocess_exec(
                self.pool.python, str(WORKER), self.pipe, str(START_TIMEOUT),
                stdin=PIPE, stdout=PIPE, stderr=DEVNULL,
            )  # fmt: skip
            await self._await_ready()
        except BaseException as error:
            await self.stop(graceful=False)
            if isinstance(error, OSError):  # soffice.bin or the system Python is missing
                raise ConversionError(f"could not start LibreOffice: {error}") from None
            raise

    def _prepare(self) -> None:
        """Profile and temp directories, without the lock file or the office a killed serve
        leaves behind."""
        self.profile.mkdir(parents=True, exist_ok=True)
        self.tmp.mkdir(parents=True, exist_ok=True)
        _kill_orphans(self.profile.as_uri())
        (self.profile / ".lock").unlink(missing_ok=True)

    async def _spawn_office(self) -> Process:
        """soffice.bin listening on a private pipe (a user-only socket, no TCP port)."""
        return await asyncio.create_subprocess_exec(
            self.pool.binary, "--headless", "--invisible", "--nologo", "--norestore",
            "--nodefault", "--nolockcheck", "--nocrashreport",
            f"-env:UserInstallation={self.profile.as_uri()}",
            f"--accept=pipe,name={self.pipe};urp;",
            stdin=DEVNULL, stdout=DEVNULL, stderr=DEVNULL, start_new_session=True,
            env={**os.environ, "TMPDIR": str(self.tmp), "SAL_ENABLE_FILE_LOCKING": "1",
                 "FONTCONFIG_FILE": str(FONTS)},
        )  # fmt: skip

    async def _await_ready(self) -> None:
        """Wait for the worker's "ready", relaunching the office when it asks for a restart."""
        assert self.worker is not None and self.worker.stdout is not None
        deadline = asyncio.get_running_loop().time() + START_TIMEOUT
        line = asyncio.ensure_future(self.worker.stdout.readline())
        try:
            while not line.done():
                assert self.office is not None
                exited = asyncio.ensure_future(self.office.wait())
                left = max(0.0, deadline - asyncio.get_running_loop().time())
                await asyncio.wait({line, exited}, timeout=left, return_when="FIRST_COMPLETED")
                exited.cancel()
                status = self.office.returncode
                if line.done():
                    break
                if status == RESTART_EXIT and left > 0:  # same pipe name: the worker keeps trying
                    self.office = await self._spawn_office()
                    continue
                why = f"exited with status {status}" if status is not None else "did not answer"
                raise ConversionError(f"LibreOffice {why} while starting")
        finally:
            line.cancel()
        answer = json.loads(line.result() or b'{"error": "the UNO worker exited"}')
        if not answer.get("ready"):
            raise ConversionError(f"could not reach LibreOffice: {answer.get('error')}")

    async def stop(self, graceful: bool = True) -> None:
        """Graceful: the worker terminates LibreOffice cleanly on end of stdin; else SIGKILL."""
        worker, office, self.worker, self.office = self.worker, self.office, None, None
        if worker is not None and worker.stdin is not None:
            worker.stdin.close()
        grace = STOP_GRACE if graceful else 0.0
        await asyncio.gather(*(_reap(p, grace) for p in (worker, office) if p is not None))
        if office is not None:
            await asyncio.to_thread(self._clean)

    def _clean(self) -> None:
        """Remove what a killed office leaves: its temp files and its pipe's socket in /tmp."""
        shutil.rmtree(self.tmp, ignore_errors=True)
        Path("/tmp", f"OSL_PIPE_{os.getuid()}_{self.pipe}").unlink(missing_ok=True)

    async def run(self, data: bytes, suffix: str, limit: float, docx: bool) -> Rendition:
        """One job: input file in, worker round trip under the timeout, checked PDF out."""
        await self.ready()
        job = self.pool.workdir / "jobs" / secrets.token_hex(8)
        source, target = job / f"input{suffix}", job / "output.pdf"
        request = {"input": str(source), "output": str(target)}
        if docx:
            request["docx"] = str(job / "output.docx")
        try:
            await asyncio.to_thread(_write_input, source, data)
            await self._ask(request, limit)
            made = await asyncio.to_thread(_read_rendition, target)
            if docx:
                stored = await asyncio.to_thread(_read_docx, job / "output.docx")
                made = dataclasses.replace(made, docx=stored)
            return made
        finally:
            await asyncio.to_thread(shutil.rmtree, job, True)
            self.jobs += 1
            if self.jobs >= self.pool.max_jobs and self.running():
                log.info("converter recycled", extra={"converter": self.index, "jobs": self.jobs})
                self.restart(graceful=True)  # does nothing if a replacement is under way

    async def _ask(self, request: dict[str, Any], limit: float) -> None:
        """Send one request and read its answer; a timeout or crash replaces the converter."""
        worker = self.worker
        assert worker is not None and worker.stdin is not None and worker.stdout is not None
        try:
            async with asyncio.timeout(limit):
                worker.stdin.write(json.dumps(request).encode() + b"\n")
                await worker.stdin.drain()
                answer: dict[str, Any] = json.loads(await worker.stdout.readline() or b"{}")
        except TimeoutError:
            self.restart(f"conversion timed out after {limit:g} s")
            raise ConversionError(f"conversion timed out after {limit:g} s") from None
        except (ConnectionError, ValueError):
            answer = {}  # the worker died mid-write, or wrote something that is not an answer
        except asyncio.CancelledError:
            self.restart("the conversion was cancelled")  # its answer must not reach the next job
            raise
        if answer.get("ok"):
            return
        if answer.get("fatal") or not answer or not self.running():
            self.restart("LibreOffice crashed during a conversion")
            raise ConversionError("LibreOffice crashed during the conversion")
        raise ConversionError(f"LibreOffice could not convert the file: {answer.get('error')}")


class ConverterPool:
    """A few warm converters; jobs wait for an idle one, so nothing starts LibreOffice twice."""

    def __init__(
        self, workdir: Path, size: int = 2, timeout: float = 60.0, max_jobs: int = 200,
        soffice: str = "soffice", *, python: str = UNO_PYTHON,
    ) -> None:  # fmt: skip
        if size < 1 or max_jobs < 1 or timeout <= 0:
            raise ValueError("size and max_jobs must be at least 1, timeout positive")
        self.workdir = Path(workdir).resolve()
        self.timeout, self.max_jobs = timeout, max_jobs
        self.binary, self.python = _office_binary(soffice), python
        self.closed = self._started = False
        self._converters = [_Converter(self, i) for i in range(size)]
        self._idle: asyncio.LifoQueue[_Converter] = asyncio.LifoQueue()  # warm ones first
        for converter in reversed(self._converters):
            self._idle.put_nowait(converter)

    async def start(self) -> None:
        """Prepare the work directory; converters start lazily on their first job."""
        if not self._started:
            await asyncio.to_thread(shutil.rmtree, self.workdir / "jobs", True)  # a crash left
            await asyncio.to_thread((self.workdir / "jobs").mkdir, parents=True, exist_ok=True)
            self._started = True

    async def convert(
        self, data: bytes, suffix: str, *, limit: float | None = None, docx: bool = False
    ) -> Rendition:
        """A PDF rendition of `data`; `limit` (seconds) overrides the pool's timeout once;
        `docx` stores the document as DOCX as well (`Rendition.docx`)."""
        suffix = suffix.lower()
        if suffix not in SUFFIXES:
            raise ConversionError(f"cannot convert {suffix!r} files, only {', '.join(SUFFIXES)}")
        if not data:
            raise ConversionError("the file is empty")  # LibreOffice would render a blank page
        if self.closed:
            raise ConversionError("the converter pool is closed")
        await self.start()
        converter = await self._idle.get()
        try:
            return await converter.run(data, suffix, self.timeout if limit is None else limit, docx)
        finally:
            self._idle.put_nowait(converter)

    async def close(self) -> None:
        """Stop every LibreOffice and worker this pool started, and reap them."""
        self.closed = True
        starting = [c.starting for c in self._converters if c.starting and not c.starting.done()]
        for task in starting:
            task.cancel()
        await asyncio.gather(*starting, return_exceptions=True)
        await asyncio.gather(*(c.stop() for c in self._converters))

    def pids(self) -> list[int]:
        """Process ids of the soffice.bin processes running now."""
        offices = [c.office for c in self._converters]
        return [p.pid for p in offices if p is not None and p.returncode is None]
