"""Digital signatures on issued documents (Decree 30/2020/NĐ-CP): signer, then organisation.

`keys` loads a signing key (PKCS#12 or PKCS#11), `pdfsign` signs (PAdES), `verify`
checks, `pki` makes a test PKI for development. All synchronous: pyHanko is.
"""

from docflow.archive.signing.keys import (
    KeySource,
    Pkcs11Source,
    Pkcs12Source,
    SigningError,
    load_signer,
    opened_signer,
    parse_key_source,
    release_signer,
)
from docflow.archive.signing.pdfsign import (
    Box,
    SignerSpec,
    organisation_box,
    sign_issued,
    sign_org_only,
    vietnam_time,
)
from docflow.archive.signing.verify import SignatureReport, all_ok, verify_pdf

__all__ = [
    "Box",
    "KeySource",
    "Pkcs11Source",
    "Pkcs12Source",
    "SignatureReport",
    "SignerSpec",
    "SigningError",
    "all_ok",
    "load_signer",
    "opened_signer",
    "organisation_box",
    "parse_key_source",
    "release_signer",
    "sign_issued",
    "sign_org_only",
    "verify_pdf",
    "vietnam_time",
]
