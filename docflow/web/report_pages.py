"""The paper-saved report for leaders and admins: the page with its formula, a bar chart
by month drawn as SVG on the server, tables by month and workflow, and CSV.

The numbers are docflow.archive.paper's; this module only lays them out, in the
reader's language.
"""

from __future__ import annotations

from aiohttp import web

from docflow.archive.paper import PaperLine, PaperReport
from docflow.errors import InvalidRequestError
from docflow.services import Services
from docflow.users.accounts import Principal
from docflow.web.charts import Bar, bar_chart
from docflow.web.csv_export import csv_response
from docflow.web.keys import SERVICES
from docflow.web.pages import Texts, digits, language_of, render, require, texts

routes = web.RouteTableDef()
MONTHS_EN = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()

TEXT = {
    "vi": {
        "title": "Giấy đã tiết kiệm",
        "year": "Năm",
        "show": "Xem",
        "csv": "Tải CSV (Excel)",
        "sheets": "tờ giấy",
        "pages": "trang",
        "not_printed": "không phải in trong năm",
        "versions": "dự thảo đã gửi duyệt",
        "issued": "văn bản ban hành",
        "formula_title": "Cách tính",
        "formula_versions": "Mỗi dự thảo (phiên bản): số trang × (số người duyệt được gửi "
        "+ 1 bản của người soạn).",
        "formula_issued": "Mỗi văn bản ban hành: số trang bản ban hành × (số nơi nhận + 1 bản "
        "lưu).",
        "formula_sheets": "Số tờ: in hai mặt, mỗi bản cần số trang ÷ 2, làm tròn lên.",
        "formula_pages": "Số trang lấy từ bản PDF chuyển đổi của tệp chính; khi chưa có thì "
        "đọc từ chính tệp (PDF; thuộc tính số trang của DOCX, ODT). Không tính phụ lục.",
        "chart_title": "Số tờ giấy tiết kiệm theo tháng, năm",
        "chart_desc": "Biểu đồ cột: mỗi cột là một tháng có số liệu, chiều cao theo số tờ "
        "giấy; số tờ ghi trên đầu cột. Bảng bên dưới có cùng số liệu.",
        "month_short": "T{m}",
        "month_long": "Tháng {m}",
        "by_month": "Theo tháng",
        "by_workflow": "Theo loại văn bản (quy trình)",
        "month": "Tháng",
        "workflow": "Quy trình",
        "c_versions": "Dự thảo",
        "c_version_pages": "Trang (dự thảo)",
        "c_version_sheets": "Tờ (dự thảo)",
        "c_issued": "Ban hành",
        "c_issued_pages": "Trang (ban hành)",
        "c_issued_sheets": "Tờ (ban hành)",
        "c_pages": "Tổng số trang",
        "c_sheets": "Tổng số tờ",
        "total": "Cả năm",
        "counting": "Cách đếm số trang (số tệp)",
        "by_rendition": "Theo bản PDF chuyển đổi",
        "by_pdf": "Đọc từ chính tệp PDF",
        "by_properties": "Theo số trang lưu trong tệp DOCX/ODT (ước lượng của Word, LibreOffice)",
        "by_none": "Không đếm được (không tính vào tổng)",
        "uncounted": "Các tệp không đếm được số trang",
        "nothing": "Năm này chưa có văn bản nào.",
    },
    "en": {
        "title": "Paper saved",
        "year": "Year",
        "show": "Show",
        "csv": "Download CSV (Excel)",
        "sheets": "sheets of paper",
        "pages": "pages",
        "not_printed": "not printed in",
        "versions": "drafts sent for review",
        "issued": "documents issued",
        "formula_title": "How it is counted",
        "formula_versions": "Every draft (version): its pages × (the approvers it was sent to "
        "+ 1 for the author's copy).",
        "formula_issued": "Every issued document: its issued pages × (its recipients + 1 file "
        "copy).",
        "formula_sheets": "Sheets: printed on both sides, pages ÷ 2 rounded up per copy.",
        "formula_pages": "Pages come from the main file's PDF rendition; until there is one, "
        "from the file itself (a PDF; the page count a DOCX or ODT saved). Annexes are not "
        "counted.",
        "chart_title": "Sheets of paper saved by month,",
        "chart_desc": "Bar chart: one bar per month with data, its height the sheets saved; "
        "the number is written above each bar. The table below has the same numbers.",
        "month_short": "{m}",
        "month_long": "{m}",
        "by_month": "By month",
        "by_workflow": "By document type (workflow)",
        "month": "Month",
        "workflow": "Workflow",
        "c_versions": "Drafts",
        "c_version_pages": "Pages (drafts)",
        "c_version_sheets": "Sheets (drafts)",
        "c_issued": "Issued",
        "c_issued_pages": "Pages (issued)",
        "c_issued_sheets": "Sheets (issued)",
        "c_pages": "Pages in all",
        "c_sheets": "Sheets in all",
        "total": "Whole year",
        "counting": "How pages were counted (files)",
        "by_rendition": "From the PDF rendition",
        "by_pdf": "Read from the PDF file itself",
        "by_properties": "From the page count saved in the DOCX/ODT (Word's or "
        "LibreOffice's estimate)",
        "by_none": "Could not be counted (not in the totals)",
        "uncounted": "Files whose pages could not be counted",
        "nothing": "Nothing carried in this year yet.",
    },
}


