"""Plain text from the document formats an office sends, for search and previews."""

from __future__ import annotations

import codecs
import io
import re
import unicodedata
import zipfile
from collections.abc import Callable, Iterator
from html.parser import HTMLParser
from typing import Any
from xml.etree import ElementTree

import docx
import pypdf
from docx.oxml.ns import qn


class ExtractionError(Exception):
    """Why a file's text could not be extracted (message is shown to admins)."""


def extract_text(data: bytes, mime: str) -> str:
    """Text of `data` read as `mime`, NFC, with runs of blank lines collapsed."""
    kind = mime.split(";")[0].strip().lower()
    reader = _READERS.get(kind)
    if reader is None:
        raise ExtractionError(f"no text extraction for {kind or 'an unknown type'}")
    return tidy(reader(data))


def tidy(text: str) -> str:
    """NFC, one newline convention, at most one blank line in a row, no outer blank space."""
    if "\r" in text:  # each replace copies the whole text; skip when there is nothing to do
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not unicodedata.is_normalized("NFC", text):
        text = unicodedata.normalize("NFC", text)
    return _BLANK_RUN.sub("\n\n", text).strip()


def decode_text(data: bytes) -> str:
    """Bytes of unknown encoding as text: BOM, else UTF-8, else Vietnamese Windows, else latin-1."""
    for bom, codec in _BOMS:
        if data.startswith(bom):
            return data.decode(codec, errors="replace")
    for codec in ("utf-8", "cp1258"):
        try:
            return data.decode(codec)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


def html_to_text(html: str) -> str:
    """Readable text of an HTML document: no script/style, blocks on their own lines."""
    parser = _HTMLText()
    parser.feed(html)
    parser.close()
    text = _BLOCK_EDGE.sub("\n", "".join(parser.out))
    return tidy("\n".join(line.strip(" ") for line in text.split("\n")))


_BLANK_RUN = re.compile(r"\n(?:[^\S\n]*\n)+")
_BOMS = (
    (b"\xef\xbb\xbf", "utf-8-sig"),
    (b"\xff\xfe\x00\x00", "utf-32"),
    (b"\x00\x00\xfe\xff", "utf-32"),
    (b"\xff\xfe", "utf-16"),
    (b"\xfe\xff", "utf-16"),
)
_HTML_WS = re.compile(r"[ \t\n\r\f]+")  # HTML collapses ASCII whitespace only, not nbsp
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)
# Block edges are marked with NUL so that adjacent ones make one line break, unlike <br><br>.
_BLOCK_EDGE = re.compile(r"[ \t\n]*\x00[ \t\n\x00]*")
_SKIP_TAGS = frozenset({"script", "style", "template", "title", "head"})
_BLOCK_TAGS = frozenset(
    "address article aside blockquote br caption dd div dl dt fieldset figcaption figure "
    "footer form h1 h2 h3 h4 h5 h6 header hr li main nav ol p pre section table tbody thead "
    "tfoot tr ul".split()
)


