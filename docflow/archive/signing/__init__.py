"""Digital signatures on issued documents (Decree 30/2020/NĐ-CP): signer, then organisation.

`keys` loads a signing key (PKCS#12 or PKCS#11), `pdfsign` signs (PAdES), `verify`
checks, `pki` makes a test PKI for development. All synchronous: pyHanko is.
"""

import warnings

# pyHanko imports cryptography's DSA types, which cryptography 51 deprecates with a warning
# on every import; docflow signs with RSA (or whatever the token holds), never DSA
warnings.filterwarnings("ignore", message="DSA is deprecated")

from docflow.archive.layout import Box  # noqa: E402
from docflow.archive.signing.keys import (  # noqa: E402  (after the filter)
    KeySource,
    Pkcs11Source,
    Pkcs12Source,
    SigningError,
    load_signer,
    opened_signer,
    parse_key_source,
    release_signer,
)
from docflow.archive.signing.pdfsign import (  # noqa: E402
    SignerSpec,
    organisation_box,
    sign_issued,
    sign_org_only,
    vietnam_time,
)
from docflow.archive.signing.verify import SignatureReport, all_ok, verify_pdf  # noqa: E402

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
