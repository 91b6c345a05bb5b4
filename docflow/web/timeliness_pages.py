"""The on-time report for leaders and admins: per month, workflow and stage, the share of
tasks decided by their due time, the time to decide, escalations, and what still waits
past due; as a page and as CSV. The numbers are docflow.workflow.timeliness's."""

from __future__ import annotations

from aiohttp import web

from docflow.services import Services
from docflow.web.csv_export import csv_response
from docflow.web.keys import SERVICES
from docflow.web.pages import Texts, language_of, render, require, texts
from docflow.web.report_pages import (
    leader,
    month_name,
    report_year,
    whole,
    workflow_name,
)
from docflow.workflow.timeliness import TimelinessLine, TimelinessReport

routes = web.RouteTableDef()

TEXT = {
    "vi": {
        "title": "Tỷ lệ xử lý đúng hạn",
        "year": "Năm",
        "show": "Xem",
        "csv": "Tải CSV (Excel)",
        "decided": "việc đã quyết định",
        "on_time": "đúng hạn",
        "median": "thời gian xử lý trung vị",
        "escalations": "lần chuyển cấp trên do quá hạn",
        "open_now": "văn bản đang chờ quá hạn (hiện tại)",
        "hours": "giờ",
        "definitions": "Cách tính",
        "def_decided": "Việc đã quyết định: đồng ý, yêu cầu sửa hoặc từ chối, tính vào tháng "
        "quyết định (giờ Việt Nam). Việc bị thay thế hay hủy không tính.",
        "def_on_time": "Đúng hạn: quyết định trước hoặc đúng thời hạn của việc; việc không có "
        "hạn không tính vào tỷ lệ.",
        "def_hours": "Thời gian xử lý: từ lúc giao việc đến lúc quyết định; trung vị và "
        "phân vị 90 (90% số việc xong trong thời gian này).",
        "def_escalations": "Chuyển cấp trên: việc quá hạn được giao thêm cho người thay, tính "
        "vào tháng chuyển.",
        "by_month": "Theo tháng",
        "by_stage": "Theo tháng, quy trình và bước",
        "month": "Tháng",
        "workflow": "Quy trình",
        "stage": "Bước",
        "c_decided": "Đã quyết định",
        "c_on_time": "Đúng hạn",
        "c_share": "Tỷ lệ đúng hạn",
        "c_median": "Trung vị (giờ)",
        "c_p90": "Phân vị 90 (giờ)",
        "c_escalations": "Chuyển cấp trên",
        "total": "Cả năm",
        "past_due": "Đang chờ quá hạn lúc",
        "c_documents": "Số văn bản",
        "c_oldest": "Quá hạn từ",
        "none_past_due": "Không có văn bản nào đang chờ quá hạn.",
        "nothing": "Năm này chưa có việc nào được quyết định.",
        "dash": "—",
        "month_short": "T{m}",
        "month_long": "Tháng {m}",
    },
    "en": {
        "title": "Decided on time",
        "year": "Year",
        "show": "Show",
        "csv": "Download CSV (Excel)",
        "decided": "tasks decided",
        "on_time": "on time",
        "median": "median time to decide",
        "escalations": "escalations of overdue tasks",
        "open_now": "documents waiting past due (now)",
        "hours": "hours",
        "definitions": "How it is counted",
        "def_decided": "Decided: approved, changes requested or rejected, counted in the "
        "month of the decision (Vietnam time). Superseded or cancelled tasks do not count.",
        "def_on_time": "On time: decided at or before the task's due time; tasks without a due "
        "time are left out of the share.",
        "def_hours": "Time to decide: from the task's creation to its decision; the median, "
        "and the 90th percentile (90% of tasks were decided within it).",
        "def_escalations": "Escalation: an overdue task also given to a stand-in, counted in "
        "the month it escalated.",
        "by_month": "By month",
        "by_stage": "By month, workflow and stage",
        "month": "Month",
        "workflow": "Workflow",
        "stage": "Stage",
        "c_decided": "Decided",
        "c_on_time": "On time",
        "c_share": "Share on time",
        "c_median": "Median (hours)",
        "c_p90": "90th percentile (hours)",
        "c_escalations": "Escalations",
        "total": "Whole year",
        "past_due": "Waiting past due at",
        "c_documents": "Documents",
        "c_oldest": "Due since",
        "none_past_due": "No document is waiting past due.",
        "nothing": "No task decided in this year yet.",
        "dash": "—",
        "month_short": "{m}",
        "month_long": "{m}",
    },
}