class _HTMLText(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self._skip = 0
        self._pre = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP_TAGS:
            self._skip += 1
        elif tag == "body":  # whatever was left open before the body was not text
            self._skip = 0
        elif tag == "pre":
            self._pre += 1
        if tag == "br":
            self.out.append("\n")
        elif tag in _BLOCK_TAGS:
            self.out.append("\x00")
        elif tag in ("td", "th"):
            self.out.append(" ")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in ("br", "hr"):
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_TAGS:
            self._skip = max(0, self._skip - 1)
        elif tag == "pre":
            self._pre = max(0, self._pre - 1)
        if tag in _BLOCK_TAGS and tag != "br":
            self.out.append("\x00")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            data = data.replace("\x00", "")
            self.out.append(data if self._pre else _HTML_WS.sub(" ", data))


def _html(data: bytes) -> str:
    match = _META_CHARSET.search(data[:4096])
    if match and not data.startswith((b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")):
        try:
            return html_to_text(data.decode(match.group(1).decode("ascii")))
        except (LookupError, UnicodeDecodeError):  # wrong or unknown declared charset
            pass
    return html_to_text(decode_text(data))


def _pdf(data: bytes) -> str:
    try:
        reader = pypdf.PdfReader(io.BytesIO(data))
        # Many PDFs carry only an owner password; the empty user password opens them.
        if reader.is_encrypted and not reader.decrypt(""):
            raise ExtractionError("the PDF is encrypted with a password")
        return "\n".join(page.extract_text() for page in reader.pages)
    except ExtractionError:
        raise
    except pypdf.errors.DependencyError as exc:  # AES needs the optional `cryptography`
        raise ExtractionError(f"cannot decrypt this PDF here: {exc}") from exc
    except Exception as exc:  # pypdf raises many kinds of error on damaged files
        raise ExtractionError(f"unreadable PDF: {exc}") from exc


_W_P, _W_T, _W_TAB = qn("w:p"), qn("w:t"), qn("w:tab")
_W_BREAKS = frozenset({qn("w:br"), qn("w:cr")})
_W_HYPHEN = qn("w:noBreakHyphen")
# Text boxes appear twice (modern and VML fallback); read the modern copy only.
_MC_FALLBACK = "{http://schemas.openxmlformats.org/markup-compatibility/2006}Fallback"


def _docx(data: bytes) -> str:
    try:
        body = docx.Document(io.BytesIO(data)).element.body
        return "\n".join(_docx_paragraph(p) for p in body.iter(_W_P) if not _in_fallback(p))
    except Exception as exc:  # python-docx raises KeyError, ValueError, lxml errors, ...
        raise ExtractionError(f"unreadable DOCX: {exc}") from exc


def _in_fallback(element: Any) -> bool:
    return any(a.tag == _MC_FALLBACK for a in element.iterancestors())


def _docx_paragraph(paragraph: Any) -> str:
    """Text of one w:p, including runs inside smart tags, insertions, links and content controls."""
    out: list[str] = []
    stack = list(reversed(paragraph))
    while stack:
        element = stack.pop()
        tag = element.tag
        if tag == _W_P or tag == _MC_FALLBACK:  # nested paragraphs are read on their own
            continue
        if tag == _W_T:
            out.append(element.text or "")
        elif tag == _W_TAB:
            out.append("\t")
        elif tag in _W_BREAKS:
            out.append("\n")
        elif tag == _W_HYPHEN:
            out.append("-")
        else:
            stack.extend(reversed(element))
    return "".join(out)


_ODF_TEXT = "urn:oasis:names:tc:opendocument:xmlns:text:1.0"
_ODF_OFFICE = "urn:oasis:names:tc:opendocument:xmlns:office:1.0"
_O_P, _O_H = f"{{{_ODF_TEXT}}}p", f"{{{_ODF_TEXT}}}h"
_O_S, _O_TAB, _O_BR = f"{{{_ODF_TEXT}}}s", f"{{{_ODF_TEXT}}}tab", f"{{{_ODF_TEXT}}}line-break"
_O_C = f"{{{_ODF_TEXT}}}c"
_O_SKIP = frozenset({f"{{{_ODF_TEXT}}}note", f"{{{_ODF_OFFICE}}}annotation"})


def _odt(data: bytes) -> str:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive, archive.open("content.xml") as xml:
            root = ElementTree.parse(xml).getroot()
    except Exception as exc:  # not a zip, no content.xml, broken XML
        raise ExtractionError(f"unreadable ODT: {exc}") from exc
    body = root.find(f"{{{_ODF_OFFICE}}}body")
    return "\n".join(_odf_paragraphs(body if body is not None else root))


def _odf_paragraphs(element: ElementTree.Element) -> Iterator[str]:
    """Paragraphs and headings in document order; frames inside a paragraph come after it."""
    stack = [element]
    while stack:
        node = stack.pop()
        if node.tag in (_O_P, _O_H):
            nested: list[ElementTree.Element] = []
            yield "".join(_odf_inline(node, nested))
            stack.extend(reversed(nested))
        elif node.tag not in _O_SKIP:
            stack.extend(reversed(node))


def _odf_inline(node: ElementTree.Element, nested: list[ElementTree.Element]) -> Iterator[str]:
    yield node.text or ""
    for child in node:
        if child.tag == _O_S:
            yield " " * _int(child.get(_O_C), 1)
        elif child.tag == _O_TAB:
            yield "\t"
        elif child.tag == _O_BR:
            yield "\n"
        elif child.tag in (_O_P, _O_H):
            nested.append(child)
        elif child.tag not in _O_SKIP:
            yield from _odf_inline(child, nested)
        yield child.tail or ""


def _int(value: str | None, default: int) -> int:
    try:
        return max(0, min(int(value or default), 1000))
    except ValueError:
        return default


_RTF_TOKEN = re.compile(
    rb"\\([a-z]{1,32})(-?[0-9]{1,10})? ?|\\'([0-9a-f]{2})|\\(.)|([{}])|[\r\n]+|([^\\{}\r\n]+)",
    re.IGNORECASE | re.DOTALL,
)
_RTF_SKIP = frozenset(
    b"fonttbl colortbl stylesheet info pict header footer headerl headerr headerf footerl "
    b"footerr footerf listtable listoverridetable rsidtbl generator xmlnstbl themedata "
    b"colorschememapping datastore latentstyles filetbl revtbl pgdsctbl fldinst".split()
)
# fmt: off
_RTF_WORDS = {
    b"par": "\n", b"line": "\n", b"sect": "\n", b"page": "\n", b"row": "\n", b"cell": "\t",
    b"tab": "\t", b"emdash": "\u2014", b"endash": "\u2013", b"lquote": "\u2018",
    b"rquote": "\u2019", b"ldblquote": "\u201c", b"rdblquote": "\u201d", b"bullet": "\u2022",
}
_RTF_SYMBOLS = {
    b"~": "\xa0", b"_": "\u2011", b"\n": "\n", b"\r": "\n", b"\\": "\\", b"{": "{", b"}": "}",
}
# fmt: on


def _rtf(data: bytes) -> str:
    """A small RTF reader: body text only; 8-bit text in the document's code page."""
    if not data[:64].lstrip().startswith(b"{\\rtf"):
        raise ExtractionError("not an RTF file")
    out: list[str] = []
    pending = bytearray()  # 8-bit text waiting to be decoded in one go (multi-byte code pages)
    codepage, skip, uc, drop, pos = "cp1258", False, 1, 0, 0
    stack: list[tuple[bool, int]] = []
    while (m := _RTF_TOKEN.match(data, pos)) is not None:
        pos, kind = m.end(), m.lastindex
        if kind is None:  # line breaks in RTF source are not text
            continue
        if drop and kind in (1, 2, 3, 4):  # the fallback after \uN: one unit per escape
            drop -= 1
            continue
        if kind != 3 and kind != 6 and pending:
            out.append(pending.decode(codepage, errors="replace"))
            pending.clear()
        if kind in (1, 2):
            word, arg = m.group(1).lower(), m.group(2)
            if word == b"bin" and arg:  # raw binary data follows
                pos += max(0, int(arg))
            elif word in _RTF_SKIP:
                skip = True
            elif word == b"ansicpg" and arg and _codec(f"cp{int(arg)}"):
                codepage = f"cp{int(arg)}"
            elif word == b"uc" and arg:
                uc = max(0, int(arg))
            elif word == b"u" and arg and not skip:
                out.append(chr(int(arg) % 65536))
                drop = uc
            elif word in _RTF_WORDS and not skip:
                out.append(_RTF_WORDS[word])
        elif kind == 3 and not skip:
            pending.append(int(m.group(3), 16))
        elif kind == 4 and not skip:
            if m.group(4) == b"*":
                skip = True
            out.append(_RTF_SYMBOLS.get(m.group(4), ""))
        elif kind == 5:
            drop = 0
            if m.group(5) == b"{":
                stack.append((skip, uc))
            elif stack:
                skip, uc = stack.pop()
        elif kind == 6 and not skip:
            text = m.group(6)[drop:]
            drop = max(0, drop - len(m.group(6)))
            pending.extend(text)
    out.append(pending.decode(codepage, errors="replace"))
    text = "".join(out)
    # \uN escapes give UTF-16 halves for characters outside the BMP; pair them up.
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", errors="replace")


def _codec(name: str) -> bool:
    try:
        codecs.lookup(name)
    except LookupError:
        return False
    return True


def _msword(data: bytes) -> str:
    raise ExtractionError("no text extraction for application/msword")


_READERS: dict[str, Callable[[bytes], str]] = {
    "application/pdf": _pdf,
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": _docx,
    "application/vnd.oasis.opendocument.text": _odt,
    "text/plain": decode_text,
    "text/html": _html,
    "application/xhtml+xml": _html,
    "text/rtf": _rtf,
    "application/rtf": _rtf,
    "application/msword": _msword,
}
