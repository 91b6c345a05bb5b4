"""A thin session over aioimaplib: the few IMAP commands the mailbox reader needs.

aioimaplib has no STARTTLS; it is done here with `loop.start_tls` on the client's
own transport (RFC 3501 §6.2.1: the capabilities are read again afterwards).
Mailbox names are sent quoted in modified UTF-7 (RFC 3501 §5.1.3), so a folder
such as "Đã xử lý" works on every server.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import re
import ssl

import aioimaplib

from docflow.config import ImapSettings

TIMEOUT = 30.0
_UIDVALIDITY = re.compile(rb"\[UIDVALIDITY (\d+)\]")
_PERMANENTFLAGS = re.compile(rb"\[PERMANENTFLAGS \(([^)]*)\)\]")
_FETCH_UID = re.compile(rb"\(.*\bUID (\d+)\b")
# system flags have their own search keys; anything else is a keyword
_UNSET = {"\\seen": "UNSEEN", "\\flagged": "UNFLAGGED", "\\answered": "UNANSWERED"}


class ImapError(Exception):
    """The server refused a command or the connection broke; the reader reconnects."""


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


class ImapSession:
    """One logged-in connection with a folder selected."""

    def __init__(self, client: aioimaplib.IMAP4, settings: ImapSettings) -> None:
        self.client = client
        self.settings = settings
        self.uidvalidity = 0
        self.permanent_flags: set[str] = set()

    @classmethod
    async def open(cls, settings: ImapSettings) -> ImapSession:
        """Connect (TLS as configured), log in, select the folder."""
        context = None
        if settings.tls != "none":
            context = ssl.create_default_context(cafile=settings.ca_file or None)
        client = aioimaplib.IMAP4(
            host=settings.host,
            port=settings.port,
            timeout=TIMEOUT,
            ssl_context=context if settings.tls == "tls" else None,
        )
        session = cls(client, settings)
        try:
            await client.wait_hello_from_server()
            if settings.tls == "starttls":
                assert context is not None
                await session._starttls(context)
            _ok(await client.login(settings.user, settings.password), "LOGIN")
            await session.select()
        except BaseException:
            session.abort()  # no LOGOUT over a connection that failed half-way
            raise
        return session

    async def _starttls(self, context: ssl.SSLContext) -> None:
        protocol = self.client.protocol
        if "STARTTLS" not in protocol.capabilities:
            raise ImapError("the server does not offer STARTTLS (imap.tls)")
        command = aioimaplib.Command("STARTTLS", protocol.new_tag(), loop=protocol.loop)
        _ok(await asyncio.wait_for(protocol.execute(command), TIMEOUT), "STARTTLS")
        loop = asyncio.get_running_loop()
        transport = await loop.start_tls(
            protocol.transport, protocol, context, server_hostname=self.settings.host
        )
        protocol.transport = transport
        await asyncio.wait_for(protocol.capability(), TIMEOUT)  # what it says under TLS

    async def select(self) -> None:
        response = _ok(await self.client.select(mailbox_name(self.settings.folder)), "SELECT")
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
        raise ImapError(
            f"the server does not keep the flag {self.settings.processed_flag} in "
            f"{self.settings.folder}: set imap.processed_folder (or processed_flag = \\Seen)"
        )

    async def ensure_folder(self, name: str) -> None:
        """Create the processed folder when it is missing (ALREADYEXISTS is fine)."""
        response = await self.client.list('""', mailbox_name(name))
        if any(isinstance(x, bytes) and x.startswith(b"(") for x in response.lines):
            return
        _ok(await self.client.create(mailbox_name(name)), f"CREATE {name}")

    async def unmarked(self) -> list[int]:
        """UIDs of the folder's messages not yet marked processed (the server filters)."""
        if self.settings.processed_folder:
            criteria = ["UNDELETED"]  # what is handled has left the folder
        else:
            flag = self.settings.processed_flag
            unset = _UNSET.get(flag.lower())
            criteria = [unset] if unset else ["UNKEYWORD", flag]
            criteria.append("UNDELETED")
        response = _ok(await self.client.uid_search(*criteria, charset=None), "UID SEARCH")
        first = response.lines[0] if response.lines else b""
        return sorted(int(x) for x in bytes(first).split() if x.isdigit())

    async def fetch(self, uid: int) -> bytes | None:
        """The raw message (BODY.PEEK: not marked \\Seen); None when it is gone."""
        response = _ok(await self.client.uid("fetch", str(uid), "(UID BODY.PEEK[])"), "UID FETCH")
        lines = response.lines
        for i, line in enumerate(lines[:-1]):
            nxt = lines[i + 1]
            if isinstance(line, bytes) and isinstance(nxt, bytearray):
                found = _FETCH_UID.search(line)
                if found is not None and int(found.group(1)) == uid:
                    return bytes(nxt)
        return None

    async def mark(self, uid: int) -> None:
        """Moved to the processed folder, or flagged: no later search finds it."""
        target = self.settings.processed_folder
        if not target:
            flags = f"({self.settings.processed_flag})"
            _ok(await self.client.uid("store", str(uid), "+FLAGS.SILENT", flags), "UID STORE")
            return
        if self.has("MOVE"):
            _ok(await self.client.uid("move", str(uid), mailbox_name(target)), "UID MOVE")
            return
        # no MOVE: copy, then delete and expunge the original (only it, with UIDPLUS)
        _ok(await self.client.uid("copy", str(uid), mailbox_name(target)), "UID COPY")
        _ok(await self.client.uid("store", str(uid), "+FLAGS.SILENT", "(\\Deleted)"), "UID STORE")
        if self.has("UIDPLUS"):
            _ok(await self.client.uid("expunge", str(uid)), "UID EXPUNGE")
        else:
            _ok(await self.client.expunge(), "EXPUNGE")

    async def wait_for_news(self, seconds: float, stop: asyncio.Event) -> None:
        """IDLE until the server reports a change, `seconds` pass, or `stop` is set."""
        idle = await self.client.idle_start(timeout=seconds)
        push = asyncio.ensure_future(self.client.wait_server_push(timeout=seconds + 5))
        stopped = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({push, stopped}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (push, stopped):
                task.cancel()
            for task in (push, stopped):
                with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                    await task
            self.client.idle_done()
            _ok(await asyncio.wait_for(idle, TIMEOUT), "IDLE")
        while not self.client.protocol.idle_queue.empty():  # pushes seen: the cycle reads them
            self.client.protocol.idle_queue.get_nowait()

    async def close(self) -> None:
        """Log out; a connection already broken is closed quietly."""
        with contextlib.suppress(Exception):
            if self.client.get_state() in ("AUTH", "SELECTED"):
                await asyncio.wait_for(self.client.logout(), 10)
        self.abort()

    def abort(self) -> None:
        transport = getattr(self.client.protocol, "transport", None)
        if transport is not None:
            transport.close()
