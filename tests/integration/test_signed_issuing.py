"""Signed issuing (Decree 30): a `sign = true` stage makes the issued document a PDF with
its number and date written in, signed by the signer and then by the organisation.

quyet-dinh: review by `truong-phong`, sign-off by `truong-ban` with `sign = true` (so the
mailed one-time code is asked); register QD → 01/QĐ-BDT. Checked as a recipient would:
the mailed PDF's text (pdftotext), its signatures (poppler's pdfsig on an NSS database
trusting the test CA, and `docflow archive verify`), and how its last page looks.
"""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import aiohttp
import pytest
from PIL import Image

from docflow.archive.fill import date_words
from docflow.archive.models import IssueJob
from docflow.archive.signing.pki import TestPki, init_test_pki, issue_user_certificate
from docflow.archive.verification import verify_record
from docflow.documents.models import AuditEvent
from tests import mails
from tests.conftest import Relay, Stack, make_settings, wait_for
from tests.decree30 import make_decree30_docx
from tests.filebuilders import make_odt, make_pdf
from tests.integration.test_accounts import ARCHIVIST, CSRF, PASSWORD, archivist, log_in
from tests.integration.test_decision_code import code_in, code_mails, post
from tests.integration.test_issuing import HEAD
from tests.integration.test_renditions import pdftotext
from tests.integration.test_spine_mail import AUTHOR
from tests.integration.test_workflow_links import (
    SIGNER,
    click,
    links_of,
    submit,
    task_mails,
)
from tests.pki import nss_database, pdfsig

pytestmark = pytest.mark.skipif(
    subprocess.run(["which", "pdfsig", "certutil", "soffice"], capture_output=True).returncode,
    reason="poppler-utils, libnss3-tools and LibreOffice are installed by scripts/bootstrap",
)
SIGNER_NAME = "Trần Đức Minh"
DEPUTY = "khoa.pv@bandantoc.gov.vn"
DEPUTY_NAME = "Phạm Văn Khoa"
ADMIN = "admin@bandantoc.gov.vn"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
ODT = "application/vnd.oasis.opendocument.text"


def signing_pki(data_dir: Path) -> TestPki:
    """The TEST PKI `docflow pki init` makes, in the keystore serve reads."""
    return init_test_pki(
        data_dir / "keystore", "Ban Dân tộc tỉnh Lâm Đồng", "BDT", [(SIGNER, SIGNER_NAME)]
    )


class SigningStack(Stack):
    """The stack, and the TEST PKI in its keystore."""

    pki: TestPki


@pytest.fixture
async def signing(database_url: str, relay: Relay, tmp_path: Path) -> AsyncIterator[SigningStack]:
    """docflow with a test PKI and one warm LibreOffice converter."""
    settings = make_settings(tmp_path / "data", database_url, relay.port, DOCFLOW_RENDITIONS="1")
    s = SigningStack(settings, relay)
    s.pki = signing_pki(settings.data_dir)
    await s.start()
    await s.add_user(AUTHOR, "Lê Thị Thu")
    await s.add_user(HEAD, "Nguyễn Thị An", ["truong-phong"])
    await s.add_user(SIGNER, SIGNER_NAME, ["truong-ban"])
    await s.add_user(ADMIN, "Quản trị", ["admin"])
    yield s
    await s.stop()


async def approve_through_links(stack: Stack, count: int = 1, signer: str = SIGNER) -> None:
    """The reviewer's link, then the signer's link with the mailed code."""
    review = (await task_mails(stack, HEAD, count))[-1]
    assert (await submit(stack, links_of(review)["approve"], "approve"))[0] == 200
    signoff = (await task_mails(stack, signer, count))[-1]
    _, page = await click(stack, links_of(signoff)["open"])
    assert "Đồng ý ở bước này là ký số" in page, "the signer is told that approving signs"
    code = code_in((await code_mails(stack, signer, count))[-1])
    status, page = await post(stack, links_of(signoff)["approve"], "approve", code)
    assert status == 200, page


async def status_becomes(stack: Stack, code: str, status: str) -> dict[str, object]:
    async def reached() -> dict[str, object] | None:
        doc = await stack.document(code)
        return doc if doc["status"] == status else None

    try:
        return await wait_for(reached, seconds=90, what=f"{code} {status}")
    except TimeoutError:
        errors = await IssueJob.all().values_list("error", flat=True)
        raise AssertionError(f"{code} not {status}; issuing errors: {errors}") from None


