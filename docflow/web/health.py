"""Liveness and Prometheus metrics."""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Gauge, generate_latest
from tortoise.functions import Count

from docflow.documents.models import Document, Version
from docflow.intake.models import InboundMessage
from docflow.notify.models import OutboxMessage

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


METRICS = web.AppKey("metrics", Metrics)


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    await Document.filter(id=0).count()  # the database answers
    return web.json_response({"status": "ok"})


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    m = request.app[METRICS]
    for model, gauge, column in (
        (Document, m.documents, "status"),
        (InboundMessage, m.inbound, "state"),
        (OutboxMessage, m.outbox, "state"),
    ):
        gauge.clear()
        rows = await model.annotate(n=Count("id")).group_by(column).values(column, "n")
        for row in rows:
            gauge.labels(row[column]).set(row["n"])
    m.versions.set(await Version.all().count())
    body = generate_latest(request.app[REGISTRY])
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
