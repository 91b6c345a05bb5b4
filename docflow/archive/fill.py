"""Writing the official number and the issuing date into the blanks a drafter left in a DOCX.

Decree 30/2020/NĐ-CP drafts carry a number line (`Số:    /KH-BDT`) under the agency
name and a place-date line (`Hà Nội, ngày … tháng … năm 20…`) under the national
motto, usually in a borderless two-column header table, sometimes as plain paragraphs.
At issuing docflow fills both. Word splits a line into runs unpredictably (spell-check,
rsid, bookmarks), so a line is matched on the concatenated text of its runs and the
replacement is written back into the runs it covers: the first covered run takes the
new text and keeps its formatting, the others lose only the covered characters.
Only the header is looked at (the first table and the first paragraphs), and a line
already filled with digits is never changed, so references in the body stay as written.
"""

from __future__ import annotations

import io
import re
import unicodedata
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date

import docx
from docx.opc.exceptions import PackageNotFoundError
from lxml import etree

W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
XML_SPACE = "{http://www.w3.org/XML/1998/namespace}space"
HEADER_PARAGRAPHS = 15  # body paragraphs searched besides the first table
TEXT_TAGS = {W + "t": None, W + "tab": "\t", W + "br": "\n", W + "cr": "\n"}
HIDDEN = {W + "del", W + "moveFrom"}  # tracked deletions: not on the page
CONTAINERS = {W + "sdt", W + "sdtContent", W + "customXml", W + "ins"}

_BLANK = r"[ \t\u00a0.…_]"
NUMBER_LINE = re.compile(r"^\s*Số\s*:", re.IGNORECASE)
NUMBER_BLANK = re.compile(rf"(?P<blank>{_BLANK}*)(?P<notation>/\S*)?")
FILLED = re.compile(rf"{_BLANK}*\d")  # `Số: 12/BDT-VP`, `Số:\t12/BDT-VP`
DATE_LINE = re.compile(
    rf"\bngày(?P<d>{_BLANK}*)tháng(?P<m>{_BLANK}*)năm"
    r"(?P<y>[ \u00a0.…_]*(?:\d{1,4})?[.…_]*)(?![ \u00a0]*\w)",
    re.IGNORECASE,
)


class FillError(ValueError):
    """The bytes are not a DOCX python-docx can open; the caller issues the file unfilled."""


@dataclass(frozen=True)
class Filled:
    """The DOCX after filling (the input bytes when nothing was filled) and what was filled."""

    docx: bytes
    number_filled: bool
    date_filled: bool


def date_words(day: date) -> tuple[str, str, str]:
    """Day, month, year as the clerical office writes them: 0 before days < 10, months 1 and 2."""
    month = f"{day.month:02d}" if day.month <= 2 else str(day.month)
    return f"{day.day:02d}", month, str(day.year)


def fill_docx(data: bytes, number: str, day: date) -> Filled:
    """Fill the blank number and place-date lines of the header; the rest is left as written."""
    try:
        document = docx.Document(io.BytesIO(data))
    except (PackageNotFoundError, zipfile.BadZipFile, KeyError, etree.XMLSyntaxError) as exc:
        raise FillError(f"not a readable DOCX: {exc}") from exc
    paragraphs = list(_header_paragraphs(document.element.body))
    number_filled = _fill_number(paragraphs, unicodedata.normalize("NFC", number.strip()))
    date_filled = _fill_date(paragraphs, day)
    if not (number_filled or date_filled):
        return Filled(data, False, False)
    out = io.BytesIO()
    document.save(out)
    return Filled(out.getvalue(), number_filled, date_filled)


def _fill_number(paragraphs: list[etree._Element], number: str) -> bool:
    """Only the first `Số:` line counts: a filled one (digits) means there is nothing to do."""
    for p in paragraphs:
        text, raw = _text(p)
        head = NUMBER_LINE.match(text)
        if head is None:
            continue
        rest = text[head.end() :]
        blank = NUMBER_BLANK.match(rest)
        assert blank is not None  # every part of the pattern may be empty
        if FILLED.match(rest):
            return False
        if blank["notation"] is not None:
            end = blank.end()
        else:  # no notation: the blanks up to a tab (an aligned date may follow) or the end
            end = len(rest) - len(rest.lstrip(" \u00a0.…_"))
            if rest[end:].strip() and not rest[end:].startswith("\t"):
                return False  # words, not a blank to fill
        _replace(p, raw[head.end()], raw[head.end() + end], " " + number)
        return True
    return False