def attachments(mail: EmailMessage) -> dict[str, bytes]:
    return {str(part.get_filename()): part.get_content() for part in mail.iter_attachments()}


def issued_mail(stack: Stack, to: str) -> EmailMessage | None:
    found = [m for m in stack.relay.to(to) if "Ban hành" in str(m["Subject"])]
    return found[-1] if found else None


def colours_of_last_page(pdf: Path) -> tuple[int, int]:
    """Red (seal) and blue (hand signature) pixels on the last page as poppler draws it."""
    subprocess.run(
        [
            "pdftoppm",
            "-png",
            "-r",
            "100",
            "-singlefile",
            "-f",
            "2",
            str(pdf),
            str(pdf.parent / "p"),
        ],
        check=True,
    )
    with Image.open(pdf.parent / "p.png") as img:
        raw = img.convert("RGB").tobytes()
    pixels = [(raw[i], raw[i + 1], raw[i + 2]) for i in range(0, len(raw), 3)]
    red = sum(1 for r, g, b in pixels if r > 150 and g < 90 and b < 90)
    blue = sum(1 for r, g, b in pixels if b > 110 and r < 90 and g < 110)
    return red, blue


async def test_a_word_draft_is_issued_as_a_pdf_with_its_number_and_two_valid_signatures(
    signing: SigningStack, tmp_path: Path
) -> None:
    stack = signing
    draft = make_decree30_docx(
        number_line="Số:    /QĐ-BDT",
        titles=("TRƯỞNG BAN",),
        signer=SIGNER_NAME,
        body_paragraphs=8,  # two pages: the signature block is on the second
    )
    annex = make_odt(["Phụ lục: danh sách đại biểu người dân tộc Mông, Dao, Tày"])
    await stack.send(
        mails.draft(
            "[QĐ] Quyết định tổ chức hội nghị tổng kết công tác dân tộc",
            "Quyết định hội nghị.docx",
            draft,
            DOCX,
            annexes=[("Phụ lục đại biểu.odt", annex, ODT)],
        )
    )
    await approve_through_links(stack)
    code = (await stack.documents())[0]["code"]
    doc = await status_becomes(stack, code, "issued")
    assert doc["number"] == "01/QĐ-BDT"

    # the author's issued mail carries the signed PDF and the signed annex, not the DOCX
    mail = await wait_for(lambda: _async(issued_mail(stack, AUTHOR)), what="the issued mail")
    files = attachments(mail)
    assert "mang chữ ký số của người ký và của cơ quan" in mail.get_body(("plain",)).get_content()
    assert set(files) == {"Quyết định hội nghị (01-QĐ-BDT).pdf", "Phụ lục đại biểu.pdf"}, files
    issued = tmp_path / "issued.pdf"
    issued.write_bytes(files["Quyết định hội nghị (01-QĐ-BDT).pdf"])

    # the number and the date are written where the drafter left them blank
    record = await stack.services.archive.find(code)
    day, month, year = date_words(record.issue_date)
    text = " ".join(pdftotext(issued.read_bytes()).split())
    assert "Số: 01/QĐ-BDT" in text and f"ngày {day} tháng {month} năm {year}" in text, text

    # poppler, on its own, finds both signatures valid and trusted, the last one whole
    nss = nss_database(tmp_path / "nss", stack.settings.data_dir / "keystore" / "ca.pem")
    out = pdfsig(issued, nss)
    assert [s["Signature Field Name"] for s in out.signatures] == ["Signer", "Organisation"]
    assert out.signatures[0]["Signer Certificate Common Name"] == SIGNER_NAME
    assert out.signatures[1]["Signer Certificate Common Name"] == "Ban Dân tộc tỉnh Lâm Đồng"
    for sig in out.signatures:
        assert sig["Signature Validation"] == "Signature is Valid.", out.text
        assert sig["Certificate Validation"] == "Certificate is Trusted.", out.text
    assert out.signatures[1]["coverage"] == "Total document signed"
    red, blue = colours_of_last_page(issued)
    assert red > 200 and blue > 200, "the red seal and the blue hand signature are drawn"

    annex_pdf = tmp_path / "annex.pdf"
    annex_pdf.write_bytes(files["Phụ lục đại biểu.pdf"])
    [annex_sig] = pdfsig(annex_pdf, nss).signatures
    assert annex_sig["Signer Certificate Common Name"] == "Ban Dân tộc tỉnh Lâm Đồng"
    assert annex_sig["Signature Validation"] == "Signature is Valid."
    assert "Số: 01/QĐ-BDT" in " ".join(pdftotext(annex_pdf.read_bytes()).split())

    # docflow's own verification agrees, over every file the record keeps
    roots = stack.settings.signing.trust_root_paths(stack.settings.data_dir)
    report = await verify_record(stack.services.archive, stack.services.blobs, code, roots)
    assert report["ok"], report
    roles = [f["role"] for f in report["files"]]
    assert roles == ["main", "annex", "issued", "annex-pdf"], roles
    assert [len(f["signatures"]) for f in report["files"]] == [0, 0, 2, 1]

    # the archivist's record page shows the signatures valid, and makes a signed copy
    await archivist(stack)
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar) as http:
        assert (await log_in(http, stack.base, ARCHIVIST, PASSWORD)).status == 303
        async with http.get(f"{stack.base}/archive/records/{record.id}") as r:
            page = await r.text()
        assert "Chữ ký số: hợp lệ (3)" in page, page
        csrf = CSRF.search(page)
        assert csrf and "SAO Y" in page
        form = {"csrf": csrf.group(1), "form": "SAO Y"}
        async with http.post(f"{stack.base}/archive/records/{record.id}/copies", data=form) as r:
            assert r.status == 200, await r.text()
            page = await r.text()
        assert "Quyết định hội nghị (01-QĐ-BDT) - SAO Y.pdf" in page and "bản sao điện tử" in page
    copy = tmp_path / "copy.pdf"
    copy.write_bytes(
        await stack.services.blobs.get((await stack.services.archive.file(record.id, 4)).sha256)
    )
    sigs = pdfsig(copy, nss).signatures
    assert [s["Signature Field Name"] for s in sigs] == ["Signer", "Organisation", "Copy"]
    assert all(s["Signature Validation"] == "Signature is Valid." for s in sigs)
    assert "SAO Y" in pdftotext(copy.read_bytes())
    assert await AuditEvent.filter(action="copy_made").count() == 1

    # the same through the API (admins), and a form of copy the decree does not know
    assert stack.http is not None
    auth = {"Authorization": f"Bearer {stack.settings.http.admin_token}"}
    url = f"{stack.base}/api/v1/archive/{code}/copies"
    async with stack.http.post(url, json={"form": "trích sao"}, headers=auth) as r:
        assert r.status == 201 and (await r.json())["name"].endswith(" - TRÍCH SAO.pdf")
    async with stack.http.post(url, json={"form": "BẢN CHỤP"}, headers=auth) as r:
        assert (
            r.status == 422 and "SAO Y, SAO LỤC, TRÍCH SAO" in (await r.json())["error"]["message"]
        )
    _, view = await stack.api(f"/api/v1/archive/{code}")
    # issued 2, annex 1, each copy 3 (the original two and its own)
    assert view["signatures"]["ok"] and len(view["signatures"]["items"]) == 9


