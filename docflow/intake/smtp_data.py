"""aiosmtpd SMTP/LMTP protocols that read the DATA section in chunks.

aiosmtpd 1.4.6 awaits one ``readuntil(b"\\r\\n")`` per line of DATA, and that
loop is what limits a fsyncing Maildir sink (scripts/bench_smtp_data.py: ~100
vs ~210 messages/s of 280 KB on two cores).  Here DATA is read with
``readuntil`` on the terminator itself: each ``LimitOverrunError`` hands back
all that is buffered except the last four bytes, so a terminator split across
two reads is still found, and bytes after it (a pipelining client's next
commands) stay in the reader for the command loop.  aiosmtpd's reader limit
(``line_length_limit``) is left as it is: raising it during DATA gained nothing.

Replies, the size limit (552), the line-length limit (500, kept: it costs one
``rfind`` per ``line_length_limit`` bytes) and de-transparency are those of
aiosmtpd's ``SMTP.smtp_DATA``, including which error wins when both apply.
One departure: a sink that fails while DATA streams into it (a full disk, an I/O
error) is discarded, the rest of DATA is read and dropped, and the answer is
``451 4.3.0`` (once per recipient in LMTP), where aiosmtpd would answer "500 Error:
…" at once and read the rest of the message as commands.
"""

from __future__ import annotations

import asyncio
import enum
import inspect
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, cast
from warnings import warn

from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import MISSING, SMTP, syntax

__all__ = ["ChunkedDataMixin", "ChunkedLMTP", "ChunkedSMTP", "DataSink"]

log = logging.getLogger("mail.log")  # aiosmtpd's logger, so its log lines read alike

_CRLF = b"\r\n"
_TERMINATOR = b"\r\n.\r\n"
_DOT_LINE = b".\r\n"
NO_SINK = "451 4.3.0 Temporary failure, please try again later"
NOT_STORED = "451 4.3.0 Could not store the message, please try again later"
# Endings of the bytes already consumed that a terminator could continue.
_TERMINATOR_PREFIXES = (b"\r", b"\r\n", b"\r\n.")


class _State(enum.Enum):
    NOMINAL = enum.auto()
    TOO_LONG = enum.auto()
    TOO_MUCH = enum.auto()
    NOT_STORED = enum.auto()  # the sink failed (and was discarded): 451


class DataSink(Protocol):
    """Where DATA goes when the handler streams it (``handler.open_data_sink``).

    A handler that has ``open_data_sink(session, envelope)`` gets the message
    written to the sink as it arrives (transparency dots already removed),
    ``envelope.data_sink`` set and ``envelope.content`` None in ``handle_DATA``,
    so that a large message never sits in memory whole. A sink whose message
    is refused (552, 500, connection lost) is discarded; so is one whose `write`
    raises (the message is answered 451), and `discard` is not called on it again.
    """

    def write(self, data: bytes) -> None: ...

    def discard(self) -> None: ...


