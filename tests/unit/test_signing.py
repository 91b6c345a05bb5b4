"""Signing issued PDFs (Decree 30/2020): the signer's signature, then the organisation's.

Checked with an independent verifier (poppler's pdfsig on NSS) as well as docflow's
own verify_pdf; keys come from the test PKI, a SoftHSM2 token and a loopback TSA.
"""

from __future__ import annotations

import asyncio
import io
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from PIL import Image
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.fields import enumerate_sig_fields

from docflow.archive.signing import keys, pdfsign, pki, verify
from docflow.archive.signing.keys import Pkcs11Source, Pkcs12Source, SigningError
from docflow.archive.signing.pdfsign import Box, SignerSpec
from tests.pki import (
    PAGE,
    PAGE_TEXT,
    SIGNER_BOX,
    SOFTHSM_MODULE,
    loopback_tsa,
    make_pdf,
    make_timestamper,
    nss_database,
    pdfsig,
    softhsm_token,
    store_certificate,
)
from tests.ports import free_port

ORG = "Ban Dân tộc tỉnh Lâm Đồng"
SIGNER = ("duc@example.vn", "Nguyễn Văn Đức")
needs = pytest.mark.skipif(
    not all(shutil.which(tool) for tool in ("pdfsig", "certutil", "pdftotext", "pdftoppm")),
    reason="poppler-utils and libnss3-tools are needed",
)
pytestmark = needs


@dataclass(frozen=True)
class World:
    """What every test here shares: the PKI, loaded keys, the source PDF, the NSS db."""

    pki: pki.TestPki
    signer: SignerSpec
    org: SignerSpec
    pdf: bytes
    nss: str
    signed_at: datetime
    signed: bytes
    directory: Path

    def write(self, name: str, data: bytes) -> Path:
        path = self.directory / name
        path.write_bytes(data)
        return path

    def verify(self, data: bytes) -> list[verify.SignatureReport]:
        return verify.verify_pdf(data, [self.pki.ca_certificate])


def p12(identity: pki.Identity) -> Pkcs12Source:
    return Pkcs12Source(identity.p12, identity.passphrase_file)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    directory = tmp_path_factory.mktemp("signing")
    made = pki.init_test_pki(directory / "pki", ORG, "BDT-LD", [SIGNER])
    person = made.user(SIGNER[0])
    signer = SignerSpec(keys.load_signer(p12(person)), person.image, person.name)
    org = SignerSpec(keys.load_signer(p12(made.organisation)), made.organisation.image, ORG)
    pdf = make_pdf()
    signed_at = datetime.now(UTC).replace(microsecond=0)
    signed = pdfsign.sign_issued(pdf, signer, org, SIGNER_BOX, ORG, signed_at)
    nss = nss_database(directory / "nss", made.ca_certificate)
    return World(made, signer, org, pdf, nss, signed_at, signed, directory)


# --- sign_issued ----------------------------------------------------------------------


def test_pdfsig_finds_two_valid_trusted_signatures_the_last_covering_the_file(
    world: World,
) -> None:
    out = pdfsig(world.write("issued.pdf", world.signed), world.nss)
    assert len(out.signatures) == 2, out.text
    first, second = out.signatures
    assert first["Signature Field Name"] == "Signer"
    assert second["Signature Field Name"] == "Organisation"
    assert first["Signer Certificate Common Name"] == "Nguyễn Văn Đức"
    assert second["Signer Certificate Common Name"] == ORG
    for sig in out.signatures:
        assert sig["Signature Validation"] == "Signature is Valid.", out.text
        assert sig["Certificate Validation"] == "Certificate is Trusted.", out.text
        assert sig["Signature Type"] == "ETSI.CAdES.detached"  # PAdES
    assert first["coverage"] == "Not total document signed"
    assert second["coverage"] == "Total document signed"


def test_verify_pdf_agrees_with_pdfsig(world: World) -> None:
    reports = world.verify(world.signed)
    assert [(r.field, r.signer) for r in reports] == [
        ("Signer", "Nguyễn Văn Đức"),
        ("Organisation", ORG),
    ]
    assert all(r.intact and r.valid and not r.modified_after for r in reports), reports
    assert [r.coverage for r in reports] == [verify.ENTIRE_REVISION, verify.ENTIRE_FILE]
    assert all(r.signing_time == world.signed_at and r.problems == [] for r in reports)
    assert verify.all_ok(reports)


