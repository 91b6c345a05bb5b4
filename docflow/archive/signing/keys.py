"""Loading a signing key: a PKCS#12 file or a PKCS#11 token (a USB token, an HSM).

Every failure is a SigningError whose reason says what to fix, in plain English; a
passphrase or a PIN is never part of it. The certificate's validity is checked here,
before anything is signed: an expired certificate never signs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from asn1crypto import pkcs12 as asn1_pkcs12
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives.serialization import pkcs12
from pyhanko.keys.internal import (
    translate_pyca_cryptography_cert_to_asn1,
    translate_pyca_cryptography_key_to_asn1,
)
from pyhanko.sign.signers import Signer, SimpleSigner
from pyhanko_certvalidator.registry import SimpleCertificateStore

from docflow.archive.key_sources import (
    KeySource,
    Pkcs11Source,
    Pkcs12Source,
    parse_key_source,
)
from docflow.errors import SigningError

__all__ = [
    "KeySource",
    "Pkcs11Source",
    "Pkcs12Source",
    "SigningError",
    "load_signer",
    "parse_key_source",
    "release_signer",
]


def outside_event_loop(what: str) -> None:
    """pyHanko runs asyncio.run inside; from a coroutine that fails obscurely, so say why."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return
    raise SigningError(f"{what} blocks: call it in a thread (asyncio.to_thread), not in the loop")


def read_certificates(path: Path) -> list[asn1_x509.Certificate]:
    """Certificates from a PEM (one or more) or DER file, as pyHanko wants them."""
    data = path.read_bytes()
    if b"-----BEGIN" in data:
        certs = x509.load_pem_x509_certificates(data)
    else:
        certs = [x509.load_der_x509_certificate(data)]
    return [translate_pyca_cryptography_cert_to_asn1(cert) for cert in certs]


def _secret(path: Path, what: str) -> str:
    """A passphrase or PIN from its file; errors name the file, never its content."""
    try:
        return path.read_text(encoding="utf-8").rstrip("\r\n")
    except FileNotFoundError:
        raise SigningError(f"{what} file {path} not found") from None
    except (OSError, UnicodeDecodeError) as e:
        raise SigningError(f"{what} file {path} cannot be read ({type(e).__name__})") from None


def check_validity(cert: asn1_x509.Certificate, now: datetime) -> None:
    """Refuse a certificate outside its validity period at `now`."""
    validity = cert["tbs_certificate"]["validity"]
    not_before: datetime = validity["not_before"].native
    not_after: datetime = validity["not_after"].native
    who = cert.subject.human_friendly
    if now > not_after:
        raise SigningError(
            f"the certificate of {who} expired on {not_after.isoformat()}; it cannot sign"
        )
    if now < not_before:
        raise SigningError(f"the certificate of {who} is not valid before {not_before.isoformat()}")


def _load_pkcs12(source: Pkcs12Source) -> SimpleSigner:
    """Loaded with cryptography, not SimpleSigner.load_pkcs12 (it logs and returns None)."""
    try:
        data = source.path.read_bytes()
    except FileNotFoundError:
        raise SigningError(f"PKCS#12 file {source.path} not found") from None
    except OSError as e:
        raise SigningError(f"PKCS#12 file {source.path} cannot be read ({e.strerror})") from None
    passphrase = _secret(source.passphrase_file, "passphrase")
    try:
        _ = asn1_pkcs12.Pfx.load(data)["auth_safe"]["content_type"].native  # parses the outside
    except ValueError:
        raise SigningError(f"{source.path} is not a PKCS#12 file") from None
    try:
        key, cert, extra = pkcs12.load_key_and_certificates(
            data,
            passphrase.encode("utf-8") or None,  # an empty file: no passphrase
        )
    except ValueError:
        raise SigningError(
            f"wrong passphrase for PKCS#12 file {source.path} (from {source.passphrase_file})"
        ) from None
    if key is None or cert is None:
        raise SigningError(f"PKCS#12 file {source.path} holds no private key and certificate")
    store = SimpleCertificateStore()  # type: ignore[no-untyped-call]
    store.register_multiple(translate_pyca_cryptography_cert_to_asn1(c) for c in extra)
    return SimpleSigner(
        signing_cert=translate_pyca_cryptography_cert_to_asn1(cert),
        signing_key=translate_pyca_cryptography_key_to_asn1(key),
        cert_registry=store,
    )