class _Collector:
    """Keeps (or streams to a sink) the DATA bytes while aiosmtpd's limits hold."""

    def __init__(
        self, size_limit: int | None, line_limit: int, sink: DataSink | None = None
    ) -> None:
        self.sink = sink  # None once a failed sink is discarded
        self.done = False  # the terminating dot line was read
        self._raw_tail = _CRLF  # the stream's last two raw bytes: DATA starts a line
        self.size_limit = size_limit or 0  # aiosmtpd: None or 0 means no limit
        self.line_limit = line_limit
        self.state = _State.NOMINAL
        self.size = 0  # bytes seen, kept or not
        self._parts: list[bytes] = []
        self._partial = b""  # unfinished last line, kept for the line-length check

    def feed(self, data: bytes) -> None:
        """Add the next bytes of DATA (never any part of the terminating dot line)."""
        offset = self.size - len(self._partial)  # stream offset of buf[0]
        self.size += len(data)
        if self.state is not _State.NOMINAL:
            return  # drain only: memory stays flat however much is sent
        if self.sink is not None:
            try:
                self._stream(data)
            except Exception as e:
                self._sink_failed(e)
                return
        else:
            self._parts.append(data)
        buf = self._partial + data if self._partial else data
        limit = self.line_limit
        # Jump to the last CRLF within `limit` bytes of each line start: every
        # line skipped over is then no longer than `limit`, CRLF included.
        start = 0
        while (cr := buf.rfind(_CRLF, start, start + limit)) >= 0:
            start = cr + 2
        if self.size_limit and offset + start > self.size_limit:
            self._fail(_State.TOO_MUCH)
            return
        rest = len(buf) - start
        if rest < limit:  # no CRLF after `start` yet: an unfinished line
            self._partial = buf[start:]
            return
        # The line at `start` is too long.  aiosmtpd notices a line longer than
        # its reader limit (== line_length_limit) before counting it, a line just
        # over the limit only after counting it against the size limit.
        cr = buf.find(_CRLF, start, start + limit + 2)
        if cr < 0 and rest < limit + 2:
            self._partial = buf[start:]  # cannot tell which yet
        elif cr >= 0 and self.size_limit and offset + cr + 2 > self.size_limit:
            self._fail(_State.TOO_MUCH)
        else:
            self._fail(_State.TOO_LONG)

    def _stream(self, data: bytes) -> None:
        """Write `data` to the sink without transparency dots, across chunk boundaries."""
        assert self.sink is not None
        joined = self._raw_tail + data
        # a "\r\n." never overlaps another; the two bytes put in front come out unchanged
        self.sink.write(joined.replace(b"\r\n.", _CRLF)[2:])
        self._raw_tail = joined[-2:]

    def _sink_failed(self, error: Exception) -> None:
        """The sink could not take the bytes: drop what it has at once (a full disk gets
        its space back while the rest of DATA is drained) and answer 451 at the end."""
        assert self.sink is not None
        if isinstance(error, OSError):
            log.warning("cannot store DATA (%s): answering 451", error)
        else:  # not the disk: a bug in the sink, still not the sender's fault
            log.error("cannot store DATA: answering 451", exc_info=error)
        self._fail(_State.NOT_STORED)
        sink, self.sink = self.sink, None
        try:
            sink.discard()
        except Exception:
            log.exception("discarding a failed sink failed too")

    def _fail(self, state: _State) -> None:
        self.state = state
        self._parts.clear()
        self._partial = b""

    def content(self) -> bytes:
        """The message with transparency dots removed (RFC 5321 4.5.2)."""
        assert self.state is _State.NOMINAL and not self._partial
        raw = b"".join(self._parts)
        self._parts.clear()
        raw = raw.replace(b"\r\n.", _CRLF)
        return raw[1:] if raw.startswith(b".") else raw


if TYPE_CHECKING:
    _Base = SMTP
else:
    _Base = object