def decimal(x: float | None, lang: str, t: Texts, digits: int = 1) -> str:
    if x is None:
        return t.dash
    text = f"{x:,.{digits}f}"
    if lang == "vi":  # 1,234.5 → 1.234,5
        text = text.replace(",", " ").replace(".", ",").replace(" ", ".")
    return text


def share(x: float | None, lang: str, t: Texts) -> str:
    if x is None:
        return t.dash
    return f"{decimal(x * 100, lang, t)}{' %' if lang == 'vi' else '%'}"


def cells(line: TimelinessLine, lang: str, t: Texts) -> list[str]:
    return [
        whole(line.decided, lang),
        whole(line.on_time, lang),
        share(line.on_time_share, lang, t),
        decimal(line.median_hours, lang, t),
        decimal(line.p90_hours, lang, t),
        whole(line.escalations, lang),
    ]


def stage_name(services: Services, workflow: str, stage: str, lang: str) -> str:
    found = services.workflows.by_key.get(workflow)
    try:
        return found.stage(stage).name(lang) if found else stage
    except KeyError:
        return stage


@routes.get("/reports/timeliness")
async def timeliness_page(request: web.Request) -> web.Response:
    session = await require(request, leader)
    services = request.app[SERVICES]
    year = report_year(request, services)
    report = await services.timeliness.report(year)
    lang = language_of(request, session)
    t = texts(TEXT, lang, "report_timeliness.html")
    return render(
        request,
        "report_timeliness.html",
        session,
        TEXT,
        year=year,
        total={
            "decided": whole(report.total.decided, lang),
            "share": share(report.total.on_time_share, lang, t),
            "median": decimal(report.total.median_hours, lang, t),
            "escalations": whole(report.total.escalations, lang),
            "open": whole(report.open_past_due_documents, lang),
        },
        total_cells=cells(report.total, lang, t),
        months=[
            (month_name(t, lang, m.month), cells(m, lang, t))
            for m in report.months
            if m.decided or m.escalations
        ],
        lines=[
            (
                month_name(t, lang, line.month),
                workflow_name(services, line.workflow, lang),
                stage_name(services, line.workflow, line.stage, lang),
                cells(line, lang, t),
            )
            for line in report.lines
        ],
        now=services.mailer.local_time(report.now),
        past_due=[
            (
                workflow_name(services, o.workflow, lang),
                stage_name(services, o.workflow, o.stage, lang),
                whole(o.documents, lang),
                services.mailer.local_time(o.oldest_due),
            )
            for o in report.open_past_due
        ],
    )


@routes.get("/reports/timeliness.csv")
async def timeliness_csv(request: web.Request) -> web.Response:
    session = await require(request, leader)
    services = request.app[SERVICES]
    year = report_year(request, services)
    report = await services.timeliness.report(year)
    lang = language_of(request, session)
    return csv_response(timeliness_rows(report, services, lang), f"dung-han-{year}.csv")


def timeliness_rows(report: TimelinessReport, services: Services, lang: str) -> list[list[object]]:
    """A row per month, workflow and stage, then per month, then the year; plain numbers
    (the share from 0 to 1, hours with one decimal) for a spreadsheet to compute with."""
    t = texts(TEXT, lang, "timeliness csv")
    head: list[object] = [t.year, t.month, t.workflow, t.stage, t.c_decided, t.c_on_time]
    head += [t.c_share, t.c_median, t.c_p90, t.c_escalations]
    rows = [head]
    every = [*report.lines, *(m for m in report.months if m.decided or m.escalations)]
    for line in [*every, report.total]:
        d = line.as_dict()
        rows.append(
            [
                report.year,
                line.month or "",
                workflow_name(services, line.workflow, lang) if line.workflow else t.total,
                stage_name(services, line.workflow, line.stage, lang) if line.stage else "",
                d["decided"],
                d["on_time"],
                "" if d["on_time_share"] is None else d["on_time_share"],
                "" if d["median_hours"] is None else d["median_hours"],
                "" if d["p90_hours"] is None else d["p90_hours"],
                d["escalations"],
            ]
        )
    return rows
