"""A test PKI for development and tests (`docflow pki init`): never for real documents.

Every subject says TEST, so a file signed with it cannot pass for an issued document.
Each key is a PKCS#12 file whose passphrase sits beside it in a `.pass` file (mode
0600); the CA certificate (`ca.pem`) is the trust root to give to verifiers.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import ClassVar

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

from docflow.archive.keyring import slug
from docflow.archive.signing.images import draw_seal, draw_signature
from docflow.config import Settings

DOCUMENT_SIGNING = ObjectIdentifier("1.3.6.1.5.5.7.3.36")  # RFC 9336
CA_FILE = "ca.pem"
EXPIRY_WARNING = timedelta(days=30)  # `pki list` marks, and serve warns, from this before
NAMES = {NameOID.EMAIL_ADDRESS: "emailAddress"}  # rfc4514_string prints a dotted OID


@dataclass(frozen=True)
class Identity:
    """One key holder: where its key, passphrase, certificate and image are."""

    name: str
    email: str | None
    p12: Path
    passphrase_file: Path
    certificate: Path
    image: Path | None


@dataclass(frozen=True)
class TestPki:
    """What `init_test_pki` made, so callers need not know the file names."""

    __test__: ClassVar[bool] = False  # not a pytest test class despite its name

    directory: Path
    org_name: str
    org_code: str
    ca_certificate: Path
    ca: Identity
    organisation: Identity
    users: tuple[Identity, ...]

    def user(self, email: str) -> Identity:
        """The user with this e-mail address (KeyError names it if there is none)."""
        for identity in self.users:
            if identity.email == email:
                return identity
        raise KeyError(email)


@dataclass(frozen=True)
class CertInfo:
    """What `docflow pki list` shows about one certificate."""

    subject: str
    issuer: str
    not_before: datetime
    not_after: datetime
    serial: int


def _write_private(path: Path, data: bytes) -> None:
    """Keys and passphrases are created 0600 from the start, never chmod-ed after."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)


def _name(attrs: Sequence[tuple[ObjectIdentifier, str]]) -> x509.Name:
    """A subject from (OID, value) pairs: UTF8String, so Vietnamese names stay intact."""
    return x509.Name([x509.NameAttribute(oid, value) for oid, value in attrs])


def _save(
    directory: Path,
    stem: str,
    name: str,
    email: str | None,
    key: rsa.RSAPrivateKey,
    cert: x509.Certificate,
    chain: Sequence[x509.Certificate],
    image: Path | None,
) -> Identity:
    """Write the PKCS#12 (key, certificate, chain), its passphrase and the PEM."""
    passphrase = secrets.token_urlsafe(18)
    p12 = directory / f"{stem}.p12"
    pass_file = directory / f"{stem}.pass"
    pem = directory / f"{stem}.pem"
    data = pkcs12.serialize_key_and_certificates(
        name.encode("utf-8"),
        key,
        cert,
        list(chain),
        serialization.BestAvailableEncryption(passphrase.encode("utf-8")),
    )
    _write_private(p12, data)
    _write_private(pass_file, passphrase.encode("utf-8") + b"\n")
    pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return Identity(name, email, p12, pass_file, pem, image)


def _load_ca(pki: TestPki) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    """The CA key back from its PKCS#12, to issue more certificates later."""
    passphrase = pki.ca.passphrase_file.read_text(encoding="utf-8").rstrip("\r\n")
    key, cert, _ = pkcs12.load_key_and_certificates(
        pki.ca.p12.read_bytes(), passphrase.encode("utf-8")
    )
    assert isinstance(key, rsa.RSAPrivateKey) and cert is not None
    return key, cert


