"""A TCP proxy in front of Dovecot's IMAP port that misbehaves on cue.

What a real server does now and then but Dovecot will not do when asked: hide a
capability (MOVE, UIDPLUS), drop the connection or fall silent when the client sends
a given command. Everything else is Dovecot's own answer, passed through unchanged.
"""

from __future__ import annotations

import asyncio
import re

_CAPABILITY = re.compile(rb"^(\* OK \[CAPABILITY |\* CAPABILITY |\S+ OK \[CAPABILITY )")


class ImapProxy:
    """Listens on `port`; each connection is relayed to 127.0.0.1:`upstream`.

    `fault` ("drop" or "silent") happens to the first `times` commands matching `on`
    (a regex on the command line after its tag, e.g. `UID STORE`): the command is not
    passed on, and the connection is closed, or left open with nothing more relayed.
    """

    def __init__(
        self, upstream: int, *, hide: tuple[str, ...] = (), fault: str = "", on: str = "",
        times: int = 1,
    ) -> None:  # fmt: skip
        self.upstream = upstream
        self.hide = [h.encode() for h in hide]
        self.fault = fault
        self.on = re.compile(on.encode(), re.IGNORECASE) if on else None
        self.times = times
        self.commands: list[str] = []  # every command line clients sent, tag removed
        self.faults = 0  # how many were done
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> ImapProxy:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        for writer in list(self._writers):
            writer.close()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _relay(self, c_reader: asyncio.StreamReader, c_writer: asyncio.StreamWriter) -> None:
        s_reader, s_writer = await asyncio.open_connection("127.0.0.1", self.upstream, limit=2**24)
        writers = {c_writer, s_writer}
        self._writers |= writers
        silent = asyncio.Event()
        try:
            await asyncio.gather(
                self._to_server(c_reader, s_writer, silent, writers),
                self._to_client(s_reader, c_writer, silent, writers),
            )
        finally:
            self._writers -= writers

    async def _to_server(
        self,
        c_reader: asyncio.StreamReader,
        s_writer: asyncio.StreamWriter,
        silent: asyncio.Event,
        writers: set[asyncio.StreamWriter],
    ) -> None:
        try:
            while line := await c_reader.readline():
                command = line.partition(b" ")[2].rstrip(b"\r\n")
                self.commands.append(command.decode(errors="replace"))
                if self.on is not None and self.faults < self.times and self.on.match(command):
                    self.faults += 1
                    if self.fault == "drop":
                        return
                    silent.set()  # nothing more either way, until the client gives up
                if not silent.is_set():
                    s_writer.write(line)
                    await s_writer.drain()
        except ConnectionError:
            pass
        finally:  # one side gone (or dropped on cue): the other is closed too
            for w in writers:
                w.close()

    async def _to_client(
        self,
        s_reader: asyncio.StreamReader,
        c_writer: asyncio.StreamWriter,
        silent: asyncio.Event,
        writers: set[asyncio.StreamWriter],
    ) -> None:
        try:
            while line := await s_reader.readline():
                if silent.is_set():
                    continue
                if self.hide and _CAPABILITY.match(line):
                    for name in self.hide:
                        line = re.sub(rb" " + re.escape(name) + rb"(?=[ \]\r])", b"", line)
                c_writer.write(line)
                await c_writer.drain()
        except ConnectionError:
            pass
        finally:
            for w in writers:
                w.close()
