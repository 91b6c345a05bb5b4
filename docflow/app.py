"""The composition root: one aiohttp application that runs everything `serve` runs.

Resources start in this order and stop in reverse: database → (dev relay) →
analysis pool → renditions (warm LibreOffice) → workers (intake, outbox) → SMTP/LMTP listener →
(IMAP mailbox reader) → scheduler.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from datetime import UTC, datetime
from typing import Any

import aiohttp_jinja2
import jinja2
from aiohttp import web
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from prometheus_client import CollectorRegistry

from docflow import db
from docflow.clock import Clock
from docflow.config import Settings
from docflow.db.outage import unavailable
from docflow.devrelay import start_dev_relay
from docflow.intake.imap import ImapIntake
from docflow.intake.smtp import IntakeHandler, start_listener
from docflow.services import Services, build_services
from docflow.web import (
    admin_api,
    admin_misc,
    admin_quarantine,
    admin_tokens,
    admin_users,
    api,
    archive_api,
    archive_pages,
    auth,
    decisions,
    delegation_pages,
    document_diff,
    document_files,
    document_pages,
    document_upload,
    health,
    home,
    openapi,
    register_pages,
    report_api,
    report_pages,
    status,
    task_api,
    task_pages,
    timeliness_pages,
)
from docflow.web.health import METRICS, REGISTRY, DatabaseCollector, Metrics
from docflow.web.keys import LIMITS, SERVICES
from docflow.web.middleware import bearer_auth, json_errors
from docflow.web.throttle import SignInLimits

log = logging.getLogger("docflow.app")
SMTP_SERVER = web.AppKey("smtp_server", asyncio.Server)
IMAP_INTAKE = web.AppKey("imap_intake", ImapIntake)
WORKER_GRACE_SECONDS = 3.0  # at SIGTERM: time to finish the message or mail in hand
LISTENER_GRACE_SECONDS = 2.0  # at SIGTERM: time for SMTP sessions in progress to end


def _guarded(
    services: Services, what: str, job: Callable[[], Awaitable[object]]
) -> Callable[[], Coroutine[Any, Any, None]]:
    """A periodic job whose failure is logged and left to its next run; the database being
    away is told to the watch (one line per outage), not logged per run."""

    async def run() -> None:
        try:
            await job()
        except Exception as e:
            if unavailable(e):
                services.database.failed(e, what)
            else:
                log.exception("periodic job failed", extra={"job": what})

    return run


def create_app(
    settings: Settings, clock: Clock | None = None, *, dev_relay: bool = False
) -> web.Application:
    """Build the whole service from settings; nothing runs until the app starts."""
    services = build_services(settings, clock)
    app = web.Application(middlewares=[json_errors, bearer_auth], client_max_size=1024**2)
    app[SERVICES] = services
    app[LIMITS] = SignInLimits()
    registry = CollectorRegistry()
    app[REGISTRY] = registry
    app[METRICS] = Metrics(registry)
    registry.register(DatabaseCollector(services.database))
    aiohttp_jinja2.setup(
        app, loader=jinja2.PackageLoader("docflow.web", "templates"), autoescape=True
    )
    for module in (
        admin_api,
        admin_misc,
        admin_quarantine,
        admin_tokens,
        admin_users,
        api,
        archive_api,
        archive_pages,
        auth,
        decisions,
        delegation_pages,
        document_diff,
        document_files,
        document_pages,
        document_upload,
        health,
        home,
        openapi,
        register_pages,
        report_api,
        report_pages,
        status,
        task_api,
        task_pages,
        timeliness_pages,
    ):
        app.router.add_routes(module.routes)
    app.cleanup_ctx.append(_database)
    if dev_relay:
        app.cleanup_ctx.append(_dev_relay)
    app.cleanup_ctx.append(_analysis)
    app.cleanup_ctx.append(_renditions)
    app.cleanup_ctx.append(_workers)
    app.cleanup_ctx.append(_listener)
    if settings.imap.enabled:
        app.cleanup_ctx.append(_imap)
    app.cleanup_ctx.append(_scheduler)
    return app


async def _database(app: web.Application) -> AsyncIterator[None]:
    await db.open_database(app[SERVICES].settings.database.url)
    yield
    await app[SERVICES].database.close()
    await db.close_database()


async def _dev_relay(app: web.Application) -> AsyncIterator[None]:
    s = app[SERVICES].settings
    server = await start_dev_relay(s.data_dir / "mail-out", s.relay.host, s.relay.port)
    log.info(
        "development relay saving mail",
        extra={"dir": str(s.data_dir / "mail-out"), "port": s.relay.port},
    )
    yield
    server.close()
    await server.wait_closed()


async def _workers(app: web.Application) -> AsyncIterator[None]:
    services: Services = app[SERVICES]
    stop = asyncio.Event()
    workers = [
        asyncio.create_task(services.intake.run_worker(stop), name=f"intake-{i}")
        for i in range(services.settings.intake.workers)
    ]
    outbox = asyncio.create_task(services.outbox.run(stop), name="outbox")
    await services.intake.sweep()  # what an earlier run received but did not process
    yield
    # stopping: each worker finishes the message it holds (a few seconds at most), then
    # whatever is still running is cancelled and hands its message back
    stop.set()
    services.outbox.poke()
    tasks = [*workers, outbox]
    _, late = await asyncio.wait(tasks, timeout=WORKER_GRACE_SECONDS)
    for t in late:
        t.cancel()
    for t in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await t
    await services.intake.hand_back_all()


async def _renditions(app: web.Application) -> AsyncIterator[None]:
    """The warm LibreOffice converters (started on the first conversion); stopped after the
    scheduler that feeds them."""
    yield
    renditions = app[SERVICES].renditions
    if renditions is not None:
        await renditions.pool.close()


async def _analysis(app: web.Application) -> AsyncIterator[None]:
    """The pool of processes that parse mail and check files (started on first use); shut
    down after the workers that use it have stopped."""
    yield
    app[SERVICES].analyser.close()


async def _listener(app: web.Application) -> AsyncIterator[None]:
    services: Services = app[SERVICES]
    s = services.settings
    handler = IntakeHandler(services.intake, services.spool, s.smtp.lmtp)
    server = await start_listener(
        handler,
        s.smtp.host,
        s.smtp.port,
        s.smtp.max_message_size,
        s.smtp.hostname,
        s.http.reuse_port,
    )
    app[SMTP_SERVER] = server
    log.info(
        "intake listening",
        extra={
            "protocol": "lmtp" if s.smtp.lmtp else "smtp",
            "host": s.smtp.host,
            "port": s.smtp.port,
            "address": s.intake.address,
        },
    )
    yield
    server.close()
    # Python 3.12+ waits in wait_closed for every client connection to end: an MTA that
    # keeps an idle session open must not hold up the stop (3.13 can close them at once)
    close_clients = getattr(server, "close_clients", None)
    if close_clients is not None:
        close_clients()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(server.wait_closed(), LISTENER_GRACE_SECONDS)


async def _imap(app: web.Application) -> AsyncIterator[None]:
    """The mailbox reader; the scheduler's tick drives it (see intake/imap.py)."""
    services: Services = app[SERVICES]
    settings = services.settings
    reader = ImapIntake(
        settings.imap, services.intake, services.clock, max_size=settings.smtp.max_message_size
    )
    app[IMAP_INTAKE] = reader
    s = settings.imap
    log.info(
        "imap intake configured",
        extra={"mailbox": reader.key, "tls": s.tls, "idle": s.idle, "poll_s": s.poll_seconds},
    )
    if not s.processed_folder and s.processed_flag.lower() == "\\seen":
        # whoever opens a message (webmail, a phone) before docflow reads it marks it
        # \Seen, which is "processed" to docflow: it would never be read
        log.warning(
            "imap.processed_flag is \\Seen: mail a person opens first is never read; "
            "set imap.processed_folder, or a keyword flag",
            extra={"mailbox": reader.key},
        )
    yield
    await reader.close()


