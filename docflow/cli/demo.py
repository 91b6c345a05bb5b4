"""`docflow demo`: sample users and drafts sent through the real SMTP port of a running docflow."""

from __future__ import annotations

import asyncio
import io
from email.message import EmailMessage
from email.utils import make_msgid

import aiosmtplib
import click

from docflow.archive.models import IssueJob
from docflow.archive.records import ArchiveRecord
from docflow.cli.common import run_with_services, settings_or_exit
from docflow.config import Settings
from docflow.documents.models import Document
from docflow.errors import DocflowError
from docflow.intake.models import InboundMessage
from docflow.mime import MAIL_POLICY
from docflow.services import Services
from docflow.workflow.models import Task, TaskState

AUTHOR = ("thu.lt@bandantoc.gov.vn", "Lê Thị Thu")
ARCHIVIST = ("luutru@bandantoc.gov.vn", "Đỗ Thị Lưu")
SIGNER = ("truongban@bandantoc.gov.vn", "Trần Đức Minh")
ADMIN = ("quantri@bandantoc.gov.vn", "Phạm Quản Trị")
ARCHIVIST_PASSWORD = "demo-luu-tru-2026"  # sample accounts on a development machine
ADMIN_PASSWORD = "demo-quan-tri-2026"
PASSWORDS = {ARCHIVIST[0]: ARCHIVIST_PASSWORD, ADMIN[0]: ADMIN_PASSWORD}
SAMPLE_USERS = [
    (*AUTHOR, ["staff"]),
    (*ARCHIVIST, ["archivist"]),
    (*ADMIN, ["admin", "archivist", "van-thu", "lanh-dao"]),
    ("hung.nv@bandantoc.gov.vn", "Nguyễn Văn Hùng", ["truong-phong", "chanh-van-phong"]),
    (*SIGNER, ["truong-ban"]),
]
PLAN_TITLE = "[KH] Kế hoạch cải cách hành chính năm 2027"
LETTER_TITLE = "Công văn về việc báo cáo công tác dân tộc quý IV"
DECISION_TITLE = "Quyết định thành lập Tổ công tác chuyển đổi số"
# a decision as drafters type it: number and date left blank for docflow, a signature
# block on the right (capacity, blank lines, name); (text, layout) per paragraph
DECISION_TEXT = [
    ("BAN DÂN TỘC", "centre"),
    ("Số:      /QĐ-BDT", "centre"),
    ("Hà Nội, ngày    tháng    năm 20…", "right"),
    ("QUYẾT ĐỊNH", "title"),
    ("Về việc thành lập Tổ công tác chuyển đổi số của Ban Dân tộc", "title"),
    ("Điều 1. Thành lập Tổ công tác chuyển đổi số gồm đại diện các phòng chuyên môn.", ""),
    ("Điều 2. Tổ công tác có nhiệm vụ số hoá hồ sơ, văn bản đi và đến của Ban.", ""),
    ("Điều 3. Quyết định có hiệu lực kể từ ngày ký.", ""),
    ("TRƯỞNG BAN", "block"),
    *[("", "block")] * 4,
    (SIGNER[1], "block"),
]
PLAN_TEXT = [
    "KẾ HOẠCH Cải cách hành chính năm 2027",
    "Năm 2027, Ban Dân tộc tiếp tục đẩy mạnh công tác cải cách hành chính, "
    "đổi mới phương thức làm việc, ứng dụng công nghệ thông tin trong quản lý văn bản.",
    "Đồng thời nâng cao trách nhiệm của người đứng đầu trong cơ quan.",
]


