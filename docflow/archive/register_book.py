"""The outgoing register book (sổ đăng ký văn bản đi) as Decree 30/2020/NĐ-CP lays it out.

Appendix IV of the decree gives the book's columns: number and notation, date, type and
summary, signer, recipients (nơi nhận), the unit or person keeping the file copy, the
number of copies, notes. docflow's lines come from the archive records, and the
recipients from the mail that distributed each issued document: every address it went
to (the author included), so the copies are those recipients plus the file copy.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from docflow.archive.records import ArchiveRecord, IssuedFile
from docflow.archive.service import ArchiveService
from docflow.notify.models import OutboxMessage
from docflow.users.models import User

ISSUED_MAIL = "issued"  # the outbox kind of the distribution (archive.issuing)
FILE_COPIES = 1  # the copy the office files (lưu: VT), electronic now


@dataclass(frozen=True)
class Recipient:
    address: str
    name: str  # the user's name, "" for an address without an account

    def __str__(self) -> str:
        return f"{self.name} <{self.address}>" if self.name else self.address


@dataclass(frozen=True)
class BookLine:
    """One line of the book: one number given."""

    record: int
    code: str
    seq: int
    number: str
    issue_date: date
    type: str
    workflow: str
    title: str
    summary: str
    signer: str
    author: Recipient  # the drafter: with the archive, where the file copy is kept
    recipients: tuple[Recipient, ...]
    annexes: int
    confidential: bool

    @property
    def copies(self) -> int:
        """Copies a paper office would have made: one per recipient, one for the file."""
        return len(self.recipients) + FILE_COPIES


def year_bounds(year: int, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The office's calendar year `year`, as the instants it starts and ends."""
    return datetime(year, 1, 1, tzinfo=zone), datetime(year + 1, 1, 1, tzinfo=zone)


async def distribution(
    codes: Iterable[str], start: datetime, end: datetime
) -> dict[str, tuple[str, ...]]:
    """Each document's recipients: the addresses of its distribution mails queued between
    `start` and `end` (a day's slack either side), lowercased, in the order first sent."""
    wanted = set(codes)
    out: dict[str, dict[str, None]] = {}
    rows = (
        await OutboxMessage.filter(
            kind=ISSUED_MAIL,
            created_at__gte=start - timedelta(days=1),
            created_at__lt=end + timedelta(days=1),
        )
        .order_by("id")
        .values("document_code", "rcpt_to")
    )
    for row in rows:
        code = row["document_code"]
        if code in wanted:  # a retry of deferred recipients repeats some: kept once
            seen = out.setdefault(code, {})
            seen.update(dict.fromkeys(str(a).lower() for a in row["rcpt_to"] or ()))
    return {code: tuple(seen) for code, seen in out.items()}


class RegisterBooks:
    """The register books of the archive, line by line with their recipients."""

    def __init__(self, archive: ArchiveService) -> None:
        self.archive = archive

    async def book(self, register: str, year: int) -> list[BookLine]:
        """The book of `register` for `year`, in number order (NotFoundError: no register)."""
        lines = await self.archive.book(register, year)
        extra = {
            r["id"]: r
            for r in await ArchiveRecord.filter(register=register, year=year).values(
                "id", "workflow", "author_email", "confidential"
            )
        }
        annexes: dict[int, int] = {}
        for f in await IssuedFile.filter(
            record__register=register, record__year=year, role="annex"
        ).values("record_id"):
            annexes[f["record_id"]] = annexes.get(f["record_id"], 0) + 1
        start, end = year_bounds(year, self.archive.settings.org.timezone)
        sent = await distribution([line["code"] for line in lines], start, end)
        addresses = {a for found in sent.values() for a in found}
        addresses |= {str(r["author_email"]).lower() for r in extra.values()}
        names = {
            str(u["email"]).lower(): str(u["name"])
            for u in await User.filter(email__in=sorted(addresses)).values("email", "name")
        }

        def person(address: str) -> Recipient:
            return Recipient(address, names.get(address, ""))

        return [
            BookLine(
                record=line["id"],
                code=line["code"],
                seq=line["seq"],
                number=line["number"],
                issue_date=date.fromisoformat(line["issue_date"]),
                type=line["type"],
                workflow=str(extra[line["id"]]["workflow"]),
                title=line["title"],
                summary=line["summary"],
                signer=line["signer"],
                author=person(str(extra[line["id"]]["author_email"]).lower()),
                recipients=tuple(person(a) for a in sent.get(line["code"], ())),
                annexes=annexes.get(line["id"], 0),
                confidential=bool(extra[line["id"]]["confidential"]),
            )
            for line in lines
        ]