class ChunkedDataMixin(_Base):
    """Overrides aiosmtpd's ``smtp_DATA`` with a chunked reader; mix in before SMTP."""

    replies_per_recipient = False  # LMTP: one reply after DATA per accepted recipient

    @syntax("DATA")
    async def smtp_DATA(self, arg: str | None) -> None:
        if await self.check_helo_needed():
            return
        if await self.check_auth_needed("DATA"):
            return
        assert self.envelope is not None
        if not self.envelope.rcpt_tos:
            await self.push("503 Error: need RCPT command")
            return
        if arg:
            await self.push("501 Syntax: DATA")
            return

        opener = getattr(self.event_handler, "open_data_sink", None)
        try:
            sink: DataSink | None = opener(self.session, self.envelope) if opener else None
        except Exception:
            # Before the 354: the sender keeps the message and tries again later. (After
            # it, aiosmtpd would answer "500 Error: …", a permanent refusal, while the
            # message's lines arrive as commands.)
            log.exception("cannot take a message now (no sink): DATA answered 451")
            await self.push(NO_SINK)
            return
        collector = _Collector(self.data_size_limit, self.line_length_limit, sink)
        try:
            await self.push("354 End data with <CR><LF>.<CR><LF>")
            await self._read_data(collector)
        except asyncio.CancelledError:
            # The connection got reset during the DATA command.
            log.info("Connection lost during DATA")
            self._writer.close()
            raise
        except asyncio.IncompleteReadError:
            # EOF reached the reader before eof_received()/connection_lost()
            # cancelled this task; end the session the way they would.
            log.info("Connection lost during DATA")
            self._writer.close()
            raise asyncio.CancelledError from None
        finally:
            if collector.sink is not None and not collector.done:
                collector.sink.discard()  # the message never arrived whole

        if collector.state is not _State.NOMINAL:
            if collector.sink is not None:  # (a sink that failed is discarded already)
                collector.sink.discard()
            if collector.state is _State.NOT_STORED:
                refusal = NOT_STORED
            elif collector.state is _State.TOO_LONG:
                refusal = "500 Line too long (see RFC5321 4.5.3.1.6)"
            else:
                refusal = "552 Error: Too much mail data"
            # LMTP answers once per accepted recipient, refusals too (RFC 2033 4.2;
            # aiosmtpd's LMTP answers once, and an MTA would wait for the rest)
            for _ in range(len(self.envelope.rcpt_tos) if self.replies_per_recipient else 1):
                await self.push(refusal)
            self._post_data()
            return

        if sink is not None:
            self.envelope.content = None
            self.envelope.original_content = None
            self.envelope.data_sink = sink  # type: ignore[attr-defined]
            status = await self._call_handler_hook("DATA")
            self._post_data()
            await self.push("250 OK" if status is MISSING else status)
            return

        original_content = collector.content()
        content: str | bytes
        if self._decode_data:
            if self.enable_SMTPUTF8:
                content = original_content.decode("utf-8", errors="surrogateescape")
            else:
                try:
                    content = original_content.decode("ascii", errors="strict")
                except UnicodeDecodeError:
                    # The server does not want non-ASCII, the client sent it anyway.
                    await self.push("500 Error: strict ASCII mode")
                    return
        else:
            content = original_content
        self.envelope.content = content
        self.envelope.original_content = original_content

        if "DATA" in self._handle_hooks:
            status = await self._call_handler_hook("DATA")
        else:
            status = await self._process_message()
        self._post_data()
        await self.push("250 OK" if status is MISSING else status)

    async def _read_data(self, collector: _Collector) -> None:
        """Feed DATA to `collector` up to and including the terminating dot line."""
        reader = self._reader
        # readuntil(b"\r\n.\r\n") cannot see a terminator whose CRLF was already
        # consumed: at the start of DATA (an empty message is just b".\r\n") or
        # after a read that ended on a line end.  Until the consumed bytes end in
        # no prefix of the terminator, look at each line start before searching
        # and search for b".\r\n", checking what preceded it.  After that the
        # reader itself keeps any partial terminator, as it holds back the last
        # len(separator) - 1 bytes when it raises LimitOverrunError.
        separator = _DOT_LINE
        tail = _CRLF  # the last bytes consumed
        while True:
            if separator is _DOT_LINE and tail.endswith(_CRLF):
                # A line start: never reads past a terminator, which is at
                # least 3 bytes long and 5 unless it starts here.
                chunk = await reader.readexactly(1)
                if chunk == b".":
                    chunk += await reader.readexactly(2)
                    if chunk == _DOT_LINE:
                        collector.done = True
                        return
            else:
                try:
                    chunk = await reader.readuntil(separator)
                except asyncio.LimitOverrunError as e:
                    # No separator within the reader's limit: take what is safe.
                    chunk = await reader.read(e.consumed)
                else:
                    body = chunk[:-3]
                    before = body[-2:] if len(body) >= 2 else (tail + body)[-2:]
                    if separator is _TERMINATOR or before == _CRLF:
                        collector.feed(body)
                        collector.done = True
                        return
            collector.feed(chunk)
            tail = chunk[-4:] if len(chunk) >= 4 else (tail + chunk)[-4:]
            if separator is _DOT_LINE and not tail.endswith(_TERMINATOR_PREFIXES):
                separator = _TERMINATOR

    async def _process_message(self) -> Any:
        """aiosmtpd's deprecated ``process_message`` handler API, as it calls it."""
        assert self.session is not None and self.envelope is not None
        process = getattr(self.event_handler, "process_message", None)
        if process is None:
            return MISSING
        warn(
            "Use handler.handle_DATA() instead of .process_message()",
            DeprecationWarning,
            stacklevel=2,
        )
        envelope = self.envelope
        args = (self.session.peer, envelope.mail_from, envelope.rcpt_tos, envelope.content)
        status = await process(*args) if inspect.iscoroutinefunction(process) else process(*args)
        return MISSING if status is None else status

    def _post_data(self) -> None:
        # aiosmtpd leaves _set_post_data_state unannotated.
        cast("Callable[[], None]", self._set_post_data_state)()


class ChunkedSMTP(ChunkedDataMixin, SMTP):
    """SMTP server protocol that reads DATA in chunks."""


class ChunkedLMTP(ChunkedDataMixin, LMTP):
    """Same, speaking LMTP (LHLO)."""

    replies_per_recipient = True