def _fill_date(paragraphs: list[etree._Element], day: date) -> bool:
    """The first blank `ngày … tháng … năm …` of the header gets the issuing date."""
    dd, mm, yyyy = date_words(day)
    for p in paragraphs:
        text, raw = _text(p)
        match = DATE_LINE.search(text)
        if match is None:
            continue
        for group, value in (("y", " " + yyyy), ("m", f" {mm} "), ("d", f" {dd} ")):
            _replace(p, raw[match.start(group)], raw[match.end(group)], value)  # right to left
        return True
    return False


def _header_paragraphs(body: etree._Element) -> Iterator[etree._Element]:
    """The paragraphs of the first table and the first body paragraphs, in document order."""
    count, table_seen = 0, False
    for block in _blocks(body):
        if block.tag == W + "p":
            yield block
            count += 1
            if count >= HEADER_PARAGRAPHS:
                return
        elif block.tag == W + "tbl" and not table_seen:
            table_seen = True
            yield from block.iter(W + "p")


def _blocks(parent: etree._Element) -> Iterator[etree._Element]:
    """Body-level paragraphs and tables, also those wrapped in content controls."""
    for child in parent:
        if child.tag in CONTAINERS:
            yield from _blocks(child)
        elif child.tag in (W + "p", W + "tbl"):
            yield child


def _runs(p: etree._Element) -> list[etree._Element]:
    """The paragraph's visible runs, also inside hyperlinks, smart tags, fields, insertions."""
    runs = []
    for run in p.iter(W + "r"):
        owner = next(a for a in run.iterancestors() if a.tag == W + "p")
        if owner is p and not any(a.tag in HIDDEN for a in run.iterancestors()):
            runs.append(run)
    return runs


def _run_text(run: etree._Element) -> str:
    """A run's text as it reads: tabs and breaks count as one character each."""
    parts = []
    for child in run:
        if child.tag in TEXT_TAGS:
            parts.append(TEXT_TAGS[child.tag] or child.text or "")
    return "".join(parts)


def _text(p: etree._Element) -> tuple[str, list[int]]:
    """NFC text to match (NFD files, marks in the next run) and each character's raw offset."""
    raw = "".join(_run_text(run) for run in _runs(p))
    text: list[str] = []
    offsets: list[int] = []
    start = 0
    for i in range(1, len(raw) + 1):
        if i == len(raw) or not unicodedata.combining(raw[i]):
            composed = unicodedata.normalize("NFC", raw[start:i])
            text.append(composed)
            offsets.extend([start] * len(composed))
            start = i
    offsets.append(len(raw))
    return "".join(text), offsets


def _replace(p: etree._Element, start: int, end: int, new: str) -> None:
    """Put `new` in place of raw text[start:end]; the first covered run takes it, with its rPr."""
    runs = [(run, _run_text(run)) for run in _runs(p)]
    offset, placed = 0, False
    for i, (run, text) in enumerate(runs):
        lo, hi = offset, offset + len(text)
        offset = hi
        last = i == len(runs) - 1
        covers = lo <= start < hi or (start == hi and last) or (lo < end and start < lo)
        if not covers or (placed and lo >= end):
            continue
        keep_before = text[: max(0, start - lo)]
        keep_after = text[end - lo :] if end < hi else ""
        _set_text(run, keep_before + ("" if placed else new) + keep_after)
        placed = True


def _set_text(run: etree._Element, text: str) -> None:
    """Rewrite the run's text children; rPr and anything not text (drawings, fields) stay."""
    old = [child for child in run if child.tag in TEXT_TAGS]
    index = run.index(old[0]) if old else len(run)
    for child in old:
        run.remove(child)
    for piece in reversed([piece for piece in re.split(r"(\t|\n)", text) if piece]):
        if piece == "\t":
            element = etree.Element(W + "tab")
        elif piece == "\n":
            element = etree.Element(W + "br")
        else:
            element = etree.Element(W + "t")
            element.text = piece
            element.set(XML_SPACE, "preserve")
        run.insert(index, element)
