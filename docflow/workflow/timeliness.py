"""The on-time report (the ISO 9001 quality objective offices report on): per month,
workflow and stage, the tasks decided, the share decided by their due time, the time
to decide, escalations; and the documents still waiting past due now.

A task counts in the month it was decided (approved, changes requested or rejected;
superseded and cancelled tasks were never decided), an escalation in the month the
overdue task escalated (to whomever the stage names, even nobody), in the office's
time zone. On time: decided at or before the due time; a task without one is left out
of the share. Time to decide: from the task's creation to its decision, in hours; the
90th percentile by nearest rank.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from docflow.clock import Clock
from docflow.workflow.definitions import WorkflowCatalog
from docflow.workflow.models import Task, TaskState

HOUR = timedelta(hours=1)


def percentile(values: list[float], p: float) -> float | None:
    """The nearest-rank `p`-th percentile (0 < p ≤ 100) of `values`; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


@dataclass
class TimelinessLine:
    """One month (0: the year), workflow and stage ("": all of them)."""

    month: int
    workflow: str
    stage: str
    stage_index: int = -1
    decided: int = 0
    with_due: int = 0
    on_time: int = 0
    escalations: int = 0
    hours: list[float] = field(default_factory=list)

    @property
    def on_time_share(self) -> float | None:
        return self.on_time / self.with_due if self.with_due else None

    @property
    def median_hours(self) -> float | None:
        return statistics.median(self.hours) if self.hours else None

    @property
    def p90_hours(self) -> float | None:
        return percentile(self.hours, 90)

    def add(self, other: TimelinessLine) -> None:
        self.decided += other.decided
        self.with_due += other.with_due
        self.on_time += other.on_time
        self.escalations += other.escalations
        self.hours += other.hours

    def as_dict(self) -> dict[str, Any]:
        def rounded(x: float | None, digits: int) -> float | None:
            return None if x is None else round(x, digits)

        return {
            "month": self.month or None,
            "workflow": self.workflow or None,
            "stage": self.stage or None,
            "decided": self.decided,
            "with_due": self.with_due,
            "on_time": self.on_time,
            "on_time_share": rounded(self.on_time_share, 4),
            "median_hours": rounded(self.median_hours, 1),
            "p90_hours": rounded(self.p90_hours, 1),
            "escalations": self.escalations,
        }


@dataclass(frozen=True)
class OpenPastDue:
    """Documents waiting in one workflow's stage with a task past its due time."""

    workflow: str
    stage: str
    documents: int
    oldest_due: datetime

    def as_dict(self) -> dict[str, Any]:
        return {
            "workflow": self.workflow,
            "stage": self.stage,
            "documents": self.documents,
            "oldest_due": self.oldest_due.isoformat(),
        }


@dataclass
class TimelinessReport:
    year: int
    now: datetime
    lines: list[TimelinessLine]  # month, workflow, stage
    months: list[TimelinessLine]  # the twelve months, all workflows
    total: TimelinessLine
    open_past_due: list[OpenPastDue]
    open_past_due_documents: int  # distinct documents (a document waits in one stage)

    def as_dict(self) -> dict[str, Any]:
        return {
            "year": self.year,
            "now": self.now.isoformat(),
            "total": self.total.as_dict(),
            "months": [m.as_dict() for m in self.months],
            "items": [line.as_dict() for line in self.lines],
            "open_past_due": {
                "documents": self.open_past_due_documents,
                "items": [o.as_dict() for o in self.open_past_due],
            },
        }


class Timeliness:
    """Computes the report from the year's tasks (in Python: a year is thousands)."""

    def __init__(self, clock: Clock, workflows: WorkflowCatalog, zone: ZoneInfo) -> None:
        self.clock = clock
        self.workflows = workflows
        self.zone = zone

    async def report(self, year: int) -> TimelinessReport:
        start = datetime(year, 1, 1, tzinfo=self.zone)
        end = datetime(year + 1, 1, 1, tzinfo=self.zone)
        cells: dict[tuple[int, str, str], TimelinessLine] = {}

        def cell(at: datetime, t: dict[str, Any]) -> TimelinessLine:
            month = at.astimezone(self.zone).month
            key = (month, t["document__workflow"], t["stage_key"])
            return cells.setdefault(key, TimelinessLine(*key, stage_index=t["stage_index"]))

        fields = ("document__workflow", "stage_key", "stage_index")
        for t in await Task.filter(
            state__in=TaskState.DECISIONS, decided_at__gte=start, decided_at__lt=end
        ).values(*fields, "created_at", "due_at", "decided_at"):
            line = cell(t["decided_at"], t)
            line.decided += 1
            line.hours.append((t["decided_at"] - t["created_at"]) / HOUR)
            if t["due_at"] is not None:
                line.with_due += 1
                line.on_time += t["decided_at"] <= t["due_at"]
        # the overdue tasks that escalated (the tasks escalation added carry the time too)
        for t in await Task.filter(
            escalated_at__gte=start, escalated_at__lt=end, escalated_from_id__isnull=True
        ).values(*fields, "escalated_at"):
            cell(t["escalated_at"], t).escalations += 1
        lines = sorted(cells.values(), key=lambda c: (c.month, c.workflow, c.stage_index))
        months = [TimelinessLine(m, "", "") for m in range(1, 13)]
        total = TimelinessLine(0, "", "")
        for line in lines:
            months[line.month - 1].add(line)
            total.add(line)
        now = self.clock.now()
        past_due, documents = await self._open_past_due(now)
        return TimelinessReport(year, now, lines, months, total, past_due, documents)

    async def _open_past_due(self, now: datetime) -> tuple[list[OpenPastDue], int]:
        waiting: dict[tuple[str, int, str], tuple[set[int], datetime]] = {}
        everyone: set[int] = set()
        for t in await Task.filter(state=TaskState.OPEN, due_at__lt=now).values(
            "document_id", "document__workflow", "stage_index", "stage_key", "due_at"
        ):
            key = (t["document__workflow"], t["stage_index"], t["stage_key"])
            docs, oldest = waiting.get(key, (set(), t["due_at"]))
            docs.add(t["document_id"])
            waiting[key] = (docs, min(oldest, t["due_at"]))
            everyone.add(t["document_id"])
        items = [
            OpenPastDue(workflow, stage, len(docs), oldest)
            for (workflow, _, stage), (docs, oldest) in sorted(waiting.items())
        ]
        return items, len(everyone)