async def _async(value: object) -> object:
    return value


async def test_a_key_that_cannot_sign_leaves_it_approved_tells_why_and_takes_no_number(
    signing: SigningStack, tmp_path: Path
) -> None:
    stack = signing
    pass_file = stack.pki.user(SIGNER).passphrase_file
    secret = pass_file.read_text()
    pass_file.write_text("not-the-passphrase\n")

    await stack.send(
        mails.draft(
            "[QĐ] Quyết định thành lập tổ công tác",
            "Quyết định.pdf",
            make_pdf("Quyết định thành lập tổ công tác về công tác dân tộc."),
            "application/pdf",
        )
    )
    await approve_through_links(stack)
    code = (await stack.documents())[0]["code"]

    async def told(to: str, words: str) -> EmailMessage | None:
        found = [m for m in stack.relay.to(to) if words in m.get_body(("plain",)).get_content()]
        return found[-1] if found else None

    mail = await wait_for(lambda: told(SIGNER, "wrong passphrase"), what="the signer told")
    assert "docflow archive issue " + code in mail.get_body(("plain",)).get_content()
    assert secret.strip() not in mail.as_string()
    admin_mail = await wait_for(lambda: told(ADMIN, "wrong passphrase"), what="admins told")
    assert "chưa ban hành được" in admin_mail.get_body(("plain",)).get_content()  # in Vietnamese
    assert (await stack.document(code))["status"] == "approved"
    assert (await stack.document(code))["number"] is None
    assert issued_mail(stack, AUTHOR) is None, "nobody gets an unsigned issued document"
    registers = {r["key"]: r for r in await stack.services.archive.registers()}
    assert registers["QD"]["years"] == {}, "no number taken"

    # fixed passphrase, but the certificate has expired meanwhile: told again, new reason
    pass_file.write_text(secret)
    pki = stack.pki
    past = datetime(2026, 1, 31).astimezone()
    issue_user_certificate(
        pki, SIGNER, SIGNER_NAME, not_before=past.replace(month=1, day=1), not_after=past
    )
    with pytest.raises(Exception, match="expired"):
        await stack.services.signed_issuing.issue_now(code)
    await wait_for(lambda: told(SIGNER, "expired"), what="the signer told of the expiry")
    assert (await stack.document(code))["status"] == "approved"

    # a new certificate: `docflow archive issue` completes it with the register's first number
    issue_user_certificate(pki, SIGNER, SIGNER_NAME)
    record = await stack.services.signed_issuing.issue_now(code)
    assert record.number == "01/QĐ-BDT"
    assert (await stack.document(code))["status"] == "issued"
    mail = await wait_for(lambda: _async(issued_mail(stack, AUTHOR)), what="the issued mail")
    assert "Quyết định (01-QĐ-BDT).pdf" in attachments(mail)
    failures = await AuditEvent.filter(action="issue_failed").count()
    assert failures == 2

    # the next document takes the next number, by the job on its own
    await stack.send(
        mails.draft(
            "[QĐ] Quyết định khen thưởng",
            "Khen thưởng.pdf",
            make_pdf("Quyết định khen thưởng tập thể có thành tích."),
            "application/pdf",
        )
    )
    await approve_through_links(stack, 2)
    second = next(d["code"] for d in await stack.documents() if d["code"] != code)
    assert (await status_becomes(stack, second, "issued"))["number"] == "02/QĐ-BDT"