def _certificates_check(services: Services) -> Callable[[], Coroutine[Any, Any, None]]:
    """A warning for each signing certificate expired or expiring within 30 days."""

    async def check() -> None:
        from docflow.archive.signing.pki import expiry_warnings  # pyHanko: not at import

        for line in await asyncio.to_thread(
            expiry_warnings, services.settings, services.clock.now()
        ):
            log.warning("%s: renew it (docflow pki import) before documents wait on it", line)

    return check


def _still_running(record: logging.LogRecord) -> bool:
    """apscheduler warns when a tick finds its job still running (a long conversion, a
    slow sweep); each job runs once at a time by design, the next tick runs it."""
    return "maximum number of running instances reached" not in str(record.msg)


async def _scheduler(app: web.Application) -> AsyncIterator[None]:
    services: Services = app[SERVICES]
    logging.getLogger("apscheduler.scheduler").addFilter(_still_running)
    scheduler = AsyncIOScheduler(timezone="UTC")
    if IMAP_INTAKE in app:
        reader = app[IMAP_INTAKE]

        scheduler.add_job(
            _guarded(services, "imap", reader.tick),
            "interval",
            seconds=services.settings.imap.poll_seconds,
            id="imap-tick",
            max_instances=1,
            coalesce=True,
            next_run_time=datetime.now(UTC),  # at start-up, then every poll_seconds
        )
    scheduler.add_job(
        _guarded(services, "intake.sweep", services.intake.sweep),
        "interval",
        seconds=10,
        id="intake-sweep",
        max_instances=1,
        coalesce=True,
    )
    scheduler.add_job(
        services.outbox.poke,
        "interval",
        seconds=15,
        id="outbox-poke",
        max_instances=1,
        coalesce=True,
    )

    scheduler.add_job(
        _guarded(services, "reminders", services.reminders.sweep),
        "interval",
        seconds=services.settings.reminders.sweep_seconds,
        id="reminder-sweep",
        max_instances=1,
        coalesce=True,
    )
    issuing = _guarded(services, "issuing", services.signed_issuing.sweep)
    services.signed_issuing.serve_with(issuing)
    scheduler.add_job(
        issuing,
        "interval",
        seconds=services.settings.signing.sweep_seconds,
        id="signed-issuing",
        max_instances=1,
        coalesce=True,
    )
    scheduler.add_job(
        _certificates_check(services),
        "interval",
        hours=24,
        id="certificates",
        next_run_time=datetime.now(UTC),  # at start-up, then daily
    )
    if services.renditions is not None:
        scheduler.add_job(
            _guarded(services, "renditions", services.renditions.sweep),
            "interval",
            seconds=services.settings.renditions.sweep_seconds,
            id="renditions",
            max_instances=1,
            coalesce=True,
        )
    if services.ocr is not None:
        scheduler.add_job(
            _guarded(services, "ocr", services.ocr.sweep),
            "interval",
            seconds=services.settings.ocr.sweep_seconds,
            id="ocr",
            max_instances=1,
            coalesce=True,
        )
    scheduler.start()
    yield
    scheduler.shutdown(wait=False)
    if services.ocr is not None:
        services.ocr.close()
    await services.signed_issuing.stop()
