"""Large base64 bodies lifted out of a message before the stdlib parser reads it.

The stdlib `email` parser handles every line of a message in Python: a 200 KB
DOCX is ~3,600 base64 lines (~12 ms), and a 25 MB attachment costs seconds and
several copies of the message as text. Long runs of base64 lines are replaced
by one token line each; the parser sees a small message with the same headers
and structure, and a part whose body is a token gets its bytes decoded straight
from the raw message with `binascii` (one allocation, no copies).

Nothing here decides structure: boundaries, headers and transfer encodings are
still the parser's. Anything unusual around a token (text beside it, a
transfer encoding other than base64) falls back to the original bytes.
"""

from __future__ import annotations

import binascii
import re
import secrets
from dataclasses import dataclass, field

MIN_RUN = 64 * 1024
_RUN = re.compile(rb"[A-Za-z0-9+/\r\n]{%d,}" % MIN_RUN)
_TAIL = re.compile(rb"(?:[A-Za-z0-9+/=]*\r\n)*")


@dataclass(frozen=True)
class Lifted:
    """A slimmed message and where its lifted runs lie in the original bytes."""

    raw: bytes
    slim: bytes
    prefix: str = ""  # tokens are `prefix` + 5 digits: 32 base64-alphabet characters
    spans: list[tuple[int, int]] = field(default_factory=list)

    def _tokens(self) -> re.Pattern[str]:
        return re.compile(re.escape(self.prefix) + r"(\d{5})")

    def has_tokens(self, text: str) -> bool:
        return bool(self.spans) and self.prefix in text

    def decode_base64(self, payload: str) -> bytes | None:
        """The decoded body when `payload` is exactly one token, else None."""
        match = self._tokens().fullmatch(payload.strip())
        if match is None:
            return None
        start, end = self.spans[int(match.group(1))]
        return binascii.a2b_base64(memoryview(self.raw)[start:end])

    def restore_text(self, text: str) -> str:
        """`text` with every token replaced by the original characters."""
        return self._tokens().sub(lambda m: self._span_text(int(m.group(1))), text)

    def restore_bytes(self, data: bytes) -> bytes:
        if not self.spans or self.prefix.encode() not in data:
            return data
        return self.restore_text(data.decode("ascii", "surrogateescape")).encode(
            "ascii", "surrogateescape"
        )

    def _span_text(self, index: int) -> str:
        start, end = self.spans[index]
        # the token line carried its own CRLF; the span's last CRLF is dropped to match
        return self.raw[start:end].decode("ascii").removesuffix("\r\n")


def lift(raw: bytes) -> Lifted:
    """Replace each long run of base64-looking lines by a token line."""
    found: list[tuple[int, int]] = []
    for match in _RUN.finditer(raw):
        start, end = match.start(), match.end()
        if start > 0 and raw[start - 2 : start] != b"\r\n":
            nl = raw.find(b"\r\n", start, end)
            if nl < 0:
                continue
            start = nl + 2
        while raw.startswith(b"\r\n", start):  # a blank line may separate headers and body
            start += 2
        last = raw.rfind(b"\r\n", start, end)
        if last < 0:
            continue
        # take the rest of the body: short last line, '=' padding, blank lines
        tail = _TAIL.match(raw, last + 2)
        end = tail.end() if tail else last + 2
        if end - start >= MIN_RUN:
            found.append((start, end))
    if not found:
        return Lifted(raw=raw, slim=raw)
    prefix = "DOCFLOWLIFT" + secrets.token_hex(8)
    pieces: list[bytes] = []
    pos = 0
    for i, (start, end) in enumerate(found):
        pieces.append(raw[pos:start])
        pieces.append(f"{prefix}{i:05d}\r\n".encode())
        pos = end
    pieces.append(raw[pos:])
    return Lifted(raw=raw, slim=b"".join(pieces), prefix=prefix, spans=found)