def test_both_fields_exist_before_the_first_signature_and_the_page_is_untouched(
    world: World,
) -> None:
    reader = PdfFileReader(io.BytesIO(world.signed))
    byte_range = reader.embedded_regular_signatures[0].sig_object["/ByteRange"]
    first_revision = world.signed[: byte_range[2] + byte_range[3]]
    fields = {
        name: value
        for name, value, _ in enumerate_sig_fields(PdfFileReader(io.BytesIO(first_revision)))
    }
    assert set(fields) == {"Signer", "Organisation"}
    assert fields["Signer"] is not None and fields["Organisation"] is None

    def page_content(data: bytes) -> bytes:
        reader = PdfFileReader(io.BytesIO(data))
        page = reader.find_page_for_modification(0)[0].get_object()  # type: ignore[no-untyped-call]
        content: bytes = page["/Contents"].data
        return content

    assert page_content(world.signed) == page_content(world.pdf)


def test_the_seal_covers_the_left_third_of_the_signature(world: World) -> None:
    seal = pdfsign.organisation_box(SIGNER_BOX)
    third = (SIGNER_BOX.x2 - SIGNER_BOX.x1) / 3
    assert seal.x1 < SIGNER_BOX.x1  # sticks out to the left, as a seal stamped by hand
    assert SIGNER_BOX.x1 + third <= seal.x2 <= SIGNER_BOX.x1 + 1.25 * third
    assert seal.y1 < SIGNER_BOX.y1 and seal.y2 > SIGNER_BOX.y2
    assert seal.x2 - seal.x1 > third and seal.y2 - seal.y1 > SIGNER_BOX.y2 - SIGNER_BOX.y1


def test_page_text_survives_and_the_seal_text_is_vietnamese(world: World) -> None:
    path = world.write("text.pdf", world.signed)
    text = subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout
    for line in PAGE_TEXT:
        assert line in text
    assert "Ban Dân tộc tỉnh Lâm" in text  # the seal's text, wrapped
    assert pdfsign.vietnam_time(world.signed_at) in text
    assert pdfsign.vietnam_time(world.signed_at).endswith("+07:00")
    fonts = subprocess.run(["pdffonts", str(path)], capture_output=True, text=True).stdout
    subset = [line.split() for line in fonts.splitlines() if "DejaVuSans-Identity-H" in line]
    assert subset and subset[0][-5:-2] == ["yes", "yes", "yes"], fonts  # emb sub uni


def test_rendered_page_shows_the_blue_signature_under_the_red_seal(world: World) -> None:
    path = world.write("render.pdf", world.signed)
    subprocess.run(
        ["pdftoppm", "-png", "-r", "80", "-singlefile", str(path), str(world.directory / "page")],
        check=True,
    )
    with Image.open(world.directory / "page.png") as img:
        page = img.convert("RGB")
    scale = 80 / 72

    def colours(box: Box) -> tuple[int, int]:
        area = page.crop(
            (
                round(box.x1 * scale),
                round((PAGE[1] - box.y2) * scale),
                round(box.x2 * scale),
                round((PAGE[1] - box.y1) * scale),
            )
        )
        raw = area.tobytes()
        pixels = [(raw[i], raw[i + 1], raw[i + 2]) for i in range(0, len(raw), 3)]
        red = sum(1 for r, g, b in pixels if r > 150 and g < 90 and b < 90)
        blue = sum(1 for r, g, b in pixels if b > 110 and r < 90 and g < 110)
        return red, blue

    middle = (SIGNER_BOX.x1 + SIGNER_BOX.x2) / 2
    right_part = Box(0, middle, SIGNER_BOX.y1, SIGNER_BOX.x2, SIGNER_BOX.y2)
    assert colours(pdfsign.organisation_box(SIGNER_BOX))[0] > 100  # the seal
    assert colours(right_part)[1] > 100  # the hand signature beyond it


def _signed_byte(pdf: bytes, near: int) -> int:
    """The first offset from `near` that the signatures cover: not inside a /Contents hex
    string, whose zero padding a parser of the CMS ignores (a flip there is no change)."""
    gaps = [
        (int(m.group(1)) + int(m.group(2)), int(m.group(3)))
        for m in re.finditer(rb"/ByteRange\s*\[\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)", pdf)
    ]
    offset = near
    while any(start <= offset < end for start, end in gaps):
        offset += 1
    return offset