def _docx(paragraphs: list[str]) -> bytes:
    import docx  # python-docx

    document = docx.Document()
    for p in paragraphs:
        document.add_paragraph(p)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def _decision_docx() -> bytes:
    """DECISION_TEXT laid out as the clerical office does: header centred, signature block
    in the right half."""
    import docx  # python-docx
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.shared import Cm

    document = docx.Document()
    for text, layout in DECISION_TEXT:
        p = document.add_paragraph()
        run = p.add_run(text)
        if layout in ("centre", "title", "block"):
            p.alignment = WD_ALIGN_PARAGRAPH.CENTER
        if layout == "right":
            p.alignment = WD_ALIGN_PARAGRAPH.RIGHT
            run.italic = True
        if layout == "title" or (layout == "block" and text):
            run.bold = True
        if layout == "block":
            p.paragraph_format.left_indent = Cm(8)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def _draft(
    settings: Settings,
    subject: str,
    body: str,
    files: list[tuple[str, bytes, str]],
    in_reply_to: str | None = None,
) -> EmailMessage:
    msg = EmailMessage(policy=MAIL_POLICY)  # keeps spaces in long Vietnamese subjects
    msg["From"] = f"{AUTHOR[1]} <{AUTHOR[0]}>"
    msg["To"] = settings.intake.address
    msg["Subject"] = subject
    msg["Message-ID"] = make_msgid(domain="bandantoc.gov.vn")
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
        msg["References"] = in_reply_to
    msg.set_content(body)
    for name, data, ctype in files:
        maintype, subtype = ctype.split("/")
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return msg


@click.command()
@click.option("--timeout", default=30.0, show_default=True, help="Seconds to wait for results.")
def demo(timeout: float) -> None:
    """Create sample users and mail sample drafts to a running `docflow serve`."""
    settings = settings_or_exit()

    async def run(s: Services) -> None:
        for email, name, roles in SAMPLE_USERS:
            if await s.users.get(email) is None:
                await s.users.add(email, name, roles, "vi")
                click.echo(f"user added: {name} <{email}> ({', '.join(roles)})")
                if email in PASSWORDS:
                    await s.accounts.set_password(email, PASSWORDS[email])
        _test_pki(settings)
        docx_ct = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
        plan = _draft(
            settings,
            PLAN_TITLE,
            "Kính gửi Lãnh đạo Ban, xin gửi dự thảo kế hoạch.",
            [("Kế hoạch CCHC 2027.docx", _docx(PLAN_TEXT), docx_ct)],
        )
        letter = _draft(
            settings,
            LETTER_TITLE,
            "Dự thảo công văn.",
            [
                (
                    "công văn.txt",
                    "Đề nghị các phòng báo cáo kết quả công tác dân tộc quý IV.".encode(),
                    "text/plain",
                )
            ],
        )
        revision = _draft(
            settings,
            f"Re: {PLAN_TITLE}",
            "Bản sửa theo góp ý.",
            [
                (
                    "Kế hoạch CCHC 2027 (sửa).docx",
                    _docx([*PLAN_TEXT, "Bổ sung: lộ trình số hoá hồ sơ."]),
                    docx_ct,
                )
            ],
            in_reply_to=str(plan["Message-ID"]),
        )
        decision = _draft(
            settings,
            f"[QĐ] {DECISION_TITLE}",
            "Kính trình Trưởng ban ký ban hành.",
            [("Quyết định Tổ công tác.docx", _decision_docx(), docx_ct)],
        )
        before = await InboundMessage.all().count()
        for msg in (plan, letter, revision, decision):
            try:
                await aiosmtplib.send(  # bytes: aiosmtplib would refold with policy.SMTP
                    msg.as_bytes(),
                    sender=AUTHOR[0],
                    recipients=[settings.intake.address],
                    hostname=settings.smtp.host,
                    port=settings.smtp.port,
                    timeout=30,
                )
            except (aiosmtplib.SMTPException, OSError) as e:
                raise DocflowError(
                    f"could not mail {settings.smtp.host}:{settings.smtp.port} ({e}); "
                    "is `docflow serve` running? (scripts/run starts it)"
                ) from None
            click.echo(f"sent: {msg['Subject']}")
            # the revision threads to the plan, so let each one be processed in turn
            await _wait_processed(before, timeout)
        click.echo("")
        for row in await InboundMessage.filter(id__gt=0).order_by("-id").limit(4):
            click.echo(
                f"  {row.subject!r}: {row.state} "
                f"{row.document_code or ''} v{row.version_number or ''}".rstrip(" v")
            )
        issued = await _sign_off(s, LETTER_TITLE, 0)
        if issued:
            click.echo(f"\nsigned off (as `docflow task decide` does) and issued: Số {issued}")
        signed = await _sign_off(s, DECISION_TITLE, timeout * 3)
        if signed:
            click.echo(
                f"signed off and issued as a PDF signed by {SIGNER[1]} and the organisation "
                f"(TEST certificates): Số {signed}\n  check it: docflow archive verify {signed}"
            )

        base, token = settings.http.base_url, settings.http.admin_token or "<DOCFLOW_ADMIN_TOKEN>"
        click.echo("\nWhere to look:")
        click.echo(
            f"  documents:  docflow documents list   |   curl -H 'Authorization: Bearer "
            f"{token}' {base}/api/v1/documents"
        )
        click.echo(
            f"  mail:       {settings.data_dir / 'mail-out'} (with serve --dev-relay): "
            "receipts, and the approvers' task mails: open their links to decide"
        )
        click.echo(
            f"  web app:    {base}/ (sign in as {ADMIN[0]} / {ADMIN_PASSWORD}: every page; "
            f"or ask for a sign-in link for {AUTHOR[0]}, mailed to the folder above)"
        )
        click.echo(
            f"  archive:    {base}/archive (log in as {ARCHIVIST[0]} / {ARCHIVIST_PASSWORD}; "
            "search e.g. 'bao cao' without diacritics)"
        )
        click.echo(
            f"  send more:  swaks --server {settings.smtp.host}:{settings.smtp.port} "
            f"--to {settings.intake.address} --from {AUTHOR[0]} --attach @draft.docx"
        )

    run_with_services(settings, run)


