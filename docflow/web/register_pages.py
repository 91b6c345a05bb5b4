"""The clerk's register books (sổ đăng ký văn bản đi): the list, a year's book laid out as
Decree 30/2020/NĐ-CP's form (printable as the bound book), and its CSV for Excel.

For clerks (`van-thu`) and admins. Confidential registers are for admins only: to anyone
else they do not exist (404), as in the archive and its API.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from docflow.archive.register_book import BookLine
from docflow.errors import InvalidRequestError, NotFoundError
from docflow.services import Services
from docflow.users.accounts import Principal
from docflow.web.csv_export import csv_response
from docflow.web.keys import SERVICES
from docflow.web.pages import digits, language_of, render, require, texts

routes = web.RouteTableDef()

TEXT = {
    "vi": {
        "registers": "Sổ đăng ký văn bản đi",
        "intro": "Mỗi sổ ghi các số đã cấp theo năm, theo mẫu sổ đăng ký văn bản đi "
        "(Phụ lục IV, Nghị định 30/2020/NĐ-CP).",
        "register": "Sổ",
        "format": "Dạng số",
        "kinds": "Loại văn bản",
        "confidential": "Mật",
        "years": "Các năm",
        "last": "số cuối",
        "none_yet": "Chưa cấp số nào.",
        "open_year": "Mở sổ năm",
        "book": "Sổ đăng ký văn bản đi",
        "year": "Năm",
        "show": "Xem",
        "csv": "Tải CSV (Excel)",
        "print_hint": "In sổ bằng lệnh In của trình duyệt (Ctrl+P): sổ được dàn trang khổ A4 "
        "ngang, đầu bảng lặp lại trên mỗi trang.",
        "from_no": "Từ số",
        "to_no": "đến số",
        "from_date": "Từ ngày",
        "to_date": "đến ngày",
        "empty": "Năm này sổ chưa có văn bản nào.",
        "caption": "Sổ đăng ký văn bản đi, năm",
        "c_number": "Số, ký hiệu văn bản",
        "c_date": "Ngày tháng văn bản",
        "c_summary": "Tên loại và trích yếu nội dung",
        "c_signer": "Người ký",
        "c_recipients": "Nơi nhận văn bản",
        "c_file_copy": "Đơn vị, người nhận bản lưu",
        "c_copies": "Số lượng bản",
        "c_notes": "Ghi chú",
        "file_copy": "Văn thư (bản lưu điện tử)",
        "drafter": "người soạn thảo",
        "annexes": "Kèm {n} phụ lục",
        "code": "Mã hồ sơ",
        "back": "Các sổ đăng ký",
    },
    "en": {
        "registers": "Outgoing register books",
        "intro": "Each book lists the numbers given in a year, in the form of the outgoing "
        "register (Appendix IV, Decree 30/2020/NĐ-CP).",
        "register": "Register",
        "format": "Number format",
        "kinds": "Document types",
        "confidential": "Confidential",
        "years": "Years",
        "last": "last number",
        "none_yet": "No number given yet.",
        "open_year": "Open the book of",
        "book": "Outgoing register book",
        "year": "Year",
        "show": "Show",
        "csv": "Download CSV (Excel)",
        "print_hint": "Print the book with the browser's Print command (Ctrl+P): it is laid "
        "out on A4 landscape, the table header repeated on every page.",
        "from_no": "From no.",
        "to_no": "to no.",
        "from_date": "From",
        "to_date": "to",
        "empty": "Nothing in this book for this year yet.",
        "caption": "Outgoing register book, year",
        "c_number": "Number and notation",
        "c_date": "Date",
        "c_summary": "Type and summary",
        "c_signer": "Signer",
        "c_recipients": "Recipients",
        "c_file_copy": "File copy kept by",
        "c_copies": "Copies",
        "c_notes": "Notes",
        "file_copy": "Records office (electronic file copy)",
        "drafter": "drafter",
        "annexes": "{n} annex(es)",
        "code": "Tracking code",
        "back": "Register books",
    },
}
COLUMNS = (
    "c_number",
    "c_date",
    "c_summary",
    "c_signer",
    "c_recipients",
    "c_file_copy",
    "c_copies",
    "c_notes",
)


def _clerk(p: Principal) -> bool:
    return p.is_clerk


def _visible(services: Services, principal: Principal, key: str) -> None:
    register = services.settings.registers.get(key)
    if register is None or (register.confidential and not principal.is_admin):
        raise NotFoundError(f"no register {key!r}")


def _year(request: web.Request, services: Services) -> int:
    raw = request.query.get("year", "").strip()
    if not raw:
        return services.clock.now().astimezone(services.settings.org.timezone).year
    if not digits(raw) or not 1900 <= int(raw) <= 9999:
        raise InvalidRequestError("year must be a year, e.g. 2026")
    return int(raw)


@routes.get("/registers")
async def registers_page(request: web.Request) -> web.Response:
    session = await require(request, _clerk)
    services = request.app[SERVICES]
    items = [
        r
        for r in await services.archive.registers()
        if session.principal.is_admin or not r["confidential"]
    ]
    lang = language_of(request, session)
    kinds: dict[str, list[str]] = {}
    for w in services.workflows:
        kinds.setdefault(w.register, []).append(w.name(lang))
    return render(
        request,
        "registers.html",
        session,
        TEXT,
        items=items,
        kinds=kinds,
        this_year=_year(request, services),
    )


@routes.get(r"/registers/{key:[^/.]+}")
async def book_page(request: web.Request) -> web.Response:
    session = await require(request, _clerk)
    services = request.app[SERVICES]
    key = request.match_info["key"]
    _visible(services, session.principal, key)
    year = _year(request, services)
    lines = await services.register_books.book(key, year)
    given: dict[str, int] = next(
        (r["years"] for r in await services.archive.registers() if r["key"] == key), {}
    )
    lang = language_of(request, session)
    return render(
        request,
        "register_book.html",
        session,
        TEXT,
        key=key,
        year=year,
        years=sorted({int(y) for y in given} | {year}, reverse=True),
        org=services.settings.org.name,
        lines=[_row(line, services, lang) for line in lines],
    )


@routes.get(r"/registers/{key:[^/.]+}.csv")
async def book_csv(request: web.Request) -> web.Response:
    session = await require(request, _clerk)
    services = request.app[SERVICES]
    key = request.match_info["key"]
    _visible(services, session.principal, key)
    year = _year(request, services)
    lines = await services.register_books.book(key, year)
    lang = language_of(request, session)
    t = texts(TEXT, lang, "register csv")
    head: list[object] = [*(t[c] for c in COLUMNS), t.code]
    rows = [head]
    for line in lines:
        row = _row(line, services, lang)
        rows.append(
            [
                row["number"],
                row["date"],
                f"{row['type_name']}: {row['summary']}" if row["type_name"] else row["summary"],
                row["signer"],
                "; ".join(row["recipients_full"]),
                "; ".join(row["file_copy"]),
                row["copies"],
                "; ".join(row["notes"]),
                row["code"],
            ]
        )
    await services.access_log.record(
        session.principal.email,
        "register_export",
        source="web",
        client=request.remote or "",
        subject=key,
        year=year,
        rows=len(lines),
    )
    return csv_response(rows, f"so-van-ban-di-{key}-{year}.csv")


def _row(line: BookLine, services: Services, lang: str) -> dict[str, Any]:
    """A book line as the page and the CSV show it, in `lang`."""
    t = texts(TEXT, lang, "register book")
    workflow = services.workflows.by_key.get(line.workflow)
    notes = [t.confidential] if line.confidential else []
    if line.annexes:
        notes.append(t.annexes.format(n=line.annexes))
    type_name = workflow.name(lang) if workflow else line.type
    if line.summary.casefold().startswith(type_name.casefold()):
        type_name = ""  # "Kế hoạch tổ chức…" names its type already
    return {
        "number": line.number,
        "date": f"{line.issue_date:%d/%m/%Y}",
        "type_name": type_name,
        "summary": line.summary,
        "signer": line.signer,
        "recipients": [r.name or r.address for r in line.recipients],
        "recipients_full": [str(r) for r in line.recipients],
        "file_copy": [t.file_copy, f"{line.author.name or line.author.address} ({t.drafter})"],
        "copies": line.copies,
        "notes": notes,
        "code": line.code,
    }
