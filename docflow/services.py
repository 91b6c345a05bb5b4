"""Building the domain services from settings: shared by `serve` and the CLI."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from docflow import db
from docflow.archive.copies import Copies
from docflow.archive.issued_pdf import IssuedPdfMaker
from docflow.archive.issuing import Issuer
from docflow.archive.keyring import KeyRing
from docflow.archive.paper import PaperReports
from docflow.archive.register_book import RegisterBooks
from docflow.archive.search import SearchIndex
from docflow.archive.service import ArchiveService
from docflow.archive.signed_issuing import SignedIssuing
from docflow.clock import Clock
from docflow.config import Settings
from docflow.db.outage import DatabaseWatch
from docflow.documents.converters import ConverterPool
from docflow.documents.journal import Journal
from docflow.documents.ocr import Ocr
from docflow.documents.renditions import Renditions
from docflow.documents.service import DocumentService
from docflow.intake.analysis import Analyser
from docflow.intake.drafts import Drafts
from docflow.intake.replies import Replies
from docflow.intake.routing import IntakeAddresses
from docflow.intake.senders import Senders
from docflow.intake.service import IntakeService
from docflow.intake.spool import Spool
from docflow.notify.alerts import AdminAlerts
from docflow.notify.answers import ReplyAnswers
from docflow.notify.bounces import Bounces
from docflow.notify.mails import MailComposer
from docflow.notify.outbox import Outbox
from docflow.notify.signin import SignInMail
from docflow.notify.threaded import ThreadedMailer
from docflow.storage.blobs import BlobStore
from docflow.users.access_log import AccessLog
from docflow.users.accounts import AccountService
from docflow.users.service import UserService
from docflow.users.signin_links import SignInLinks
from docflow.workflow.decisions import Decisions
from docflow.workflow.definitions import WorkflowCatalog
from docflow.workflow.delegation import DelegationService
from docflow.workflow.inbox import TaskInbox
from docflow.workflow.links import Links
from docflow.workflow.loader import load_workflows
from docflow.workflow.notices import Notices
from docflow.workflow.reminders import Reminders
from docflow.workflow.replies import ReplyDecisions
from docflow.workflow.reply_tokens import ReplyAddresses
from docflow.workflow.stages import Stages
from docflow.workflow.timeliness import Timeliness
from docflow.workflow.views import WorkflowViews


@dataclass
class Services:
    """The composed domain: what adapters (SMTP, HTTP, CLI) call."""

    settings: Settings
    clock: Clock
    database: DatabaseWatch
    blobs: BlobStore
    spool: Spool
    analyser: Analyser
    users: UserService
    journal: Journal
    documents: DocumentService
    outbox: Outbox
    mailer: ThreadedMailer
    bounces: Bounces
    intake: IntakeService
    workflows: WorkflowCatalog
    status_links: StatusLinks
    links: Links
    delegations: DelegationService
    stages: Stages
    decisions: Decisions
    views: WorkflowViews
    inbox: TaskInbox  # an approver's tasks, for their pages
    reminders: Reminders
    issuer: Issuer
    signed_issuing: SignedIssuing
    archive: ArchiveService
    copies: Copies
    accounts: AccountService
    signin_mail: SignInMail
    access_log: AccessLog
    composer: MailComposer
    search: SearchIndex
    renditions: Renditions | None  # None when `renditions.converters` is 0
    ocr: Ocr | None  # None when `ocr.enabled` is false
    register_books: RegisterBooks
    paper: PaperReports
    timeliness: Timeliness


@dataclass(frozen=True)
class StatusLinks:
    """Signed links to a document's status page: the code alone is guessable, the link is not."""

    secret: bytes
    base_url: str

    def token(self, code: str) -> str:
        return hmac.new(self.secret, code.encode(), hashlib.sha256).hexdigest()[:32]

    def valid(self, code: str, token: str) -> bool:
        return hmac.compare_digest(self.token(code), token)

    def url(self, code: str) -> str:
        return f"{self.base_url}/status/{code}?t={self.token(code)}"