def _load_pkcs11(source: Pkcs11Source) -> Signer:
    """An open token session; the key handle is looked up now so a typo fails here."""
    import pkcs11
    from pyhanko.sign.pkcs11 import PKCS11Signer

    if not source.module.exists():
        raise SigningError(f"PKCS#11 module {source.module} not found")
    pin = _secret(source.pin_file, "PIN")
    cert = None
    if source.certificate is not None:
        try:
            cert = read_certificates(source.certificate)[0]
        except (OSError, ValueError, IndexError):
            raise SigningError(f"certificate file {source.certificate} cannot be read") from None
    try:
        chain = [c for path in source.chain for c in read_certificates(path)]
    except (OSError, ValueError):
        raise SigningError("a certificate chain file cannot be read") from None
    token = source.token_label
    try:
        lib = pkcs11.lib(str(source.module))
        session = lib.get_token(token_label=token).open(user_pin=pin)
    except pkcs11.NoSuchToken:
        raise SigningError(
            f"PKCS#11 token {token!r} not found in {source.module} (is it plugged in?)"
        ) from None
    except (pkcs11.PinIncorrect, pkcs11.PinLenRange):
        raise SigningError(f"wrong PIN for PKCS#11 token {token!r}") from None
    except (pkcs11.PinLocked, pkcs11.PinExpired):
        raise SigningError(f"the PIN of PKCS#11 token {token!r} is locked or expired") from None
    except pkcs11.AlreadyInitialized:
        raise SigningError(
            f"another PKCS#11 module is loaded in this process; {source.module} cannot be"
        ) from None
    except pkcs11.PKCS11Error as e:  # the class names the failure; messages may be empty
        raise SigningError(f"PKCS#11 token {token!r}: {type(e).__name__}") from None
    except RuntimeError as e:  # dlopen failed: not a PKCS#11 module, or a missing library
        raise SigningError(f"PKCS#11 module {source.module} cannot be loaded: {e}") from None
    signer = PKCS11Signer(
        session,
        key_label=source.key_label,
        key_id=source.key_id,
        signing_cert=cert,
        ca_chain=chain,
    )
    try:
        signer.signing_cert  # noqa: B018 - loads the key handle and certificate now
    except pkcs11.PKCS11Error:
        session.close()
        what = "certificate or private key" if cert is None else "private key"
        raise SigningError(
            f"{what} {source.key_label!r} not found on PKCS#11 token {token!r}"
        ) from None
    return signer


def load_signer(source: KeySource, now: datetime | None = None) -> Signer:
    """A pyHanko signer for `source`, refused if its certificate is not valid at `now`."""
    if now is not None and now.tzinfo is None:
        raise SigningError("the time to check the certificate against must carry a time zone")
    if isinstance(source, Pkcs12Source):
        signer: Signer = _load_pkcs12(source)
    else:
        signer = _load_pkcs11(source)
    cert = signer.signing_cert
    assert cert is not None
    try:
        check_validity(cert, now or datetime.now(UTC))
    except SigningError:
        release_signer(signer)
        raise
    return signer


def release_signer(signer: Signer) -> None:
    """Close a token session (a PKCS#12 signer holds nothing to close)."""
    session = getattr(signer, "pkcs11_session", None)
    if session is not None:
        session.close()


@contextmanager
def opened_signer(source: KeySource, now: datetime | None = None) -> Iterator[Signer]:
    """`load_signer` whose token session is closed when the block ends."""
    signer = load_signer(source, now)
    try:
        yield signer
    finally:
        release_signer(signer)
