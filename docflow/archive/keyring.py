"""Which key signs for whom: a user's imported key, else the keystore's file for them;
the organisation's configured key, else the keystore's.

Only paths and key sources are resolved here (nothing is opened): `keys.load_signer`
opens them when a document is signed, so a key fixed on disk is used on the next try.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from docflow.archive.key_sources import KeySource, Pkcs12Source, parse_key_source
from docflow.config import Settings
from docflow.errors import SigningError

IMPORTS = "imports.json"  # written by `docflow pki import`: email → {key, image}


@dataclass(frozen=True)
class KeyEntry:
    """A key source and the image its signature shows (None: text only)."""

    source: KeySource
    image: Path | None


def slug(text: str) -> str:
    """The keystore's file name for an e-mail address or a code (as `pki init` writes it)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "key"


class KeyRing:
    """Finds the keys of signers and of the organisation from settings and the keystore."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.keystore = settings.signing.keystore_dir(settings.data_dir)

    def _imports(self) -> dict[str, dict[str, str]]:
        index = self.keystore / IMPORTS
        if not index.exists():
            return {}
        try:
            loaded = json.loads(index.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise SigningError(f"{index} cannot be read ({type(e).__name__})") from None
        return loaded if isinstance(loaded, dict) else {}

    def signer(self, email: str) -> KeyEntry:
        """The key `email` signs with; SigningError says how to provide one."""
        imported = self._imports().get(email.lower())
        if imported and imported.get("key"):
            picture = imported.get("image")
            return KeyEntry(parse_key_source(imported["key"]), Path(picture) if picture else None)
        users, stem = self.keystore / "users", slug(email.lower())
        p12 = users / f"{stem}.p12"  # not with_suffix: the stem has dots of its own
        if not p12.exists():
            raise SigningError(
                f"no signing key for {email}: import one (docflow pki import {email} --p12 FILE "
                "--passphrase-file FILE, or --pkcs11 URI)"
            )
        image = users / f"{stem}.signature.png"
        return KeyEntry(
            Pkcs12Source(p12, users / f"{stem}.pass"), image if image.exists() else None
        )

    def organisation(self) -> KeyEntry:
        """The organisation's key and seal: `[signing]` settings, else the keystore's."""
        conf = self.settings.signing
        code = slug(self.settings.org.code)
        seal = (
            Path(conf.org_seal_image) if conf.org_seal_image else self.keystore / f"seal-{code}.png"
        )
        if conf.org_certificate:
            text = conf.org_certificate
            if text.startswith("pkcs11:"):
                return KeyEntry(parse_key_source(text), seal if seal.exists() else None)
            if not conf.org_passphrase_file:
                raise SigningError("signing.org_certificate is set but org_passphrase_file is not")
            source: KeySource = Pkcs12Source(Path(text), Path(conf.org_passphrase_file))
        else:
            p12 = self.keystore / f"org-{code}.p12"
            if not p12.exists():
                raise SigningError(
                    "the organisation has no signing key: set signing.org_certificate "
                    "(or run docflow pki init for a TEST one)"
                )
            source = Pkcs12Source(p12, self.keystore / f"org-{code}.pass")
        return KeyEntry(source, seal if seal.exists() else None)