async def _wait_processed(since_id: int, seconds: float) -> None:
    """Until every message received after `since_id` has been processed (or time runs out)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while loop.time() < end:
        if not await InboundMessage.filter(id__gt=since_id, state="pending").exists():
            return
        await asyncio.sleep(0.2)


async def _sign_off(s: Services, title: str, wait: float) -> str | None:
    """Approve a draft's tasks (as `docflow task decide` does), so the demo shows it issued;
    a signing workflow is issued by serve's job, waited for up to `wait` seconds."""
    doc = await Document.filter(title=title).order_by("-id").first()
    if doc is None:
        return None
    for _ in range(len(s.stages.workflow_of(doc).stages)):
        task = await Task.filter(document=doc, state=TaskState.OPEN).order_by("id").first()
        if task is None:
            break
        await s.decisions.by_admin(task.id, "approve", "Đồng ý (demo).", "docflow demo")
    loop = asyncio.get_running_loop()
    end = loop.time() + wait
    while (record := await ArchiveRecord.filter(document=doc).first()) is None:
        job = await IssueJob.get_or_none(document_id=doc.id)
        if loop.time() > end or (job is not None and job.error):
            if job is not None and job.error:
                click.echo(f"{doc.code} is approved but not issued: {job.error}")
            return None
        await asyncio.sleep(0.5)
    return record.number


def _test_pki(settings: Settings) -> None:
    """A TEST CA, organisation and signer certificate, unless the keystore has a PKI."""
    keystore = settings.signing.keystore_dir(settings.data_dir)
    if (keystore / "ca.pem").exists():
        return
    from docflow.archive.signing.pki import init_test_pki  # pyHanko: only when used

    init_test_pki(keystore, settings.org.name, settings.org.code, [SIGNER])
    click.echo(f"TEST certificates made in {keystore} (docflow pki list)")
