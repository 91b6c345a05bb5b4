"""ChunkedSMTP/ChunkedLMTP must answer and deliver exactly as aiosmtpd's SMTP does."""

from __future__ import annotations

import asyncio
import base64
import errno
import random
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import aiosmtplib
import pytest
from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import SMTP, Envelope, Session

from docflow.intake.smtp_data import ChunkedLMTP, ChunkedSMTP

TERMINATOR = b"\r\n.\r\n"
CHUNK = 65536


class Recorder:
    """aiosmtpd handler that keeps what each DATA delivered."""

    def __init__(self) -> None:
        self.contents: list[bytes | str | None] = []
        self.originals: list[bytes | None] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.contents.append(envelope.content)
        self.originals.append(envelope.original_content)
        return "250 OK"


class Served:
    def __init__(self, port: int, handler: Recorder) -> None:
        self.port = port
        self.handler = handler


@asynccontextmanager
async def serve(cls: type[SMTP], **kwargs: Any) -> AsyncIterator[Served]:
    """Run `cls` on this test's loop; on exit, wait for every session to end."""
    loop = asyncio.get_running_loop()
    handler = Recorder()
    protocols: list[SMTP] = []

    def factory() -> SMTP:
        protocol = cls(handler, hostname="test", loop=loop, **kwargs)
        protocols.append(protocol)
        return protocol

    server = await loop.create_server(factory, "127.0.0.1", 0)
    try:
        yield Served(server.sockets[0].getsockname()[1], handler)
    finally:
        server.close()
        await server.wait_closed()
        for protocol in protocols:
            if protocol.transport is not None:
                protocol.transport.close()
        for _ in range(200):
            if all(p.transport is None for p in protocols):
                break
            await asyncio.sleep(0.005)
        await asyncio.sleep(0.01)  # let the cancelled session tasks finish


class Client:
    """Raw SMTP/LMTP client: sends bytes as given, reads whole replies."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def reply(self) -> str:
        lines = []
        while True:
            line = await asyncio.wait_for(self.reader.readuntil(b"\r\n"), 10)
            lines.append(line.decode("utf-8", "replace").rstrip("\r\n"))
            if line[3:4] != b"-":
                return "\n".join(lines)

    async def command(self, line: str) -> str:
        self.writer.write(line.encode() + b"\r\n")
        return await self.reply()

    async def write(self, *pieces: bytes, pause: float = 0.02) -> None:
        """Send each piece separately, so the server reads them apart."""
        for i, piece in enumerate(pieces):
            if i:
                await asyncio.sleep(pause)
            self.writer.write(piece)
            await self.writer.drain()

    async def start_data(self, greeting: str = "EHLO client") -> None:
        assert (await self.reply()).startswith("220")
        assert (await self.command(greeting)).startswith("250")
        assert await self.command("MAIL FROM:<a@example.org>") == "250 OK"
        assert await self.command("RCPT TO:<b@example.org>") == "250 OK"
        assert (await self.command("DATA")).startswith("354")


@asynccontextmanager
async def connect(port: int) -> AsyncIterator[Client]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        yield Client(reader, writer)
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except ConnectionError:
            pass


async def transaction(port: int, pieces: Sequence[bytes], replies: int = 1) -> list[str]:
    """One DATA transaction with raw (already dot-stuffed) pieces; the replies after it."""
    async with connect(port) as client:
        await client.start_data()
        await client.write(*pieces)
        answers = [await client.reply() for _ in range(replies)]
        if not answers[-1].startswith("221"):
            answers.append(await client.command("QUIT"))
        return answers


async def both(
    pieces: Sequence[bytes], replies: int = 1, **kwargs: Any
) -> tuple[tuple[list[str], list[Any]], tuple[list[str], list[Any]]]:
    """Run the same raw transaction against aiosmtpd's SMTP and ChunkedSMTP."""
    results = []
    for cls in (SMTP, ChunkedSMTP):
        async with serve(cls, **kwargs) as served:
            answers = await transaction(served.port, pieces, replies)
            results.append((answers, served.handler.contents))
    return results[0], results[1]


