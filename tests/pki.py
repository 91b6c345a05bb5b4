"""Helpers for the signing tests: a sample decision PDF, poppler's pdfsig, SoftHSM2, a TSA.

Everything runs locally: the NSS database and the SoftHSM token live in temporary
directories and the timestamp authority listens on 127.0.0.1 only.
"""

from __future__ import annotations

import io
import os
import re
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from asn1crypto import tsp
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from pyhanko.keys.internal import (
    translate_pyca_cryptography_cert_to_asn1,
    translate_pyca_cryptography_key_to_asn1,
)
from pyhanko.sign.timestamps import DummyTimeStamper

from docflow.archive.signing.pdfsign import Box
from docflow.archive.signing.pki import Identity, TestPki

FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
SOFTHSM_MODULE = Path("/usr/lib/softhsm/libsofthsm2.so")
PAGE = (595.28, 841.89)  # A4
# between "TRƯỞNG BAN" (y 330) and the name (y 205), as the clerical office lays it out
SIGNER_BOX = Box(0, 360, 235, 520, 315)
PAGE_TEXT = (
    "BAN DÂN TỘC TỈNH LÂM ĐỒNG",
    "Số: 12/QĐ-BDT",
    "QUYẾT ĐỊNH",
    "Về việc tổ chức hội nghị tổng kết công tác dân tộc năm 2026",
    "TRƯỞNG BAN",
    "Nguyễn Văn Đức",
)


def make_pdf() -> bytes:
    """A one-page decision in DejaVu Sans whose signature block ends with the signer's name."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont
    from reportlab.pdfgen import canvas

    pdfmetrics.registerFont(TTFont("DocflowTestVN", str(FONT)))
    out = io.BytesIO()
    c = canvas.Canvas(out, pagesize=PAGE)
    c.setFont("DocflowTestVN", 12)
    header, number, title, subject, role, name = PAGE_TEXT
    c.drawString(60, 790, header)
    c.drawString(60, 770, number)
    c.drawCentredString(PAGE[0] / 2, 700, title)
    c.drawCentredString(PAGE[0] / 2, 680, subject)
    c.drawString(60, 600, "Điều 1. Tổ chức hội nghị vào ngày 15 tháng 01 năm 2027.")
    c.drawCentredString(440, 330, role)
    c.drawCentredString(440, 205, name)
    c.showPage()
    c.save()
    return out.getvalue()


def nss_database(directory: Path, ca_pem: Path) -> str:
    """An NSS database trusting the test CA, as `pdfsig -nssdir` wants it."""
    directory.mkdir(parents=True, exist_ok=True)
    db = f"sql:{directory}"
    subprocess.run(["certutil", "-N", "-d", db, "--empty-password"], check=True)
    subprocess.run(
        ["certutil", "-A", "-d", db, "-n", "ca", "-t", "CT,C,C", "-i", str(ca_pem)], check=True
    )
    return db


@dataclass(frozen=True)
class PdfsigOutput:
    """pdfsig's report: its raw text and one dict per `Signature #n:` section."""

    text: str
    signatures: list[dict[str, str]]


def pdfsig(pdf: Path, nssdir: str) -> PdfsigOutput:
    """Run pdfsig and split its `  - Key: value` lines; bare lines go under `coverage`."""
    text = subprocess.run(
        ["pdfsig", "-nssdir", nssdir, str(pdf)], capture_output=True, text=True, check=False
    ).stdout
    signatures: list[dict[str, str]] = []
    for section in re.split(r"^Signature #\d+:\s*$", text, flags=re.M)[1:]:
        entry: dict[str, str] = {}
        for line in section.splitlines():
            item = line.strip().removeprefix("- ")
            if not item:
                continue
            key, sep, value = item.partition(": ")
            if sep:
                entry[key] = value
            else:
                entry["coverage"] = item
        signatures.append(entry)
    return PdfsigOutput(text, signatures)


def _ca(pki: TestPki) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    passphrase = pki.ca.passphrase_file.read_text(encoding="utf-8").strip().encode("utf-8")
    key, cert, _ = pkcs12.load_key_and_certificates(pki.ca.p12.read_bytes(), passphrase)
    assert isinstance(key, rsa.RSAPrivateKey) and cert is not None
    return key, cert


def make_timestamper(pki: TestPki) -> DummyTimeStamper:
    """pyHanko's in-process TSA, with a timeStamping certificate from the test CA."""
    ca_key, ca_cert = _ca(pki)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "docflow TEST TSA")]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=365))
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
        .add_extension(
            x509.KeyUsage(True, True, False, False, False, False, False, False, False), True
        )
        .sign(ca_key, hashes.SHA256())
    )
    return DummyTimeStamper(
        tsa_cert=translate_pyca_cryptography_cert_to_asn1(cert),
        tsa_key=translate_pyca_cryptography_key_to_asn1(key),
    )


@contextmanager
def loopback_tsa(stamper: DummyTimeStamper) -> Iterator[str]:
    """An RFC 3161 HTTP endpoint on 127.0.0.1 answered by `stamper`; yields its URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            request = tsp.TimeStampReq.load(self.rfile.read(int(self.headers["Content-Length"])))
            body = stamper.request_tsa_response(request).dump()
            self.send_response(200)
            self.send_header("Content-Type", "application/timestamp-reply")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/tsa"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def softhsm_token(directory: Path, identity: Identity, label: str = "docflow-test") -> Path:
    """A SoftHSM2 token holding `identity`'s key (label `signer`, id 01); returns its conf."""
    tokens = directory / "tokens"
    tokens.mkdir(parents=True)
    conf = directory / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {tokens}\nobjectstore.backend = file\n")
    env = {**os.environ, "SOFTHSM2_CONF": str(conf)}
    util = ["softhsm2-util", "--pin", "1234"]
    subprocess.run(
        [*util, "--init-token", "--free", "--label", label, "--so-pin", "5678"],
        env=env,
        check=True,
        capture_output=True,
    )
    passphrase = identity.passphrase_file.read_text(encoding="utf-8").strip().encode("utf-8")
    key, cert, _ = pkcs12.load_key_and_certificates(identity.p12.read_bytes(), passphrase)
    assert key is not None and cert is not None
    pem = directory / "key.pem"
    pem.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    subprocess.run(
        [*util, "--import", str(pem), "--token", label, "--label", "signer", "--id", "01"],
        env=env,
        check=True,
        capture_output=True,
    )
    pem.unlink()
    return conf


def store_certificate(identity: Identity, label: str = "docflow-test") -> None:
    """Put `identity`'s certificate on the token beside its key (softhsm2-util cannot).

    SOFTHSM2_CONF must be set already: SoftHSM reads it once per process, when the
    module is first loaded.
    """
    import pkcs11
    from pkcs11 import Attribute, CertificateType, ObjectClass

    cert = x509.load_pem_x509_certificate(identity.certificate.read_bytes())
    token = pkcs11.lib(str(SOFTHSM_MODULE)).get_token(token_label=label)
    with token.open(rw=True, user_pin="1234") as session:
        session.create_object(
            {
                Attribute.CLASS: ObjectClass.CERTIFICATE,
                Attribute.CERTIFICATE_TYPE: CertificateType.X_509,
                Attribute.TOKEN: True,
                Attribute.LABEL: "signer",
                Attribute.ID: b"\x01",
                Attribute.SUBJECT: cert.subject.public_bytes(),
                Attribute.VALUE: cert.public_bytes(serialization.Encoding.DER),
            }
        )