async def test_a_delegate_signs_with_their_own_key_and_the_capacity_line(
    signing: SigningStack, tmp_path: Path
) -> None:
    """KT.: the deputy signs for the head; the signature is the deputy's own certificate,
    its appearance says for whom, and the record says so too."""
    stack = signing
    await stack.add_user(DEPUTY, DEPUTY_NAME, ["pho-truong-ban"])
    issue_user_certificate(stack.pki, DEPUTY, DEPUTY_NAME)
    now = stack.services.clock.now()
    await stack.services.delegations.add(
        SIGNER, DEPUTY, now - timedelta(hours=1), now + timedelta(days=3), "KT"
    )
    draft = make_decree30_docx(
        number_line="Số:    /QĐ-BDT",
        titles=("KT. TRƯỞNG BAN", "PHÓ TRƯỞNG BAN"),
        signer=DEPUTY_NAME,
    )
    await stack.send(
        mails.draft("[QĐ] Quyết định cử cán bộ đi công tác", "Cử cán bộ.docx", draft, DOCX)
    )
    await approve_through_links(stack, signer=DEPUTY)
    code = (await stack.documents())[0]["code"]
    assert (await status_becomes(stack, code, "issued"))["number"] == "01/QĐ-BDT"
    mail = await wait_for(lambda: _async(issued_mail(stack, AUTHOR)), what="the issued mail")
    issued = tmp_path / "issued.pdf"
    issued.write_bytes(attachments(mail)["Cử cán bộ (01-QĐ-BDT).pdf"])
    nss = nss_database(tmp_path / "nss", stack.pki.ca_certificate)
    signer_sig, org_sig = pdfsig(issued, nss).signatures
    assert signer_sig["Signer Certificate Common Name"] == DEPUTY_NAME
    assert signer_sig["Signature Validation"] == "Signature is Valid."
    assert org_sig["Signature Validation"] == "Signature is Valid."
    text = pdftotext(issued.read_bytes())
    assert f"KT. {SIGNER_NAME}" in text, "the capacity line over the deputy's signature"
    view = await stack.services.archive.view(code)
    assert view["signer"]["email"] == DEPUTY and view["signer"]["capacity"] == "KT"
    assert view["signer"]["for"] == SIGNER
