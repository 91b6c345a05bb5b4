"""File type by content, never by name: libmagic, corrected for office containers."""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass

import magic
from PIL import Image

KIND_MIME: dict[str, str] = {
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "doc": "application/msword",
    "odt": "application/vnd.oasis.opendocument.text",
    "pdf": "application/pdf",
    "rtf": "text/rtf",
    "txt": "text/plain",
    "html": "text/html",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "ods": "application/vnd.oasis.opendocument.spreadsheet",
    "pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "odp": "application/vnd.oasis.opendocument.presentation",
    # scans and photos, read by OCR after intake (documents/ocr.py)
    "jpeg": "image/jpeg",
    "png": "image/png",
    "tiff": "image/tiff",
}


IMAGE_KINDS = frozenset({"jpeg", "png", "tiff"})
# A page scanned or photographed is at least this many pixels on its short and long sides
# (an A5 page at 100 dpi is 583 × 827); logos and signature banners are smaller.
PAGE_SHORT_SIDE, PAGE_LONG_SIDE = 500, 800


def page_like(data: bytes) -> bool:
    """Whether an image looks like a page (a scan, a photo of a letter) rather than a logo
    or a signature picture. An image whose size cannot be read counts as a page: it is kept,
    and its OCR records why it could not be read."""
    try:
        with Image.open(io.BytesIO(data)) as image:  # reads the header only
            short, long = sorted(image.size)
    except Exception:  # Pillow raises many kinds of error on damaged files
        return True
    return short >= PAGE_SHORT_SIDE and long >= PAGE_LONG_SIDE


@dataclass(frozen=True)
class Detected:
    """What a file is: the decided MIME type and, if docflow knows it, its kind."""

    mime: str
    kind: str | None


def detect(data: bytes) -> Detected:
    """Decide the type of `data`; never raises."""
    mime = _libmagic(data)
    if mime in _ZIP_ANSWERS:
        mime = _inside_zip(data) or mime
    elif mime in _OLE_ANSWERS:
        # An OLE file is a Word document only if it holds a WordDocument stream.
        mime = KIND_MIME["doc"] if _WORD_STREAM in data else mime
    mime = _ALIASES.get(mime, mime)
    return Detected(mime, _MIME_KIND.get(mime))


# libmagic needs only the start of a file; sending it everything costs time on big files.
_MAGIC_PREFIX = 64 * 1024
# A zip member may be a decompression bomb: never read more than this of one.
_MEMBER_LIMIT = 1024 * 1024
_ZIP_ANSWERS = frozenset(
    {"application/zip", "application/octet-stream", "application/x-zip-compressed"}
)
_OLE_ANSWERS = frozenset({"application/cdfv2", "application/x-ole-storage", "application/msword"})
_WORD_STREAM = "WordDocument".encode("utf-16-le")
_ALIASES = {
    "application/rtf": "text/rtf",
    "application/x-rtf": "text/rtf",
    "application/xhtml+xml": "text/html",
}
_MIME_KIND = {mime: kind for kind, mime in KIND_MIME.items()}
_OOXML_MAIN = {
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml": "docx",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml": "xlsx",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml": "pptx",
}
_MIME_SHAPE = re.compile(r"[A-Za-z0-9][\w.+-]*/[\w.+-]+")
_CONTENT_TYPE = re.compile(rb"""ContentType\s*=\s*["']([^"']+)["']""")


def _libmagic(data: bytes) -> str:
    try:
        return str(magic.from_buffer(data[:_MAGIC_PREFIX], mime=True)).strip().lower()
    except Exception:  # libmagic errors on odd input are not the sender's problem
        return "application/octet-stream"


def _inside_zip(data: bytes) -> str | None:
    """The type an ODF or OOXML container declares for itself, or None."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
            if "mimetype" in names:
                with archive.open("mimetype") as member:
                    declared = member.read(200).decode("ascii", errors="replace").strip()
                if _MIME_SHAPE.fullmatch(declared):
                    return declared.lower()
            if "[Content_Types].xml" in names:
                with archive.open("[Content_Types].xml") as member:
                    types = member.read(_MEMBER_LIMIT)
                for match in _CONTENT_TYPE.finditer(types):
                    kind = _OOXML_MAIN.get(match.group(1).decode("ascii", "replace").lower())
                    if kind is not None:
                        return KIND_MIME[kind]
            if "word/document.xml" in names:
                return KIND_MIME["docx"]
    except Exception:  # bad, truncated, encrypted or exotic zip: keep libmagic's answer
        return None
    return None
