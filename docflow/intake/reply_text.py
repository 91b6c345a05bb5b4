"""Reading a reply to a task mail: the text its writer added, and the decision on its
first line. Pure functions on text (no mail, no database), so that they are tested alone.

What counts (SPEC.md, "Decisions by reply"): the first non-empty line above the quoted
text, which starts with `Đồng ý`/`Approve`/`OK`, `Yêu cầu sửa`/`Yêu cầu chỉnh sửa`/
`Request changes` or `Từ chối`/`Reject` — with or without diacritics, in any case —
optionally followed by a comment (the rest of the line after a separator, and the lines
below it above the quote). The quote begins where the common clients begin it: a `>`
line; Gmail's `On … wrote:` (`Vào … đã viết:`), also wrapped over two lines;
Thunderbird's `… wrote:` / `… đã viết:`; Outlook's `-----Original Message-----` or its
header block (`From:` / `Từ:` followed by `Sent:`, `To:`, `Subject:`, `Đã gửi:`, `Đến:`,
`Chủ đề:` …), or the line of underscores above it. A `-- ` signature, a phone's
`Sent from my …`, or a closing on its own line below the text (`Trân trọng,`, `Thanks,`)
ends the text too.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

APPROVE = "approve"
CHANGES = "changes"
REJECT = "reject"
# folded (no diacritics, lowercase, single spaces) → the decision; longest first, so that
# `yeu cau chinh sua` is not read as a shorter phrase
_PHRASES = (
    ("yeu cau chinh sua", CHANGES),
    ("request changes", CHANGES),
    ("yeu cau sua", CHANGES),
    ("approve", APPROVE),
    ("dong y", APPROVE),
    ("tu choi", REJECT),
    ("reject", REJECT),
    ("ok", APPROVE),
)
# what may stand before the word (`"Đồng ý"`, `*Approve*`) and between it and a comment
_LEADING = " \t*_\"'“”‘’«»"
_SEPARATOR = re.compile(r"[\s:：,.;!\-–—]+")
_INVISIBLE = dict.fromkeys(map(ord, "\ufeff\u200b\u200c\u200d\u2060"), None)

# --- where the quote starts (matched against folded lines) ----------------------------------
_ORIGINAL = re.compile(
    r"^-{2,} ?(original message|thu goc|tin nhan goc|forwarded message|thu chuyen tiep) ?-{2,}$"
)
_UNDERSCORES = re.compile(r"^_{10,}$")  # Outlook's rule above its header block
_WROTE = re.compile(r"(wrote|viet) ?:$")  # `… wrote:`, `… đã viết:`
_ON = re.compile(r"^(on|vao|luc) ")  # how an attribution line starts: `On …`, `Vào …`
# Outlook's header block: a `From:` line, then one of these within the next four lines
_FROM = re.compile(r"^\**(from|tu) ?:\**( |$)")
_HEADER = re.compile(r"^\**(sent|date|to|cc|subject|da gui|gui|ngay|den|toi|chu de) ?:\**( |$)")
_SIGNATURE = re.compile(
    r"^(--|sent from my .{1,40}|get outlook for .{1,30}"
    r"|(duoc )?gui tu (iphone|ipad|dien thoai|thiet bi).{0,40})$"
)
# a closing on a line of its own, below the text: what follows is the writer's name
_CLOSING = re.compile(
    r"^(tran trong( cam on)?|(xin )?cam on|thanks|thank you|many thanks|(best |kind )?regards"
    r"|best)[,.!]*$"
)
# a one-time code on the decision line, with the label written before it, if any
_CODE = re.compile(
    r"(?:\b(?:mã xác nhận|mã|ma xac nhan|ma|code) ?[:：]? ?)?(?<!\d)(\d{6})(?!\d)", re.IGNORECASE
)


@dataclass(frozen=True)
class Reading:
    """What a reply says: `action` (approve, changes, reject) or None when its first line
    is not a decision; `line`: that line as written ("" when the reply is empty);
    `comment`; `code`: the six digits on the decision line when asked for (else None)."""

    action: str | None
    line: str
    comment: str = ""
    code: str | None = None


def fold(text: str) -> str:
    """Lowercase, without diacritics (`đ` → `d`), whitespace as single spaces."""
    return " ".join(_fold_chars(text)[0].split())


def _fold_chars(text: str) -> tuple[str, list[int]]:
    """`text` folded character by character, and the index in `text` of each folded one."""
    out: list[str] = []
    where: list[int] = []
    for i, ch in enumerate(text):
        base = "".join(c for c in unicodedata.normalize("NFD", ch) if not unicodedata.combining(c))
        base = " " if base.isspace() else base.lower().replace("đ", "d")
        out.append(base)
        where.extend([i] * len(base))
    return "".join(out), where


def new_text(body: str) -> str:
    """The lines a reply's writer added: above the quote, without the signature."""
    text = unicodedata.normalize("NFC", body.translate(_INVISIBLE))
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return "\n".join(line.rstrip() for line in lines[: _quote_start(lines)]).strip()


def _quote_start(lines: list[str]) -> int:
    """The index of the first line of the quote or the signature (len(lines): none)."""
    folded = [fold(line) for line in lines]
    for i, f in enumerate(folded):
        if lines[i].lstrip().startswith(">") or _ORIGINAL.match(f) or _UNDERSCORES.match(f):
            return i
        if _SIGNATURE.match(f) or (_CLOSING.match(f) and any(folded[:i])):
            return i
        if _WROTE.search(f):
            if i > 0 and _ON.match(folded[i - 1]) and not _ON.match(f):
                return i - 1  # `On Mon, 3 Mar 2026 at 10:00, docflow <` / `docflow@…> wrote:`
            if _ON.match(f) or "@" in f or any(c.isdigit() for c in f):
                return i
        if _FROM.match(f) and any(_HEADER.match(g) for g in folded[i + 1 : i + 5]):
            return i
    return len(lines)


def read(body: str, with_code: bool = False) -> Reading:
    """The decision of a reply's `body` (its text/plain part, or the text of its HTML).

    `with_code`: the stage asks for a one-time code, which is then taken from the
    decision line (`Đồng ý 123456`, `Approve, code 123456: …`) and left out of the comment.
    """
    lines = [line.strip() for line in new_text(body).split("\n")]
    first = next((i for i, line in enumerate(lines) if line), None)
    if first is None:
        return Reading(None, "")
    line = lines[first]
    start = len(line) - len(line.lstrip(_LEADING))
    folded, where = _fold_chars(line[start:])
    for phrase, action in _PHRASES:
        end = _match(folded, phrase)
        if end is None:
            continue
        rest = line[start + where[end - 1] + 1 :]
        code = None
        if with_code and (found := _CODE.search(rest)) is not None:
            code = found.group(1)
            rest = f"{rest[: found.start()]} {rest[found.end() :]}"
        below = "\n".join(lines[first + 1 :]).strip()
        comment = "\n".join(part for part in (_comment(rest), below) if part)
        return Reading(action, line, comment, code)
    return Reading(None, line)


def _match(folded: str, phrase: str) -> int | None:
    """Where `phrase` ends when `folded` starts with it as whole words, else None."""
    pattern = r"\s+".join(re.escape(word) for word in phrase.split())
    found = re.match(rf"{pattern}(?![^\W_])", folded)
    return found.end() if found else None


def _comment(rest: str) -> str:
    """The rest of the decision line, without what separates it from the word."""
    rest = rest.lstrip(_LEADING)
    found = _SEPARATOR.match(rest)
    if found:
        rest = rest[found.end() :]
    return " ".join(rest.split()).strip(_LEADING)