def stuffed(text: bytes) -> bytes:
    """Dot-stuff CRLF text and terminate it, as a client does."""
    lines = text.split(b"\r\n")
    return b"\r\n".join(b"." + line if line.startswith(b".") else line for line in lines) + (
        b".\r\n" if text.endswith(b"\r\n") or not text else TERMINATOR
    )


def base64_message(size: int, seed: int = 1) -> bytes:
    body = base64.encodebytes(random.Random(seed).randbytes(size * 3 // 4))
    head = (
        b"From: a@example.org\r\nSubject: attachment\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    )
    return head + body.replace(b"\n", b"\r\n")


def straddling(position: int) -> bytes:
    """A message whose terminator starts at byte `position` of the DATA stream."""
    line = b"x" * 70 + b"\r\n"
    text = b"Subject: straddle\r\n\r\n" + line * ((position - 200) // len(line))
    text += b"y" * (position - len(text)) + b"\r\n"
    data = text + b".\r\n"
    assert data.find(TERMINATOR) == position
    return data


MESSAGES = {
    "plain": stuffed(b"Subject: hi\r\n\r\nHello.\r\nBye.\r\n"),
    "dot-stuffed": stuffed(b"Subject: dots\r\n\r\n.\r\n..\r\n...x\r\n. \r\nend.\r\n"),
    "lone-dot-line-inside": b"Subject: d\r\n\r\nabove\r\n..\r\nbelow\r\n.\r\n",
    "unstuffed-leading-dots": b".leading\r\n.x\r\nplain\r\n.\r\n",
    "first-line-dotdot": b"..\r\nrest\r\n.\r\n",
    "empty-body": b".\r\n",
    "single-empty-line": b"\r\n.\r\n",
    "blank-lines": b"\r\n\r\n\r\n.\r\n",
    "no-final-newline-char": b"x\r\n.\r\n",
    "bare-cr-lf": b"a\rb\nc\r\r\n\n.\r\n\r.\r\n.x\n\r\n.\r\n",
    "lines-ending-with-dot": b"one.\r\ntwo.\r\nthree..\r\n.\r\n",
    "dot-line-ends-then-odd-starts": b"a.\r\n.b\r\nc.\r\n\rd\r\ne.\r\n..\r\nf.\r\n\r\n.\r\n",
    "base64-300k": stuffed(base64_message(300_000)),
    "utf8-vietnamese": stuffed(
        "Subject: Tiếng Việt\r\n\r\nXin chào, đây là thư điện tử.\r\n.Đọc kỹ.\r\n".encode()
    ),
    "binary-8bit": stuffed(bytes(b for b in range(256) if b not in b"\r\n") * 3 + b"\r\n"),
    "line-999-bytes": b"a" * 999 + b"\r\n.\r\n",
}


@pytest.mark.parametrize("data", MESSAGES.values(), ids=MESSAGES.keys())
async def test_content_matches_aiosmtpd(data: bytes) -> None:
    stock, chunked = await both([data])
    assert chunked == stock
    assert stock[0][0] == "250 OK"


@pytest.mark.parametrize("offset", range(-5, 4))
async def test_terminator_straddling_a_chunk_boundary_is_found(offset: int) -> None:
    data = straddling(CHUNK + offset)
    stock, chunked = await both([data[:CHUNK], data[CHUNK:]])
    assert chunked == stock
    assert len(chunked[1][0]) == CHUNK + offset + 2


@pytest.mark.parametrize("split", range(0, 6))
async def test_terminator_split_anywhere_in_a_small_message(split: int) -> None:
    data = b"Subject: s\r\n\r\nbody\r\n.\r\n"
    cut = len(data) - 5 + split
    stock, chunked = await both([data[:cut], data[cut:]])
    assert chunked == stock


@pytest.mark.parametrize("split", range(0, 4))
async def test_empty_body_split_after_354(split: int) -> None:
    stock, chunked = await both([b".\r\n"[:split], b".\r\n"[split:]] if split else [b".\r\n"])
    assert chunked == stock == (["250 OK", "221 Bye"], [b""])


async def test_five_megabyte_message_via_aiosmtplib() -> None:
    message = base64_message(5 * 1024 * 1024, seed=5)
    contents = []
    for cls in (SMTP, ChunkedSMTP):
        async with serve(cls) as served:
            async with aiosmtplib.SMTP(
                hostname="127.0.0.1", port=served.port, timeout=30
            ) as client:
                await client.sendmail("a@example.org", ["b@example.org"], message)
            contents.append(served.handler.contents)
    assert contents[1] == contents[0] == [message]


async def test_vietnamese_8bit_body_via_aiosmtplib() -> None:
    message = (
        "From: a@example.org\r\nSubject: Báo cáo\r\nContent-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: 8bit\r\n\r\nKính gửi anh Nguyễn,\r\n.Tài liệu đính kèm.\r\n"
    ).encode()
    contents = []
    for cls in (SMTP, ChunkedSMTP):
        async with serve(cls) as served:
            async with aiosmtplib.SMTP(hostname="127.0.0.1", port=served.port) as client:
                await client.sendmail("a@example.org", ["b@example.org"], message)
            contents.append(served.handler.contents)
    assert contents[1] == contents[0] == [message]


@pytest.mark.parametrize(("decode_data", "smtputf8"), [(False, False), (True, False), (True, True)])
async def test_decoding_matches_aiosmtpd(decode_data: bool, smtputf8: bool) -> None:
    data = stuffed("Chào bạn\r\n".encode())
    stock, chunked = await both([data], decode_data=decode_data, enable_SMTPUTF8=smtputf8)
    assert chunked == stock
    assert chunked[0][0] == (
        "500 Error: strict ASCII mode" if decode_data and not smtputf8 else "250 OK"
    )


async def test_pipelined_terminator_and_quit_both_answered() -> None:
    async with serve(ChunkedSMTP) as served, connect(served.port) as client:
        await client.start_data()
        client.writer.write(b"Subject: p\r\n\r\npipelined\r\n.\r\nQUIT\r\n")
        assert await client.reply() == "250 OK"
        assert await client.reply() == "221 Bye"
        assert served.handler.contents == [b"Subject: p\r\n\r\npipelined\r\n"]


async def test_pipelined_next_transaction_after_terminator_is_read() -> None:
    async with serve(ChunkedSMTP) as served, connect(served.port) as client:
        await client.start_data()
        client.writer.write(
            b"first\r\n.\r\nRSET\r\nMAIL FROM:<c@example.org>\r\n"
            b"RCPT TO:<d@example.org>\r\nDATA\r\n"
        )
        replies = [await client.reply() for _ in range(5)]
        assert replies[:4] == ["250 OK"] * 4 and replies[4].startswith("354")
        client.writer.write(b".\r\nQUIT\r\n")
        assert [await client.reply(), await client.reply()] == ["250 OK", "221 Bye"]
        assert served.handler.contents == [b"first\r\n", b""]


async def test_empty_body_pipelined_with_quit_does_not_hang() -> None:
    async with serve(ChunkedSMTP) as served, connect(served.port) as client:
        await client.start_data()
        client.writer.write(b".\r\nQUIT\r\n")
        assert [await client.reply(), await client.reply()] == ["250 OK", "221 Bye"]
        assert served.handler.contents == [b""]


async def test_too_much_data_gets_552_and_session_stays_usable() -> None:
    async with serve(ChunkedSMTP, data_size_limit=10_000) as served, connect(served.port) as c:
        await c.start_data()
        await c.write(stuffed(base64_message(200_000)))
        assert await c.reply() == "552 Error: Too much mail data"
        assert await c.command("RSET") == "250 OK"
        assert await c.command("MAIL FROM:<a@example.org>") == "250 OK"
        assert await c.command("RCPT TO:<b@example.org>") == "250 OK"
        assert (await c.command("DATA")).startswith("354")
        await c.write(b"small\r\n.\r\n")
        assert await c.reply() == "250 OK"
        assert served.handler.contents == [b"small\r\n"]


async def test_size_limit_is_counted_like_aiosmtpd() -> None:
    data = b"x" * 98 + b"\r\n" + b".\r\n"  # exactly 100 bytes of content
    for limit, expected in [(100, "250 OK"), (99, "552 Error: Too much mail data")]:
        stock, chunked = await both([data], data_size_limit=limit)
        assert chunked == stock
        assert chunked[0][0] == expected


@pytest.mark.parametrize("length", [999, 1000, 1001, 1002, 5000])
async def test_line_length_limit_matches_aiosmtpd(length: int) -> None:
    stock, chunked = await both([b"head\r\n" + b"z" * length + b"\r\ntail\r\n.\r\n"])
    assert chunked == stock
    expected = "250 OK" if length <= 999 else "500 Line too long (see RFC5321 4.5.3.1.6)"
    assert chunked[0][0] == expected


@pytest.mark.parametrize("length", range(997, 1004))
@pytest.mark.parametrize("split", [None, 1000, 1003])
async def test_line_too_long_and_too_much_data_resolved_like_aiosmtpd(
    length: int, split: int | None
) -> None:
    """Which of 500 and 552 wins depends on how far the long line runs past the limit."""
    data = b"short\r\n" + b"q" * length + b"\r\nafter\r\n.\r\n"
    pieces = [data] if split is None else [data[:split], data[split:]]
    stock, chunked = await both(pieces, data_size_limit=500)
    assert chunked == stock


async def test_overlong_line_gets_500_and_session_stays_usable() -> None:
    async with serve(ChunkedSMTP) as served, connect(served.port) as client:
        await client.start_data()
        await client.write(b"ok\r\n" + b"z" * 300_000 + b"\r\n.\r\n")
        assert await client.reply() == "500 Line too long (see RFC5321 4.5.3.1.6)"
        assert await client.command("MAIL FROM:<a@example.org>") == "250 OK"
        assert served.handler.contents == []


@pytest.mark.parametrize(
    "commands",
    [
        ["DATA"],
        ["EHLO x", "DATA"],
        ["EHLO x", "MAIL FROM:<a@example.org>", "DATA"],
        ["EHLO x", "MAIL FROM:<a@example.org>", "RCPT TO:<b@example.org>", "DATA now"],
        ["EHLO x", "HELP DATA"],
    ],
)
async def test_data_preconditions_answered_like_aiosmtpd(commands: list[str]) -> None:
    answers = []
    for cls in (SMTP, ChunkedSMTP):
        async with serve(cls) as served, connect(served.port) as client:
            await client.reply()
            answers.append([await client.command(command) for command in commands])
    assert answers[1] == answers[0]


async def test_client_hanging_up_mid_data_delivers_nothing() -> None:
    async with serve(ChunkedSMTP) as served:
        async with connect(served.port) as client:
            await client.start_data()
            await client.write(b"Subject: cut\r\n\r\n" + b"partial line\r\n" * 5000)
        async with aiosmtplib.SMTP(hostname="127.0.0.1", port=served.port) as smtp:
            await smtp.sendmail("a@example.org", ["b@example.org"], b"after\r\n")
        assert served.handler.contents == [b"after\r\n"]


async def test_lmtp_answers_lhlo_and_delivers() -> None:
    async with serve(ChunkedLMTP) as served, connect(served.port) as client:
        assert (await client.reply()).startswith("220")
        assert (await client.command("EHLO x")).startswith("500")
        assert await client.command("MAIL FROM:<a@example.org>") == "503 Error: send HELO first"
        assert (await client.command("LHLO client")).startswith("250")
        assert await client.command("MAIL FROM:<a@example.org>") == "250 OK"
        assert await client.command("RCPT TO:<b@example.org>") == "250 OK"
        assert (await client.command("DATA")).startswith("354")
        await client.write(stuffed(b"Subject: lmtp\r\n\r\n.dot\r\n"))
        assert await client.reply() == "250 OK"
        assert served.handler.contents == [b"Subject: lmtp\r\n\r\n.dot\r\n"]


@pytest.mark.parametrize(
    ("data", "reply"),
    [
        (b"x" * 2000 + b"\r\n.\r\n", "500 Line too long (see RFC5321 4.5.3.1.6)"),
        (b"short line\r\n" * 2000 + b".\r\n", "552 Error: Too much mail data"),
    ],
)
async def test_lmtp_refusal_after_data_is_answered_once_per_recipient(
    data: bytes, reply: str
) -> None:
    """RFC 2033: one reply per accepted recipient after DATA, refusals too; an MTA that
    got only one would wait for the others and defer the message."""
    async with (
        serve(ChunkedLMTP, data_size_limit=10_000) as served,
        connect(served.port) as client,
    ):
        assert (await client.reply()).startswith("220")
        assert (await client.command("LHLO client")).startswith("250")
        assert await client.command("MAIL FROM:<a@example.org>") == "250 OK"
        assert await client.command("RCPT TO:<b@example.org>") == "250 OK"
        assert await client.command("RCPT TO:<c@example.org>") == "250 OK"
        assert (await client.command("DATA")).startswith("354")
        await client.write(data + b"NOOP\r\n")
        assert [await client.reply() for _ in range(3)] == [reply, reply, "250 OK"]
        assert served.handler.contents == []


class BrokenSpool(Recorder):
    """A handler whose sink cannot be opened (a full disk, a spool it may not write)."""

    def open_data_sink(self, session: Session, envelope: Envelope) -> Any:
        raise OSError(28, "No space left on device")


@pytest.mark.parametrize("cls", [ChunkedSMTP, ChunkedLMTP])
async def test_a_sink_that_cannot_be_opened_answers_data_with_451_before_any_data(
    cls: type[SMTP],
) -> None:
    """Not aiosmtpd's "500 Error: (OSError) …" after the 354, which a sender takes for a
    permanent refusal while it is still sending the message as commands."""
    loop = asyncio.get_running_loop()
    handler = BrokenSpool()
    server = await loop.create_server(
        lambda: cls(handler, hostname="test", loop=loop), "127.0.0.1", 0
    )
    try:
        async with connect(server.sockets[0].getsockname()[1]) as client:
            assert (await client.reply()).startswith("220")
            greeting = "LHLO client" if cls is ChunkedLMTP else "EHLO client"
            assert (await client.command(greeting)).startswith("250")
            assert await client.command("MAIL FROM:<a@example.org>") == "250 OK"
            assert await client.command("RCPT TO:<b@example.org>") == "250 OK"
            assert (await client.command("DATA")).startswith("451 4.3.0")
            assert await client.command("RSET") == "250 OK"
    finally:
        server.close()
        await server.wait_closed()


async def test_lmtp_content_matches_aiosmtpd_lmtp() -> None:
    data = stuffed(base64_message(100_000, seed=3))
    contents = []
    for cls in (LMTP, ChunkedLMTP):
        async with serve(cls) as served, connect(served.port) as client:
            await client.start_data(greeting="LHLO client")
            await client.write(data[: CHUNK - 2], data[CHUNK - 2 :])
            assert await client.reply() == "250 OK"
            contents.append(served.handler.contents)
    assert contents[1] == contents[0]


def random_stream(rng: random.Random) -> bytes:
    """DATA made of the awkward bits, with one terminator at its very end."""
    atoms = [b"a", b".", b"..", b"\r", b"\n", b"\r\n", b"\r\n.", b"\r\n..", b"w" * 17, b"l" * 45]
    while True:
        body = b"".join(rng.choice(atoms) for _ in range(rng.randrange(0, 60)))
        data = body + TERMINATOR
        if (b"\r\n" + data).find(TERMINATOR) == len(body) + 2:
            return data


SEEDS = range(40)


@pytest.mark.parametrize("seed", SEEDS)
async def test_random_streams_and_splits_match_aiosmtpd(seed: int) -> None:
    """Small line and size limits, random cuts: same replies, same content."""
    rng = random.Random(seed)
    data = random_stream(rng)
    cuts = sorted(rng.sample(range(len(data) + 1), k=min(3, len(data))))
    pieces = [data[i:j] for i, j in zip([0, *cuts], [*cuts, len(data)], strict=True)]
    pieces[-1] += b"RSET\r\n"  # pipelined: must reach the command loop

    class TightSMTP(SMTP):
        line_length_limit = 40

    class TightChunkedSMTP(ChunkedSMTP):
        line_length_limit = 40

    limit = rng.choice([None, 30, 80, 150, 300])
    results = []
    for cls in (TightSMTP, TightChunkedSMTP):
        async with serve(cls, data_size_limit=limit) as served:
            async with connect(served.port) as client:
                await client.start_data()
                await client.write(*[p for p in pieces if p], pause=0.005)
                replies = [await client.reply(), await client.reply()]
            results.append((replies, served.handler.contents))
    assert results[1] == results[0]
    assert results[1][0][1] == "250 OK"


class SinkRecorder(Recorder):
    """A handler that streams DATA into in-memory sinks (handler.open_data_sink)."""

    class Sink:
        def __init__(self) -> None:
            self.data = bytearray()
            self.discarded = False

        def write(self, data: bytes) -> None:
            self.data += data

        def discard(self) -> None:
            self.discarded = True

    def __init__(self) -> None:
        super().__init__()
        self.sinks: list[SinkRecorder.Sink] = []

    def open_data_sink(self, session: Session, envelope: Envelope) -> SinkRecorder.Sink:
        self.sinks.append(SinkRecorder.Sink())
        return self.sinks[-1]

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        assert envelope.content is None and envelope.original_content is None
        self.contents.append(bytes(envelope.data_sink.data))  # type: ignore[attr-defined]
        return "250 OK"


@asynccontextmanager
async def serve_sink(**kwargs: Any) -> AsyncIterator[tuple[int, SinkRecorder]]:
    loop = asyncio.get_running_loop()
    handler = SinkRecorder()
    server = await loop.create_server(
        lambda: ChunkedSMTP(handler, hostname="test", loop=loop, **kwargs), "127.0.0.1", 0
    )
    try:
        yield server.sockets[0].getsockname()[1], handler
    finally:
        server.close()
        await server.wait_closed()
        await asyncio.sleep(0.02)


@pytest.mark.parametrize("data", MESSAGES.values(), ids=MESSAGES.keys())
async def test_streamed_content_matches_aiosmtpd(data: bytes) -> None:
    stock, _ = await both([data])
    async with serve_sink() as (port, handler):
        answers = await transaction(port, [data])
    assert answers[0] == "250 OK"
    assert handler.contents == stock[1]


@pytest.mark.parametrize("split", [1, 2, 3, 4, 17, CHUNK - 1, CHUNK, CHUNK + 1])
async def test_streamed_dots_are_removed_across_any_split(split: int) -> None:
    text = b"Subject: dots\r\n\r\n" + b"x" * (split % 50) + b"\r\n" + b".\r\n..x\r\n" * 40000
    data = stuffed(text + b"end\r\n")
    stock, _ = await both([data[:split], data[split:]])
    async with serve_sink() as (port, handler):
        await transaction(port, [data[:split], data[split:]])
    assert handler.contents == stock[1]


async def test_streamed_message_over_the_limit_is_discarded() -> None:
    async with serve_sink(data_size_limit=10_000) as (port, handler):
        answers = await transaction(port, [stuffed(base64_message(200_000))])
    assert answers[0] == "552 Error: Too much mail data"
    assert handler.contents == [] and [s.discarded for s in handler.sinks] == [True]


async def test_streamed_message_cut_off_by_a_hang_up_is_discarded() -> None:
    async with serve_sink() as (port, handler):
        async with connect(port) as client:
            await client.start_data()
            await client.write(b"Subject: cut\r\n\r\n" + b"partial line\r\n" * 5000)
        for _ in range(100):
            if handler.sinks and handler.sinks[0].discarded:
                break
            await asyncio.sleep(0.01)
    assert handler.contents == [] and [s.discarded for s in handler.sinks] == [True]


class FullDiskRecorder(SinkRecorder):
    """Sinks that fill up: the first one's `write` raises ENOSPC past `room` bytes, as a
    spool file on a full disk does; the next ones have room again (the failed file's
    space came back when it was discarded)."""

    class FullSink(SinkRecorder.Sink):
        def __init__(self, room: int) -> None:
            super().__init__()
            self.room = room

        def write(self, data: bytes) -> None:
            if len(self.data) + len(data) > self.room:
                raise OSError(errno.ENOSPC, "No space left on device")
            super().write(data)

    def __init__(self, room: int) -> None:
        super().__init__()
        self.room = room

    def open_data_sink(self, session: Session, envelope: Envelope) -> SinkRecorder.Sink:
        room = self.room if not self.sinks else 1 << 30
        self.sinks.append(FullDiskRecorder.FullSink(room))
        return self.sinks[-1]

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        await super().handle_DATA(server, session, envelope)
        return "\r\n".join("250 OK" for _ in envelope.rcpt_tos)  # LMTP: one per recipient


@pytest.mark.parametrize("cls", [ChunkedSMTP, ChunkedLMTP])
async def test_a_sink_failing_mid_data_answers_451_and_the_next_message_is_stored(
    cls: type[SMTP],
) -> None:
    """Not aiosmtpd's "500 Error: (OSError) …" in the middle of DATA, with the rest of the
    message read as commands: the rest is drained, the answer is 451 (once per recipient in
    LMTP), the failed sink is discarded once, and the session goes on."""
    loop = asyncio.get_running_loop()
    handler = FullDiskRecorder(room=50_000)
    server = await loop.create_server(
        lambda: cls(handler, hostname="test", loop=loop), "127.0.0.1", 0
    )
    lmtp = cls is ChunkedLMTP
    rcpts = ["b@example.org", "c@example.org"] if lmtp else ["b@example.org"]
    big, small = stuffed(base64_message(300_000)), b"Subject: next\r\n\r\nsmall\r\n.\r\n"
    try:
        async with connect(server.sockets[0].getsockname()[1]) as client:
            assert (await client.reply()).startswith("220")
            assert (await client.command("LHLO c" if lmtp else "EHLO c")).startswith("250")
            replies = []
            for data in (big, small):
                assert await client.command("MAIL FROM:<a@example.org>") == "250 OK"
                for rcpt in rcpts:
                    assert await client.command(f"RCPT TO:<{rcpt}>") == "250 OK"
                assert (await client.command("DATA")).startswith("354")
                await client.write(data[:CHUNK], data[CHUNK:])
                replies.append([await client.reply() for _ in rcpts])
            assert await client.command("NOOP") == "250 OK"  # nothing left over as commands
    finally:
        server.close()
        await server.wait_closed()
    failed = "451 4.3.0 Could not store the message, please try again later"
    assert replies == [[failed] * len(rcpts), ["250 OK"] * len(rcpts)]
    assert [s.discarded for s in handler.sinks] == [True, False]
    assert handler.contents == [b"Subject: next\r\n\r\nsmall\r\n"]


async def test_a_sink_failing_on_the_last_chunk_still_answers_451() -> None:
    """The failure in the very write that holds the terminator's line: nothing is lost
    from the command stream either (a pipelined RSET is answered)."""
    loop = asyncio.get_running_loop()
    data = b"Subject: s\r\n\r\n" + b"line\r\n" * 100 + b".\r\n"
    handler = FullDiskRecorder(room=len(data) - 20)
    server = await loop.create_server(
        lambda: ChunkedSMTP(handler, hostname="test", loop=loop), "127.0.0.1", 0
    )
    try:
        async with connect(server.sockets[0].getsockname()[1]) as client:
            await client.start_data()
            client.writer.write(data + b"RSET\r\n")
            assert (await client.reply()).startswith("451 4.3.0")
            assert await client.reply() == "250 OK"
    finally:
        server.close()
        await server.wait_closed()
    assert handler.contents == [] and [s.discarded for s in handler.sinks] == [True]