def leader(p: Principal) -> bool:
    return p.is_leader


def report_year(request: web.Request, services: Services) -> int:
    """`?year=`, else this year in the office."""
    raw = request.query.get("year", "").strip()
    if not raw:
        return services.clock.now().astimezone(services.settings.org.timezone).year
    if not digits(raw) or not 1900 <= int(raw) <= 9999:
        raise InvalidRequestError("year must be a year, e.g. 2026")
    return int(raw)


def whole(n: int, lang: str) -> str:
    """1234567 → "1.234.567" (vi) or "1,234,567" (en)."""
    text = f"{n:,}"
    return text.replace(",", ".") if lang == "vi" else text


def month_name(t: Texts, lang: str, m: int, short: bool = False) -> str:
    if lang == "en":
        return MONTHS_EN[m - 1]
    return (t.month_short if short else t.month_long).format(m=m)


def workflow_name(services: Services, key: str, lang: str) -> str:
    found = services.workflows.by_key.get(key)
    return found.name(lang) if found else key


def _cells(line: PaperLine, lang: str) -> list[str]:
    return [
        whole(n, lang)
        for n in (
            line.versions,
            line.version_pages,
            line.issued,
            line.issued_pages,
            line.pages,
            line.sheets,
        )
    ]


@routes.get("/reports/paper")
async def paper_page(request: web.Request) -> web.Response:
    session = await require(request, leader)
    services = request.app[SERVICES]
    year = report_year(request, services)
    report = await services.paper.report(year)
    lang = language_of(request, session)
    t = texts(TEXT, lang, "report_paper.html")
    unit = t.sheets
    bars = [
        Bar(
            month_name(t, lang, m.month, short=True),
            m.sheets,
            whole(m.sheets, lang),
            f"{month_name(t, lang, m.month)}: {whole(m.sheets, lang)} {unit}",
        )
        for m in report.months
    ]
    chart = bar_chart(bars, f"{t.chart_title} {year}", t.chart_desc, "paper-chart")
    return render(
        request,
        "report_paper.html",
        session,
        TEXT,
        year=year,
        report=report,
        chart=chart,
        total={
            "sheets": whole(report.total.sheets, lang),
            "pages": whole(report.total.pages, lang),
            "versions": whole(report.total.versions, lang),
            "issued": whole(report.total.issued, lang),
        },
        months=[
            (month_name(t, lang, m.month), _cells(m, lang))
            for m in report.months
            if m.versions or m.issued
        ],
        workflows=[
            (workflow_name(services, w.workflow, lang), _cells(w, lang)) for w in report.workflows
        ],
        total_cells=_cells(report.total, lang),
        counted={k: whole(report.counted[k], lang) for k in ("rendition", "pdf", "none")},
        properties=whole(report.counted["docx"] + report.counted["odt"], lang),
    )


@routes.get("/reports/paper.csv")
async def paper_csv(request: web.Request) -> web.Response:
    session = await require(request, leader)
    services = request.app[SERVICES]
    year = report_year(request, services)
    report = await services.paper.report(year)
    lang = language_of(request, session)
    return csv_response(paper_rows(report, services, lang), f"giay-tiet-kiem-{year}.csv")


def paper_rows(report: PaperReport, services: Services, lang: str) -> list[list[object]]:
    """The CSV: a row per month and workflow, then a row per month, then the year."""
    t = texts(TEXT, lang, "paper csv")
    head: list[object] = [t.year, t.month, t.workflow, t.c_versions, t.c_version_pages]
    head += [t.c_version_sheets, t.c_issued, t.c_issued_pages, t.c_issued_sheets]
    head += [t.c_pages, t.c_sheets]
    rows = [head]
    for line in [*report.lines, *(m for m in report.months if m.versions or m.issued)]:
        name = workflow_name(services, line.workflow, lang) if line.workflow else t.total
        rows.append([report.year, line.month, name, *_numbers(line)])
    rows.append([report.year, "", t.total, *_numbers(report.total)])
    return rows


def _numbers(line: PaperLine) -> list[object]:
    return [
        line.versions,
        line.version_pages,
        line.version_sheets,
        line.issued,
        line.issued_pages,
        line.issued_sheets,
        line.pages,
        line.sheets,
    ]
