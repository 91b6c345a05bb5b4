"""Liveness and Prometheus metrics."""

from __future__ import annotations

from collections.abc import Iterator

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Gauge, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from tortoise.functions import Count

from docflow.db.outage import DatabaseWatch, unavailable
from docflow.documents.models import Document, Version
from docflow.intake.models import InboundMessage
from docflow.notify.models import OutboxMessage
from docflow.web.keys import SERVICES

routes = web.RouteTableDef()
REGISTRY = web.AppKey("metrics_registry", CollectorRegistry)


class Metrics:
    """Gauges read from the database at scrape time (correct across several processes)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.documents = Gauge(
            "docflow_documents", "Documents by status", ["status"], registry=registry
        )
        self.versions = Gauge("docflow_versions", "Versions stored", registry=registry)
        self.inbound = Gauge(
            "docflow_inbound_messages", "Received messages by state", ["state"], registry=registry
        )
        self.outbox = Gauge(
            "docflow_outbox_messages", "Outgoing mail by state", ["state"], registry=registry
        )


class DatabaseCollector(Collector):
    """The process's view of the database: up or not, outages and the work they failed."""

    def __init__(self, watch: DatabaseWatch) -> None:
        self.watch = watch

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        yield GaugeMetricFamily(
            "docflow_database_up",
            "1 while the database answers, 0 during an outage (as this process last found it)",
            value=1 if self.watch.available else 0,
        )
        yield CounterMetricFamily(
            "docflow_database_outages",
            "Outages of the database seen by this process",
            value=self.watch.outages,
        )
        yield CounterMetricFamily(
            "docflow_database_unavailable_errors",
            "Operations that failed because the database was away (retried, or 451/503)",
            value=self.watch.failures,
        )


METRICS = web.AppKey("metrics", Metrics)


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    """200 while the database answers; 503 naming what is wrong otherwise."""
    watch = request.app[SERVICES].database
    # while an outage is known, the watch's own probe finds its end: no wait here
    if not watch.available or not await watch.check():
        return web.json_response(
            {"status": "unavailable", "database": "unreachable"},
            status=503,
            headers={"Retry-After": "5"},
        )
    return web.json_response({"status": "ok", "database": "ok"})


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    """Always answers: while the database is away, its gauges are left out and
    `docflow_database_up` says why."""
    m = request.app[METRICS]
    try:
        await _database_gauges(m)
    except Exception as e:
        if not unavailable(e):
            raise
        request.app[SERVICES].database.failed(e, "metrics")
        for gauge in (m.documents, m.inbound, m.outbox):
            gauge.clear()
    body = generate_latest(request.app[REGISTRY])
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def _database_gauges(m: Metrics) -> None:
    for model, gauge, column in (
        (Document, m.documents, "status"),
        (InboundMessage, m.inbound, "state"),
        (OutboxMessage, m.outbox, "state"),
    ):
        rows = await model.annotate(n=Count("id")).group_by(column).values(column, "n")
        gauge.clear()
        for row in rows:
            gauge.labels(row[column]).set(row["n"])
    m.versions.set(await Version.all().count())