def load_secret(data_dir: Path) -> bytes:
    """A per-installation key for signed links, created on first use (mode 0600).

    Several processes sharing the data dir may start at once: the key is written
    aside and linked into place, so each reads a whole key and all read the same one.
    """
    path = data_dir / "secret.key"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        aside = data_dir / f".secret.key.{secrets.token_hex(8)}"
        fd = os.open(aside, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
        try:
            os.link(aside, path)
        except FileExistsError:
            pass  # another process was first: use its key
        finally:
            aside.unlink()
    return bytes.fromhex(path.read_text().strip())


def build_services(settings: Settings, clock: Clock | None = None) -> Services:
    """Wire the services together (no I/O beyond reading workflow files and the key)."""
    clock = clock or Clock()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    workflows = load_workflows(
        settings.workflows_dir, settings.org.default_workflow, settings.registers.keys()
    )
    blobs = BlobStore(settings.blob_dir)
    spool = Spool(settings.spool_dir)
    users = UserService(clock, settings.intake.allowed_domains)
    journal = Journal(clock)
    documents = DocumentService(clock, journal)
    database = DatabaseWatch()
    outbox = Outbox(
        clock,
        settings.relay.host,
        settings.relay.port,
        settings.relay.from_address,
        timeout=settings.relay.timeout,
        max_backoff=settings.relay.max_backoff_seconds,
        bounce_address=settings.relay.bounce_address,
        database=database,
    )
    mailer = ThreadedMailer(outbox, journal, settings.org.timezone)
    domain = settings.intake.address.partition("@")[2] or "docflow.localhost"
    composer = MailComposer(clock, settings.relay.from_address, settings.org.name, domain)
    secret = load_secret(settings.data_dir)
    links = StatusLinks(secret, settings.http.base_url)
    decision_links = Links(clock, secret, settings.http.base_url)
    addresses = IntakeAddresses(settings.intake.addresses)
    # a task mail offers its reply address only when a reply can be authenticated
    can_authenticate = bool(settings.intake.trusted_authserv_ids) or settings.intake.verify_dkim
    reply_addresses = ReplyAddresses(clock, addresses, can_authenticate)
    notices = Notices(composer, mailer, decision_links, links.url, reply_addresses)
    delegations = DelegationService(clock)
    stages = Stages(clock, workflows, journal, notices, outbox, delegations)
    search = SearchIndex()
    issuer = Issuer(settings, clock, stages, journal, composer, mailer, blobs, search)
    stages.on_approved.append(issuer.issue)
    renditions = _renditions(settings, clock, blobs)
    ocr = (
        Ocr(settings.ocr, clock, blobs, settings.data_dir / "ocr") if settings.ocr.enabled else None
    )
    # text read after issuing (OCR, a Word 97 file's through LibreOffice) reaches the archive
    if ocr is not None:
        ocr.on_text.append(issuer.text_changed)
    if renditions is not None:
        renditions.on_text.append(issuer.text_changed)
    keyring = KeyRing(settings)
    maker = IssuedPdfMaker(
        keyring, renditions.pool if renditions else None, settings.signing.tsa_url
    )
    signed_issuing = SignedIssuing(settings, clock, issuer, maker, blobs, journal, notices, outbox)
    stages.after_approval.append(signed_issuing.poke)
    bounces = Bounces(
        clock, settings.relay.bounce_address, composer, mailer, journal, outbox, links.url
    )
    outbox.on_refused.append(bounces.record_refusal)
    analyser = Analyser(
        settings.intake.analysis_processes,
        settings.intake.allowed_types,
        settings.blob_dir,
        settings.intake.body_as_draft,
    )
    alerts = AdminAlerts(composer, outbox, f"{settings.http.base_url.rstrip('/')}/admin/quarantine")
    drafts = Drafts(
        clock,
        spool,
        analyser,
        addresses,
        Senders(settings.intake, clock, spool, users, alerts),
        documents,
        composer,
        mailer,
        outbox,
        stages,  # what becomes of a stored version is the workflow's
        links.url,
    )
    decisions = Decisions(clock, stages, notices, decision_links, journal, outbox)
    replies = ReplyDecisions(
        clock,
        stages,
        decisions,
        decision_links,
        reply_addresses,
        ReplyAnswers(composer),
        outbox,
        links.url,
    )
    intake = IntakeService(
        settings.intake,
        clock,
        spool,
        analyser,
        addresses,
        drafts,
        bounces,
        database,
        replies=Replies(clock, spool, analyser, addresses, drafts.senders, replies),
    )
    if ocr is not None:  # OCR pauses while mail is arriving (documents/ocr_process.py)
        ocr.arriving = intake.arriving
    archive = ArchiveService(settings, clock, journal, workflows)
    accounts = AccountService(clock)
    signin_mail = SignInMail(SignInLinks(clock, accounts), composer, outbox, settings.http.base_url)
    return Services(
        settings=settings,
        clock=clock,
        database=database,
        blobs=blobs,
        spool=spool,
        analyser=analyser,
        users=users,
        journal=journal,
        documents=documents,
        outbox=outbox,
        mailer=mailer,
        bounces=bounces,
        intake=intake,
        workflows=workflows,
        status_links=links,
        links=decision_links,
        delegations=delegations,
        stages=stages,
        decisions=decisions,
        views=WorkflowViews(clock, stages),
        inbox=TaskInbox(clock, stages),
        reminders=Reminders(
            clock, stages, decision_links, composer, mailer, journal, outbox, reply_addresses
        ),
        issuer=issuer,
        signed_issuing=signed_issuing,
        archive=archive,
        copies=Copies(settings, clock, archive, blobs, journal, keyring),
        accounts=accounts,
        signin_mail=signin_mail,
        access_log=AccessLog(clock),
        composer=composer,
        search=search,
        renditions=renditions,
        ocr=ocr,
        register_books=RegisterBooks(archive),
        paper=PaperReports(settings, blobs),
        timeliness=Timeliness(clock, workflows, settings.org.timezone),
    )


def _renditions(settings: Settings, clock: Clock, blobs: BlobStore) -> Renditions | None:
    """The warm converters start on the first conversion, not here (the CLI builds these
    services too)."""
    conf = settings.renditions
    if conf.converters == 0:
        return None
    pool = ConverterPool(
        settings.data_dir / "renditions",
        size=conf.converters,
        timeout=conf.timeout_seconds,
        max_jobs=conf.max_jobs,
    )
    return Renditions(conf, clock, blobs, pool)


@contextlib.asynccontextmanager
async def open_services(
    settings: Settings, clock: Clock | None = None, require_migrated: bool = True
) -> AsyncIterator[Services]:
    """Services with the database open; closes it on the way out."""
    services = build_services(settings, clock)
    await db.open_database(settings.database.url, require_migrated=require_migrated)
    try:
        yield services
    finally:
        services.analyser.close()
        if services.renditions is not None:
            await services.renditions.pool.close()
        await db.close_database()
