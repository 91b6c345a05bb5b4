"""A thin session over aioimaplib: the few IMAP commands the mailbox reader needs.

aioimaplib has no STARTTLS; it is done here with `loop.start_tls` on the client's
own transport (RFC 3501 §6.2.1: the capabilities are read again afterwards).
Mailbox names are sent quoted in modified UTF-7 (RFC 3501 §5.1.3), so a folder
such as "Đã xử lý" works on every server.

Every exchange is bounded in time and fails at once when the connection is lost:
aioimaplib leaves a command waiting for ever when the server goes silent or the
connection drops (its connection_lost fails no pending command), which would leave
the reader, and the mailbox's lease, stuck.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import re
import ssl
import time
from collections.abc import Awaitable
from typing import Any, TypeVar

import aioimaplib

from docflow.config import ImapSettings

T = TypeVar("T")
TIMEOUT = 30.0  # for any answer; a body download has MIN_RATE's time on top
MIN_RATE = 100_000  # bytes a second: a body download slower than this is given up
NOTE_LIMIT = 64 * 1024  # of a message's header fields kept when its body is not fetched
NOTE_FIELDS = "FROM TO CC SUBJECT DATE MESSAGE-ID DELIVERED-TO X-ORIGINAL-TO"
_UIDVALIDITY = re.compile(rb"\[UIDVALIDITY (\d+)\]")
_PERMANENTFLAGS = re.compile(rb"\[PERMANENTFLAGS \(([^)]*)\)\]")
_FETCH_UID = re.compile(rb"\(.*\bUID (\d+)\b")
_SIZE = re.compile(rb"\bRFC822\.SIZE (\d+)\b")
# system flags have their own search keys; anything else is a keyword
_UNSET = {"\\seen": "UNSEEN", "\\flagged": "UNFLAGGED", "\\answered": "UNANSWERED"}


class ImapError(Exception):
    """The server refused a command or answered without what was asked for."""


class ImapBroken(ImapError):
    """The connection was lost, or the server did not answer in time: the session is over."""


def mailbox_name(name: str) -> str:
    """A mailbox name as IMAP wants it: modified UTF-7 (RFC 3501 §5.1.3), quoted."""
    out, pending = [], ""

    def flush() -> None:
        nonlocal pending
        if pending:
            b64 = base64.b64encode(pending.encode("utf-16-be")).decode().rstrip("=")
            out.append("&" + b64.replace("/", ",") + "-")
            pending = ""

    for ch in name:
        if 0x20 <= ord(ch) <= 0x7E:
            flush()
            out.append("&-" if ch == "&" else ch)
        else:
            pending += ch
    flush()
    text = "".join(out)
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _ok(response: aioimaplib.Response, what: str) -> aioimaplib.Response:
    if response.result != "OK":
        text = b" ".join(x for x in response.lines if isinstance(x, bytes)).decode(errors="replace")
        raise ImapError(f"{what}: {response.result} {text}"[:500])
    return response


def _literal(response: aioimaplib.Response, uid: int) -> bytes | None:
    """The literal (a body, a header block) of this UID's FETCH answer."""
    lines = response.lines
    for i, line in enumerate(lines[:-1]):
        nxt = lines[i + 1]
        if isinstance(line, bytes) and isinstance(nxt, bytearray):
            found = _FETCH_UID.search(line)
            if found is not None and int(found.group(1)) == uid:
                return bytes(nxt)
    return None


class _Protocol(aioimaplib.IMAP4ClientProtocol):  # type: ignore[misc]  # (untyped library)
    """aioimaplib's protocol, noting when the server last sent anything: a large body
    still arriving is progress, not a stuck reader."""

    received_at = 0.0

    def data_received(self, d: bytes) -> None:
        self.received_at = time.monotonic()
        super().data_received(d)


class _Client(aioimaplib.IMAP4):  # type: ignore[misc]
    """aioimaplib's client, speaking through `_Protocol`."""

    def create_client(
        self, host: str, port: int, loop: Any, conn_lost_cb: Any, ssl_context: Any
    ) -> None:
        loop = loop or asyncio.get_running_loop()
        self.protocol = _Protocol(loop, conn_lost_cb)
        self._client_task = loop.create_task(
            loop.create_connection(lambda: self.protocol, host, port, ssl=ssl_context)
        )


