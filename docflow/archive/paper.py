"""Paper saved (SPEC, "Paper saved"): the pages a paper office would have printed for what
docflow carried in a year, per month and workflow.

- Every version: its pages × (the approvers it was sent to + 1 for the author's copy).
  The approvers are the distinct assignees of the tasks made for that version
  (escalations and delegates included). Its pages are its main file's rendition's
  (SPEC, "Rendition"); until there is one, the file's own (a PDF's page tree, the page
  count Word or LibreOffice saved in a DOCX or ODT); otherwise it is not counted.
- Every issued document: its issued pages (the stamped or signed copy, else the final
  version's main file) × (its recipients + 1 file copy), the recipients being every
  address its distribution mail went to (see register_book.distribution).
- Sheets: each copy printed on both sides, ⌈pages ÷ 2⌉ sheets per copy.

A version counts in the month it arrived, an issued document in the month of its issue
date, in the office's time zone. Annexes are not counted.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from docflow.archive.records import ArchiveRecord, IssuedFile
from docflow.archive.register_book import FILE_COPIES, distribution, year_bounds
from docflow.config import Settings
from docflow.documents.models import FileRendition, Version, VersionFile
from docflow.documents.page_count import NOT_COUNTED, PageCount, count_pages
from docflow.storage.blobs import BlobStore
from docflow.workflow.models import Task

AUTHOR_COPIES = 1
CACHE_MAX = 200_000  # page counts kept in memory, by content hash


def sheets(pages: int) -> int:
    """Sheets of one copy printed on both sides."""
    return (pages + 1) // 2


@dataclass
class PaperLine:
    """What one month, one workflow, or the year saved: pages and sheets, by what carried them."""

    month: int  # 1–12; 0 for a whole year
    workflow: str  # "" for every workflow
    versions: int = 0
    version_pages: int = 0  # pages × copies
    version_sheets: int = 0
    issued: int = 0
    issued_pages: int = 0
    issued_sheets: int = 0

    @property
    def pages(self) -> int:
        return self.version_pages + self.issued_pages

    @property
    def sheets(self) -> int:
        return self.version_sheets + self.issued_sheets

    def add(self, other: PaperLine) -> None:
        self.versions += other.versions
        self.version_pages += other.version_pages
        self.version_sheets += other.version_sheets
        self.issued += other.issued
        self.issued_pages += other.issued_pages
        self.issued_sheets += other.issued_sheets

    def as_dict(self) -> dict[str, Any]:
        return {
            "month": self.month or None,
            "workflow": self.workflow or None,
            "versions": self.versions,
            "version_pages": self.version_pages,
            "version_sheets": self.version_sheets,
            "issued": self.issued,
            "issued_pages": self.issued_pages,
            "issued_sheets": self.issued_sheets,
            "pages": self.pages,
            "sheets": self.sheets,
        }


@dataclass
class PaperReport:
    year: int
    lines: list[PaperLine]  # one per month and workflow with something carried
    months: list[PaperLine]  # the twelve months, every workflow
    workflows: list[PaperLine]  # each workflow, the whole year
    total: PaperLine
    # how the pages of each file counted were found: rendition, pdf, docx, odt, and
    # none (not counted: its pages are missing from the totals)
    counted: Counter[str] = field(default_factory=Counter)
    uncounted: list[str] = field(default_factory=list)  # "DF-…-… v2 name.txt", a few

    def as_dict(self) -> dict[str, Any]:
        return {
            "year": self.year,
            "total": self.total.as_dict(),
            "months": [m.as_dict() for m in self.months],
            "workflows": [w.as_dict() for w in self.workflows],
            "items": [line.as_dict() for line in self.lines],
            "counted": {k: self.counted[k] for k in ("rendition", "pdf", "docx", "odt", "none")},
            "uncounted": self.uncounted,
        }


class PaperReports:
    """Computes the report; remembers the page counts read from files, by hash."""

    def __init__(self, settings: Settings, blobs: BlobStore) -> None:
        self.settings = settings
        self.blobs = blobs
        self._pages: dict[str, PageCount] = {}

    async def report(self, year: int) -> PaperReport:
        zone = self.settings.org.timezone
        start, end = year_bounds(year, zone)
        cells: dict[tuple[int, str], PaperLine] = {}
        counted: Counter[str] = Counter()
        uncounted: list[str] = []

        def cell(at: datetime | int, workflow: str) -> PaperLine:
            month = at if isinstance(at, int) else at.astimezone(zone).month
            return cells.setdefault((month, workflow), PaperLine(month, workflow))

        versions = await self._versions(start, end)
        issued = await self._issued(year, start, end)
        await self._count_files(versions + issued)
        for v in versions:
            line = cell(v["created_at"], v["workflow"])
            line.versions += 1
            pages = self._pages_of(v, counted, uncounted)
            if pages:
                copies = len(v["approvers"]) + AUTHOR_COPIES
                line.version_pages += pages * copies
                line.version_sheets += sheets(pages) * copies
        for r in issued:
            line = cell(r["issue_date"].month, r["workflow"])
            line.issued += 1
            pages = self._pages_of(r, counted, uncounted)
            if pages:
                copies = r["recipients"] + FILE_COPIES
                line.issued_pages += pages * copies
                line.issued_sheets += sheets(pages) * copies
        lines = [cells[k] for k in sorted(cells)]
        months = [PaperLine(m, "") for m in range(1, 13)]
        by_workflow: dict[str, PaperLine] = {}
        total = PaperLine(0, "")
        for line in lines:
            months[line.month - 1].add(line)
            by_workflow.setdefault(line.workflow, PaperLine(0, line.workflow)).add(line)
            total.add(line)
        return PaperReport(
            year,
            lines,
            months,
            [by_workflow[k] for k in sorted(by_workflow)],
            total,
            counted,
            uncounted[:20],
        )

    async def _versions(self, start: datetime, end: datetime) -> list[dict[str, Any]]:
        """The year's versions with their main file, its rendition's pages, approvers."""
        in_year = {"version__created_at__gte": start, "version__created_at__lt": end}
        mains = {
            f["version_id"]: f
            for f in await VersionFile.filter(position=0, **in_year).values(
                "id", "version_id", "name", "mime", "sha256"
            )
        }
        rendered = {
            r["version_file_id"]: r["pages"]
            for r in await FileRendition.filter(
                status="ok",
                pages__not_isnull=True,
                version_file__position=0,
                version_file__version__created_at__gte=start,
                version_file__version__created_at__lt=end,
            ).values("version_file_id", "pages")
        }
        approvers: dict[tuple[int, int], set[int]] = {}
        # a version's tasks are made when it arrives or later: those since the year began
        for t in await Task.filter(created_at__gte=start).values(
            "document_id", "version_number", "assignee_id"
        ):
            key = (t["document_id"], t["version_number"])
            approvers.setdefault(key, set()).add(t["assignee_id"])
        out = []
        for v in await Version.filter(created_at__gte=start, created_at__lt=end).values(
            "id", "number", "created_at", "document_id", "document__code", "document__workflow"
        ):
            main = mains.get(v["id"])
            out.append(
                {
                    "created_at": v["created_at"],
                    "workflow": v["document__workflow"],
                    "what": f"{v['document__code']} v{v['number']}",
                    "main": main,
                    "rendition_pages": rendered.get(main["id"]) if main else None,
                    "approvers": approvers.get((v["document_id"], v["number"]), set()),
                }
            )
        return out

    async def _issued(self, year: int, start: datetime, end: datetime) -> list[dict[str, Any]]:
        """The year's issued documents with their issued copy and number of recipients."""
        records = await ArchiveRecord.filter(year=year).values(
            "id", "workflow", "issue_date", "number", "document__code"
        )
        files: dict[int, dict[str, Any]] = {}
        for f in await IssuedFile.filter(record__year=year, role__in=("issued", "main")).values(
            "record_id", "role", "name", "mime", "sha256"
        ):
            if f["role"] == "issued" or f["record_id"] not in files:
                files[f["record_id"]] = f
        originals = [f["sha256"] for f in files.values() if f["role"] == "main"]
        rendered = (
            {
                r["version_file__sha256"]: r["pages"]
                for r in await FileRendition.filter(
                    status="ok", pages__not_isnull=True, version_file__sha256__in=originals
                ).values("version_file__sha256", "pages")
            }
            if originals
            else {}
        )
        sent = await distribution([r["document__code"] for r in records], start, end)
        return [
            {
                "issue_date": r["issue_date"],
                "workflow": r["workflow"],
                "what": r["number"],
                "main": files.get(r["id"]),
                "rendition_pages": rendered.get(files[r["id"]]["sha256"])
                if r["id"] in files
                else None,
                "recipients": len(sent.get(r["document__code"], ())),
            }
            for r in records
        ]

    def _pages_of(
        self, item: dict[str, Any], counted: Counter[str], uncounted: list[str]
    ) -> int | None:
        """The pages of an item's main file: its rendition's, else those read from the file."""
        if item["rendition_pages"]:
            counted["rendition"] += 1
            return int(item["rendition_pages"])
        main = item["main"]
        found = self._pages.get(main["sha256"], NOT_COUNTED) if main else NOT_COUNTED
        counted[found.how or "none"] += 1
        if found.pages is None:
            uncounted.append(f"{item['what']} {main['name'] if main else ''}".strip())
        return found.pages

    async def _count_files(self, items: list[dict[str, Any]]) -> None:
        """Reads the pages of the main files without a rendition not read before, all in
        one thread: the same bytes have the same pages, so each content is read once."""
        todo = {
            m["sha256"]: m["mime"]
            for item in items
            if not item["rendition_pages"]
            and (m := item["main"]) is not None
            and m["sha256"] not in self._pages
        }
        if not todo:
            return
        if len(self._pages) + len(todo) > CACHE_MAX:
            self._pages.clear()
        self._pages.update(await asyncio.to_thread(self._read_pages, todo))

    def _read_pages(self, files: dict[str, str]) -> dict[str, PageCount]:
        out = {}
        for sha256, mime in files.items():
            try:
                path = self.blobs.path_of(sha256)
            except ValueError:
                out[sha256] = NOT_COUNTED
            else:
                out[sha256] = count_pages(path, mime)
        return out
