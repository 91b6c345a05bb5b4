"""Plain text from the document formats an office sends, for search and previews.

DOCX, ODT and RTF text typed in the old Vietnamese fonts (TCVN3 `.VnTime`, VNI
`VNI-Times`) is converted to Unicode run by run (legacy.py); `extract` says when it was.
A DOC (Word 97–2003) gives no text here (there is no reader for it): its text is read
later, when LibreOffice renders it and stores it as DOCX too (`renditions.py`).
"""

from __future__ import annotations

import io
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from html.parser import HTMLParser

import pypdf

from docflow.documents.odf_text import odt_text
from docflow.documents.rtf_text import rtf_text
from docflow.documents.word_text import docx_text
from docflow.errors import ExtractionError

__all__ = [
    "Extraction",
    "ExtractionError",
    "decode_text",
    "extract",
    "extract_text",
    "html_to_text",
    "tidy",
]


@dataclass(frozen=True)
class Extraction:
    """A file's text, and which old font encoding its text was converted from: "tcvn3",
    "vni", both joined by a comma, or None (no text in such a font)."""

    text: str
    legacy_encoding: str | None = None


def extract(data: bytes, mime: str) -> Extraction:
    """`extract_text`, and the old font encodings its text was converted from."""
    kind = mime.split(";")[0].strip().lower()
    reader = _READERS.get(kind)
    if reader is None:
        raise ExtractionError(f"no text extraction for {kind or 'an unknown type'}")
    found = reader(data)
    if isinstance(found, str):
        return Extraction(tidy(found))
    text, encodings = found
    return Extraction(tidy(text), ",".join(sorted(encodings)) or None)


def extract_text(data: bytes, mime: str) -> str:
    """Text of `data` read as `mime`, NFC, with runs of blank lines collapsed."""
    return extract(data, mime).text


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


def _msword(data: bytes) -> str:
    raise ExtractionError("a Word 97 file's text is read with its PDF rendition")


# a reader gives plain text, or the text and the legacy encodings it converted
_READERS: dict[str, Callable[[bytes], str | tuple[str, frozenset[str]]]] = {
    "application/pdf": _pdf,
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": docx_text,
    "application/vnd.oasis.opendocument.text": odt_text,
    "text/plain": decode_text,
    "text/html": _html,
    "application/xhtml+xml": _html,
    "text/rtf": rtf_text,
    "application/rtf": rtf_text,
    "application/msword": _msword,
}