class ImapSession:
    """One logged-in connection with a folder selected."""

    def __init__(
        self, client: aioimaplib.IMAP4, settings: ImapSettings, lost: asyncio.Future[None]
    ) -> None:
        self.client = client
        self.settings = settings
        self.lost = lost  # done once the connection is gone
        self.broken = False  # lost, or a command left unanswered: nothing more is sent
        self.uidvalidity = 0
        self.permanent_flags: set[str] = set()

    @classmethod
    async def open(cls, settings: ImapSettings) -> ImapSession:
        """Connect (TLS as configured), log in, select the folder."""
        context = None
        if settings.tls != "none":
            context = ssl.create_default_context(cafile=settings.ca_file or None)
        lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def connection_lost(exc: Exception | None) -> None:
            if not lost.done():
                lost.set_result(None)

        client = _Client(
            host=settings.host,
            port=settings.port,
            timeout=TIMEOUT,
            conn_lost_cb=connection_lost,
            ssl_context=context if settings.tls == "tls" else None,
        )
        session = cls(client, settings, lost)
        try:
            await session._bounded(client.wait_hello_from_server(), "greeting")
            if settings.tls == "starttls":
                assert context is not None
                await session._starttls(context)
            await session._command(client.login(settings.user, settings.password), "LOGIN")
            await session.select()
        except BaseException:
            session.abort()  # no LOGOUT over a connection that failed half-way
            raise
        return session

    @property
    def heard_at(self) -> float:
        """When the server last sent anything (time.monotonic)."""
        return float(self.client.protocol.received_at)

    async def _bounded(self, aw: Awaitable[T], what: str, within: float | None = None) -> T:
        """One exchange: its result, or ImapBroken when the connection is lost or the
        server does not answer `within` seconds (TIMEOUT)."""
        timeout = TIMEOUT if within is None else within
        if self.lost.done():
            self.broken = True
            raise ImapBroken(f"{what}: the connection was lost")
        task = asyncio.ensure_future(aw)
        waiting: set[asyncio.Future[Any]] = {task, self.lost}
        try:
            await asyncio.wait(waiting, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not task.done():  # timed out, lost, or cancelled: the conversation is out of step
                self.broken = True
                task.cancel()
        if not task.done():
            if self.lost.done():
                raise ImapBroken(f"{what}: the connection was lost")
            raise ImapBroken(f"{what}: no answer within {timeout:g} s")
        error = task.exception()
        if error is None:
            return task.result()
        if isinstance(error, TimeoutError | aioimaplib.CommandTimeout):  # (aioimaplib's own)
            self.broken = True
            raise ImapBroken(f"{what}: no answer within {timeout:g} s") from error
        raise error  # the command's own (a refused certificate, a protocol error…)

    async def _command(
        self, aw: Awaitable[aioimaplib.Response], what: str, within: float | None = None
    ) -> aioimaplib.Response:
        return _ok(await self._bounded(aw, what, within), what)

    async def _starttls(self, context: ssl.SSLContext) -> None:
        protocol = self.client.protocol
        if "STARTTLS" not in protocol.capabilities:
            raise ImapError("the server does not offer STARTTLS (imap.tls)")
        command = aioimaplib.Command("STARTTLS", protocol.new_tag(), loop=protocol.loop)
        await self._command(protocol.execute(command), "STARTTLS")
        loop = asyncio.get_running_loop()
        handshake = loop.start_tls(
            protocol.transport, protocol, context, server_hostname=self.settings.host
        )
        transport = await self._bounded(handshake, "TLS handshake")
        protocol.transport = transport
        await self._bounded(protocol.capability(), "CAPABILITY")  # what it says under TLS

    async def select(self) -> None:
        select = self.client.select(mailbox_name(self.settings.folder))
        response = await self._command(select, "SELECT")
        lines = b"\n".join(x for x in response.lines if isinstance(x, bytes))
        found = _UIDVALIDITY.search(lines)
        if found is None:
            raise ImapError("SELECT: the server sent no UIDVALIDITY")
        self.uidvalidity = int(found.group(1))
        flags = _PERMANENTFLAGS.search(lines)
        self.permanent_flags = set(flags.group(1).decode().lower().split()) if flags else set()

    def has(self, capability: str) -> bool:
        return bool(self.client.has_capability(capability))

    def check_flag(self) -> None:
        """The processed flag must stick, or every poll would read everything again."""
        flag = self.settings.processed_flag.lower()
        if self.settings.processed_folder or flag in self.permanent_flags:
            return
        if not flag.startswith("\\") and "\\*" in self.permanent_flags:
            return
        # (not \Seen instead: a person opening a message before docflow reads it would hide it)
        raise ImapError(
            f"the server does not keep the flag {self.settings.processed_flag} in "
            f"{self.settings.folder}: set imap.processed_folder (handled mail is moved there)"
        )

    async def ensure_folder(self, name: str) -> None:
        """Create the processed folder when it is missing (ALREADYEXISTS is fine)."""
        response = await self._bounded(self.client.list('""', mailbox_name(name)), "LIST")
        if any(isinstance(x, bytes) and x.startswith(b"(") for x in response.lines):
            return
        await self._command(self.client.create(mailbox_name(name)), f"CREATE {name}")

    async def unmarked(self) -> list[int]:
        """UIDs of the folder's messages not yet marked processed (the server filters)."""
        if self.settings.processed_folder:
            criteria = ["UNDELETED"]  # what is handled has left the folder
        else:
            flag = self.settings.processed_flag
            unset = _UNSET.get(flag.lower())
            criteria = [unset] if unset else ["UNKEYWORD", flag]
            criteria.append("UNDELETED")
        search = self.client.uid_search(*criteria, charset=None)
        response = await self._command(search, "UID SEARCH")
        first = response.lines[0] if response.lines else b""
        return sorted(int(x) for x in bytes(first).split() if x.isdigit())

    async def size(self, uid: int) -> int:
        """The message's size in bytes (RFC822.SIZE): known before any of it is downloaded."""
        fetch = self.client.uid("fetch", str(uid), "(UID RFC822.SIZE)")
        response = await self._command(fetch, "UID FETCH RFC822.SIZE")
        for line in response.lines:
            if isinstance(line, bytes):
                found, size = _FETCH_UID.search(line), _SIZE.search(line)
                if found is not None and size is not None and int(found.group(1)) == uid:
                    return int(size.group(1))
        raise ImapError(f"UID FETCH {uid} RFC822.SIZE: no size in the answer (expunged meanwhile?)")

    async def fetch(self, uid: int, size: int) -> bytes:
        """The raw message (BODY.PEEK: not marked \\Seen), given time for its `size`."""
        fetch = self.client.uid("fetch", str(uid), "(UID BODY.PEEK[])")
        response = await self._command(fetch, "UID FETCH", TIMEOUT + size / MIN_RATE)
        raw = _literal(response, uid)
        if raw is None:
            raise ImapError(f"UID FETCH {uid}: no body in the answer (expunged meanwhile?)")
        return raw

    async def header_fields(self, uid: int) -> bytes:
        """A few header fields (sender, subject, Message-ID…), at most NOTE_LIMIT bytes:
        what the quarantine shows of a message whose body is not downloaded."""
        part = f"BODY.PEEK[HEADER.FIELDS ({NOTE_FIELDS})]<0.{NOTE_LIMIT}>"
        fetch = self.client.uid("fetch", str(uid), f"(UID {part})")
        response = await self._command(fetch, "UID FETCH HEADER")
        return _literal(response, uid) or b""

    async def mark(self, uid: int) -> None:
        """Moved to the processed folder, or flagged: no later search finds it."""
        target = self.settings.processed_folder
        if not target:
            flags = f"({self.settings.processed_flag})"
            store = self.client.uid("store", str(uid), "+FLAGS.SILENT", flags)
            await self._command(store, "UID STORE")
            return
        if self.has("MOVE"):
            await self._command(self.client.uid("move", str(uid), mailbox_name(target)), "UID MOVE")
            return
        # no MOVE: copy, then flag the original \Deleted (the search skips it) and, with
        # UIDPLUS, expunge only it. Without UIDPLUS it stays: a plain EXPUNGE would also
        # remove what someone else flagged \Deleted and meant to keep a while.
        await self._command(self.client.uid("copy", str(uid), mailbox_name(target)), "UID COPY")
        deleted = self.client.uid("store", str(uid), "+FLAGS.SILENT", "(\\Deleted)")
        await self._command(deleted, "UID STORE")
        if self.has("UIDPLUS"):
            await self._command(self.client.uid("expunge", str(uid)), "UID EXPUNGE")

    async def wait_for_news(self, seconds: float, stop: asyncio.Event) -> None:
        """IDLE until the server reports a change, `seconds` pass, or `stop` is set."""
        idle = await self._bounded(self.client.idle_start(timeout=seconds), "IDLE")
        push = asyncio.ensure_future(self.client.wait_server_push(timeout=seconds + 5))
        stopped = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({push, stopped, self.lost}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (push, stopped):
                task.cancel()
            for task in (push, stopped):
                with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                    await task
            if not self.lost.done():
                self.client.idle_done()
        await self._command(idle, "IDLE")  # its end (raises at once if the connection is gone)
        while not self.client.protocol.idle_queue.empty():  # pushes seen: the cycle reads them
            self.client.protocol.idle_queue.get_nowait()

    async def close(self) -> None:
        """Log out; a connection already broken is closed quietly."""
        if not self.broken and self.client.get_state() in ("AUTH", "SELECTED"):
            with contextlib.suppress(Exception):
                await self._bounded(self.client.logout(), "LOGOUT", 10)
        self.abort()

    def abort(self) -> None:
        """Close the connection; what aioimaplib still waits for is cancelled."""
        self.broken = True
        protocol = self.client.protocol
        for task in [*self.client.tasks, *protocol.tasks]:
            task.cancel()
        transport = getattr(protocol, "transport", None)
        if transport is not None:
            transport.close()