def _leaf(
    ca_key: rsa.RSAPrivateKey,
    ca_cert: x509.Certificate,
    subject: x509.Name,
    email: str | None,
    not_before: datetime,
    not_after: datetime,
) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    """A document-signing certificate: digitalSignature + nonRepudiation, e-mail EKU."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(True, True, False, False, False, False, False, False, False),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION, DOCUMENT_SIGNING]),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
    )
    if email:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.RFC822Name(email)]), critical=False
        )
    return key, builder.sign(ca_key, hashes.SHA256())


def issue_user_certificate(
    pki: TestPki,
    email: str,
    full_name: str,
    *,
    not_before: datetime | None = None,
    not_after: datetime | None = None,
) -> Identity:
    """One more user (tests pass `not_after` in the past to get an expired certificate)."""
    now = datetime.now(UTC)
    ca_key, ca_cert = _load_ca(pki)
    subject = _name(
        [
            (NameOID.COUNTRY_NAME, "VN"),
            (NameOID.ORGANIZATION_NAME, f"{pki.org_name} (TEST)"),
            (NameOID.ORGANIZATIONAL_UNIT_NAME, f"{pki.org_code} TEST"),
            (NameOID.COMMON_NAME, full_name),
            (NameOID.EMAIL_ADDRESS, email),
        ]
    )
    start = not_before or now - timedelta(days=1)
    key, cert = _leaf(
        ca_key, ca_cert, subject, email, start, not_after or now + timedelta(days=730)
    )
    users = pki.directory / "users"
    users.mkdir(exist_ok=True)
    stem = slug(email)
    image = draw_signature(full_name, users / f"{stem}.signature.png")
    return _save(users, stem, full_name, email, key, cert, [ca_cert], image)


def init_test_pki(
    directory: Path, org_name: str, org_code: str, users: Sequence[tuple[str, str]]
) -> TestPki:
    """CA, organisation and users (email, full name) in `directory`; refuses to overwrite."""
    directory.mkdir(parents=True, exist_ok=True)
    if (directory / CA_FILE).exists():
        raise FileExistsError(f"{directory / CA_FILE} exists: a test PKI is already there")
    now = datetime.now(UTC)
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca_name = _name(
        [
            (NameOID.COUNTRY_NAME, "VN"),
            (NameOID.ORGANIZATION_NAME, f"{org_name} (TEST)"),
            (NameOID.COMMON_NAME, "docflow TEST CA"),
        ]
    )
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    ca = _save(directory, "ca", "docflow TEST CA", None, ca_key, ca_cert, [], None)
    org_subject = _name(
        [
            (NameOID.COUNTRY_NAME, "VN"),
            (NameOID.ORGANIZATION_NAME, f"{org_name} (TEST)"),
            (NameOID.ORGANIZATIONAL_UNIT_NAME, f"{org_code} TEST"),
            (NameOID.COMMON_NAME, org_name),
        ]
    )
    org_key, org_cert = _leaf(
        ca_key, ca_cert, org_subject, None, now - timedelta(days=1), now + timedelta(days=730)
    )
    seal = draw_seal(org_name, org_code, directory / f"seal-{slug(org_code)}.png")
    org = _save(
        directory, f"org-{slug(org_code)}", org_name, None, org_key, org_cert, [ca_cert], seal
    )
    pki = TestPki(directory, org_name, org_code, directory / CA_FILE, ca, org, ())
    made = tuple(issue_user_certificate(pki, email, name) for email, name in users)
    return TestPki(directory, org_name, org_code, directory / CA_FILE, ca, org, made)


def certificate_info(p12_or_cert: Path, passphrase_file: Path | None = None) -> CertInfo:
    """What `pki list` shows of a PEM/DER certificate or a PKCS#12 file (and its `.pass`)."""
    data = p12_or_cert.read_bytes()
    cert: x509.Certificate | None
    if p12_or_cert.suffix.lower() in (".p12", ".pfx"):
        pass_path = passphrase_file or p12_or_cert.with_suffix(".pass")
        passphrase = pass_path.read_text(encoding="utf-8").rstrip("\r\n").encode("utf-8")
        _, cert, _ = pkcs12.load_key_and_certificates(data, passphrase)
        if cert is None:
            raise ValueError(f"{p12_or_cert} holds no certificate")
    elif data.lstrip().startswith(b"-----BEGIN"):
        cert = x509.load_pem_x509_certificate(data)
    else:
        cert = x509.load_der_x509_certificate(data)
    return CertInfo(
        subject=cert.subject.rfc4514_string(NAMES),
        issuer=cert.issuer.rfc4514_string(NAMES),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        serial=cert.serial_number,
    )


def keystore_certificates(settings: Settings) -> list[tuple[str, Path, CertInfo | str]]:
    """Every key file of the keystore (and the configured organisation's), with what its
    certificate says, or why it cannot be read: `pki list` and serve's expiry warnings."""
    keystore = settings.signing.keystore_dir(settings.data_dir)
    files = sorted(keystore.glob("*.p12")) + sorted(keystore.glob("users/*.p12"))
    conf = settings.signing
    passphrases: dict[Path, Path] = {}
    if conf.org_certificate and not conf.org_certificate.startswith("pkcs11:"):
        configured = Path(conf.org_certificate)
        files.insert(0, configured)
        if conf.org_passphrase_file:
            passphrases[configured] = Path(conf.org_passphrase_file)
    rows: list[tuple[str, Path, CertInfo | str]] = []
    for p12 in dict.fromkeys(files):
        try:
            rows.append((p12.stem, p12, certificate_info(p12, passphrases.get(p12))))
        except (ValueError, OSError) as e:
            rows.append((p12.stem, p12, f"unreadable: {type(e).__name__}"))
    return rows


def expiry_warnings(settings: Settings, now: datetime) -> list[str]:
    """One sentence per certificate that has expired or expires within EXPIRY_WARNING."""
    out = []
    for name, path, info in keystore_certificates(settings):
        if isinstance(info, str):
            continue
        if info.not_after <= now:
            out.append(f"certificate {name} ({path}) expired on {info.not_after:%Y-%m-%d}")
        elif info.not_after <= now + EXPIRY_WARNING:
            days = (info.not_after - now).days
            out.append(
                f"certificate {name} ({path}) expires on {info.not_after:%Y-%m-%d}, in {days} days"
            )
    return out