def test_one_changed_byte_fails_pdfsig_and_verify(world: World) -> None:
    data = bytearray(world.signed)
    data[_signed_byte(world.signed, len(data) // 2)] ^= 0x01
    out = pdfsig(world.write("tampered.pdf", bytes(data)), world.nss)
    results = [sig.get("Signature Validation") for sig in out.signatures]
    assert results and any(r != "Signature is Valid." for r in results), out.text
    reports = world.verify(bytes(data))
    assert not verify.all_ok(reports)
    assert any(report.problems for report in reports)
    # a byte inside a stream of the original file: readable, but no digest matches
    data = bytearray(world.signed)
    data[_signed_byte(world.signed, len(data) // 4)] ^= 0x01
    reports = world.verify(bytes(data))
    assert [r.intact for r in reports] == [False, False], reports
    assert all(r.problems for r in reports), reports


# --- keys -----------------------------------------------------------------------------


def test_an_expired_certificate_never_signs(world: World) -> None:
    now = datetime.now(UTC)
    old = pki.issue_user_certificate(
        world.pki,
        "cu@example.vn",
        "Lê Văn Cũ",
        not_before=now - timedelta(days=400),
        not_after=now - timedelta(days=1),
    )
    passphrase = old.passphrase_file.read_text().strip()
    with pytest.raises(SigningError, match="expired") as raised:
        keys.load_signer(p12(old))
    assert passphrase not in str(raised.value)
    # loaded while it was valid, it still refuses to sign now
    then = keys.load_signer(p12(old), now=now - timedelta(days=10))
    with pytest.raises(SigningError, match="expired"):
        pdfsign.sign_issued(
            world.pdf, SignerSpec(then, None, "Lê Văn Cũ"), world.org, SIGNER_BOX, ORG, now
        )


def test_a_wrong_passphrase_is_named_but_never_shown(world: World, tmp_path: Path) -> None:
    person = world.pki.user(SIGNER[0])
    wrong = tmp_path / "wrong.pass"
    wrong.write_text("hunter2-not-the-passphrase\n")
    with pytest.raises(SigningError, match="wrong passphrase") as raised:
        keys.load_signer(Pkcs12Source(person.p12, wrong))
    message = str(raised.value)
    assert "hunter2" not in message
    assert person.passphrase_file.read_text().strip() not in message


def test_a_missing_pkcs12_file_is_named(world: World, tmp_path: Path) -> None:
    person = world.pki.user(SIGNER[0])
    with pytest.raises(SigningError, match="not found") as raised:
        keys.load_signer(Pkcs12Source(tmp_path / "gone.p12", person.passphrase_file))
    assert "gone.p12" in str(raised.value)
    assert person.passphrase_file.read_text().strip() not in str(raised.value)


def test_certificate_info_lists_the_test_marking(world: World) -> None:
    info = pki.certificate_info(world.pki.user(SIGNER[0]).p12)
    assert "CN=Nguyễn Văn Đức" in info.subject and "TEST" in info.subject
    assert "emailAddress=duc@example.vn" in info.subject
    assert info.issuer.startswith("CN=docflow TEST CA")
    assert info.not_before < datetime.now(UTC) < info.not_after


# --- PKCS#11 (SoftHSM2) ---------------------------------------------------------------


@pytest.fixture(scope="module")
def token(world: World, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The signer's key on a SoftHSM2 token, its certificate beside it; yields the conf."""
    if not (shutil.which("softhsm2-util") and SOFTHSM_MODULE.exists()):
        pytest.skip("softhsm2 is not installed")
    directory = tmp_path_factory.mktemp("softhsm")
    conf = softhsm_token(directory, world.pki.user(SIGNER[0]))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SOFTHSM2_CONF", str(conf))
        store_certificate(world.pki.user(SIGNER[0]))
    (directory / "pin").write_text("1234\n")
    return conf


def token_source(
    conf: Path,
    label: str = "docflow-test",
    key_id: bytes | None = None,
    certificate: Path | None = None,
    chain: tuple[Path, ...] = (),
) -> Pkcs11Source:
    pin = conf.parent / "pin"
    return Pkcs11Source(SOFTHSM_MODULE, label, "signer", pin, certificate, key_id, chain)


def test_pkcs11_token_signs_and_pdfsig_trusts_it(
    world: World, token: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOFTHSM2_CONF", str(token))
    source = keys.parse_key_source(
        f"pkcs11:token=docflow-test;object=signer;id=%01?module-path={SOFTHSM_MODULE}"
        f"&pin-source=file:{token.parent / 'pin'}"
    )
    assert source == token_source(token, key_id=b"\x01")
    person = world.pki.user(SIGNER[0])
    with keys.opened_signer(source) as signer:
        spec = SignerSpec(signer, person.image, person.name)
        signed = pdfsign.sign_issued(world.pdf, spec, world.org, SIGNER_BOX, ORG, world.signed_at)
    out = pdfsig(world.write("token.pdf", signed), world.nss)
    assert [s["Signature Validation"] for s in out.signatures] == ["Signature is Valid."] * 2
    assert [s["Certificate Validation"] for s in out.signatures] == ["Certificate is Trusted."] * 2
    reports = world.verify(signed)
    assert verify.all_ok(reports) and reports[0].signer == "Nguyễn Văn Đức"


def test_pkcs11_certificate_from_a_file(
    world: World, token: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOFTHSM2_CONF", str(token))
    person = world.pki.user(SIGNER[0])
    source = token_source(token, certificate=person.certificate, chain=(world.pki.ca_certificate,))
    with keys.opened_signer(source) as signer:
        spec = SignerSpec(signer, None, person.name)
        signed = pdfsign.sign_issued(world.pdf, spec, world.org, SIGNER_BOX, ORG, world.signed_at)
    assert verify.all_ok(world.verify(signed))
    # without an image the appearance is the name, in DejaVu: on the page and in the widget
    text = subprocess.run(
        ["pdftotext", str(world.write("name.pdf", signed)), "-"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert text.count("Nguyễn Văn Đức") == 2, text


def test_pkcs11_absent_token_wrong_pin_missing_key(
    world: World, token: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SOFTHSM2_CONF", str(token))
    with pytest.raises(SigningError, match="token 'no-such-token' not found"):
        keys.load_signer(token_source(token, label="no-such-token"))
    bad_pin = tmp_path / "pin"
    bad_pin.write_text("9999\n")
    with pytest.raises(SigningError, match="wrong PIN") as raised:
        keys.load_signer(Pkcs11Source(SOFTHSM_MODULE, "docflow-test", "signer", bad_pin))
    assert "9999" not in str(raised.value)
    with pytest.raises(SigningError, match="'nobody' not found on PKCS#11 token"):
        keys.load_signer(
            Pkcs11Source(SOFTHSM_MODULE, "docflow-test", "nobody", token.parent / "pin")
        )


# --- sign_org_only, B-T ---------------------------------------------------------------


def test_sign_org_only_puts_one_valid_signature_top_right(world: World) -> None:
    when = pdfsign.vietnam_time(world.signed_at)
    lines = ["Số: 12/QĐ-BDT", when, "SAO Y", ORG]
    signed = pdfsign.sign_org_only(world.pdf, world.org, lines, world.signed_at)
    reports = world.verify(signed)
    assert len(reports) == 1 and verify.all_ok(reports) and reports[0].signer == ORG
    (_, _, field_ref), *_ = enumerate_sig_fields(PdfFileReader(io.BytesIO(signed)))
    x1, y1, x2, y2 = (float(v) for v in field_ref.get_object()["/Rect"])
    assert x1 > PAGE[0] / 2 and y1 > PAGE[1] / 2 and x2 <= PAGE[0] and y2 <= PAGE[1]
    out = pdfsig(world.write("copy.pdf", signed), world.nss)
    assert [s["Signature Validation"] for s in out.signatures] == ["Signature is Valid."]
    text = subprocess.run(
        ["pdftotext", str(world.write("copy-text.pdf", signed)), "-"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "SAO Y" in text and when in text


@pytest.fixture(scope="module")
def tsa(world: World) -> Iterator[str]:
    with loopback_tsa(make_timestamper(world.pki)) as url:
        yield url


def test_pades_b_t_with_a_timestamp_from_the_tsa_url(world: World, tsa: str) -> None:
    signed = pdfsign.sign_issued(
        world.pdf, world.signer, world.org, SIGNER_BOX, ORG, world.signed_at, tsa_url=tsa
    )
    reports = world.verify(signed)
    assert verify.all_ok(reports), reports
    assert all(r.timestamp is not None for r in reports)
    assert all(
        abs(r.timestamp - datetime.now(UTC)) < timedelta(minutes=5) for r in reports if r.timestamp
    )
    out = pdfsig(world.write("b-t.pdf", signed), world.nss)
    assert [s["Signature Validation"] for s in out.signatures] == ["Signature is Valid."] * 2


def test_an_unreachable_tsa_is_a_signing_error(world: World) -> None:
    url = f"http://127.0.0.1:{free_port()}/tsa"
    with pytest.raises(SigningError, match="timestamp server"):
        pdfsign.sign_issued(
            world.pdf, world.signer, world.org, SIGNER_BOX, ORG, world.signed_at, tsa_url=url
        )


async def test_in_the_event_loop_signing_says_to_use_a_thread(world: World) -> None:
    args = (world.pdf, world.signer, world.org, SIGNER_BOX, ORG, world.signed_at)
    with pytest.raises(SigningError, match=r"asyncio\.to_thread"):
        pdfsign.sign_issued(*args)
    signed = await asyncio.to_thread(pdfsign.sign_issued, *args)
    assert verify.all_ok(await asyncio.to_thread(world.verify, signed))
