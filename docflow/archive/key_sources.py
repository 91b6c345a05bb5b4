"""Where a signing key is: a PKCS#12 file with its passphrase file, or a PKCS#11 token.

Plain values, parsed from settings and the keystore without loading pyHanko (every docflow
command builds the services; only signing opens the keys, in `signing.keys`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, unquote, unquote_to_bytes, urlsplit

from docflow.errors import SigningError


@dataclass(frozen=True)
class Pkcs12Source:
    """A PKCS#12 file and the file holding its passphrase (kept apart, mode 0600)."""

    path: Path
    passphrase_file: Path


@dataclass(frozen=True)
class Pkcs11Source:
    """A key on a PKCS#11 token; `certificate` when the certificate is not on the token."""

    module: Path
    token_label: str
    key_label: str
    pin_file: Path
    certificate: Path | None = None
    key_id: bytes | None = None
    chain: tuple[Path, ...] = ()  # intermediate CA certificates to embed


KeySource = Pkcs12Source | Pkcs11Source


def parse_key_source(text: str) -> KeySource:
    """A key source from one settings string, so a deployment can switch PKCS#12 to a token."""
    # pkcs12:PATH?passphrase-file=PATH
    # pkcs11:token=LABEL;object=KEY[;id=%01]?module-path=SO&pin-source=file:PATH
    #   [&x-cert-file=PATH] when the certificate is not on the token (RFC 7512 URI)
    if text.startswith("pkcs12:"):
        parts = urlsplit(text)
        options = parse_qs(parts.query)
        if "passphrase-file" not in options:
            raise SigningError(f"key source {parts.path!r} has no passphrase-file")
        return Pkcs12Source(Path(unquote(parts.path)), Path(options["passphrase-file"][0]))
    if not text.startswith("pkcs11:"):
        raise SigningError("a key source starts with pkcs12: or pkcs11:")
    path, _, query_text = text.removeprefix("pkcs11:").partition("?")
    attrs = dict(item.partition("=")[::2] for item in path.split(";") if item)
    query = {k: v[0] for k, v in parse_qs(query_text).items()}
    missing = [
        name
        for name, have in (
            ("token", attrs),
            ("object", attrs),
            ("module-path", query),
            ("pin-source", query),
        )
        if name not in have
    ]
    if missing:
        raise SigningError(f"PKCS#11 key source lacks {', '.join(missing)}")
    cert = query.get("x-cert-file")
    return Pkcs11Source(
        module=Path(query["module-path"]),
        token_label=unquote(attrs["token"]),
        key_label=unquote(attrs["object"]),
        pin_file=Path(query["pin-source"].removeprefix("file:")),
        certificate=Path(cert) if cert else None,
        key_id=unquote_to_bytes(attrs["id"]) if "id" in attrs else None,
    )
