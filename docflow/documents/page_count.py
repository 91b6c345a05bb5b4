"""How many pages a stored file has, read from the file itself: a PDF's page tree, or the
page count a word processor saved in the file's properties (DOCX `docProps/app.xml`,
ODT `meta.xml`). For the paper report while a version has no rendition yet.

The saved counts are what Word or LibreOffice last laid out, not a fresh layout: close,
not exact. Anything else (plain text, images, old binary formats) is not counted.
"""

from __future__ import annotations

import logging
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pypdf
from pypdf.generic import DictionaryObject, IndirectObject

log = logging.getLogger("docflow.page_count")

PDF = "application/pdf"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
ODT = "application/vnd.oasis.opendocument.text"
# <Pages>12</Pages> in app.xml (extended properties); meta:page-count="12" in meta.xml
_DOCX_PAGES = re.compile(rb"<(?:\w+:)?Pages>\s*(\d+)\s*</(?:\w+:)?Pages>")
_ODT_PAGES = re.compile(rb'meta:page-count="(\d+)"')
_MAX_PROPERTIES = 1 << 20  # a properties part larger than this is not a real one


@dataclass(frozen=True)
class PageCount:
    """`pages` of a file, and how they were found: "pdf", "docx", "odt"; None: not counted."""

    pages: int | None
    how: str | None


NOT_COUNTED = PageCount(None, None)


def count_pages(path: Path, mime: str) -> PageCount:
    """The pages of the file at `path` (blocking: run it in a thread)."""
    kind = mime.split(";")[0].strip().lower()
    try:
        if kind == PDF:
            return _counted(_pdf_pages(path), "pdf")
        if kind == DOCX:
            return _counted(_saved_count(path, "docProps/app.xml", _DOCX_PAGES), "docx")
        if kind == ODT:
            return _counted(_saved_count(path, "meta.xml", _ODT_PAGES), "odt")
    except Exception as e:  # pypdf and zipfile raise many kinds of error on damaged files
        log.info("pages not counted", extra={"file": path.name, "error": str(e)[:200]})
    return NOT_COUNTED


def _counted(pages: int | None, how: str) -> PageCount:
    return PageCount(pages, how) if pages and pages > 0 else NOT_COUNTED


def _pdf_pages(path: Path) -> int | None:
    reader = pypdf.PdfReader(path)
    if reader.is_encrypted and not reader.decrypt(""):
        return None
    # The root page node's /Count is the number of pages (ISO 32000-1, 7.7.3.2); reading
    # it is ten times faster than walking the page tree, which serves when it is missing.
    pages = reader.root_object["/Pages"].get_object()
    count = pages.get("/Count") if isinstance(pages, DictionaryObject) else None
    if isinstance(count, IndirectObject):
        count = count.get_object()
    if isinstance(count, int) and count > 0:
        return int(count)
    return len(reader.pages)


def _saved_count(path: Path, member: str, pattern: re.Pattern[bytes]) -> int | None:
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo(member) if member in archive.namelist() else None
        if info is None or info.file_size > _MAX_PROPERTIES:
            return None
        found = pattern.search(archive.read(info))
    return int(found.group(1)) if found else None
