"""PAdES signatures on issued PDFs: the signer's, then the organisation's (Decree 30/2020).

Both fields are made before the first signature, so the second signature only fills a
field the first one already covers. Appearances live in the signature widgets; the page
content is never touched (see appearance for how they look). pyHanko is synchronous:
callers run these functions in a thread.
"""

from __future__ import annotations

import io
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from pyhanko.pdf_utils.generic import ArrayObject
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.layout import AxisAlignment, LayoutError
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.sign.fields import SigFieldSpec, SigSeedSubFilter, append_signature_field
from pyhanko.sign.general import SigningError as PyHankoSigningError
from pyhanko.sign.signers import PdfSignatureMetadata, PdfSigner, Signer
from pyhanko.sign.timestamps import HTTPTimeStamper, TimeStamper, TimestampRequestError
from pyhanko.stamp import BaseStampStyle

from docflow.archive.layout import Box
from docflow.archive.signing.appearance import nfc, seal_style, signature_style, text_stamp
from docflow.archive.signing.fonts import text_width
from docflow.archive.signing.keys import SigningError, check_validity, outside_event_loop

VIETNAM = timezone(timedelta(hours=7), "ICT")
SIGNER_FIELD = "Signer"
ORG_FIELD = "Organisation"
COPY_FIELD = "Copy"  # an electronic copy's signature, beside the original's two


@dataclass(frozen=True)
class SignerSpec:
    """Who signs: the loaded key, the appearance image (None: text only), the name shown;
    `caption`: a line over the image (a delegate's capacity: "KT. TRƯỞNG BAN")."""

    signer: Signer
    image: Path | None
    name: str
    caption: str | None = None


def vietnam_time(moment: datetime) -> str:
    """ISO 8601 with the Vietnam offset, as Decree 30 wants it shown: 2027-02-05T14:03:21+07:00."""
    if moment.tzinfo is None:
        raise SigningError("the signing time must carry a time zone")
    return moment.astimezone(VIETNAM).isoformat(timespec="seconds")


def organisation_box(signer_box: Box) -> Box:
    """The seal's field: over the signature's left third, larger, sticking out left."""
    # square, plus a band at the bottom for the organisation's name and the time
    width = signer_box.x2 - signer_box.x1
    height = signer_box.y2 - signer_box.y1
    side = max(width / 3, height) * 1.1
    x2 = signer_box.x1 + width / 3 * 1.1
    y1 = signer_box.y1 - side * 0.08
    return Box(signer_box.page, x2 - side, y1, x2, y1 + side * 1.22)


class _SignerAt(PdfSigner):
    """A PdfSigner whose signing time (/M, appearance) is the caller's clock."""

    def __init__(
        self,
        meta: PdfSignatureMetadata,
        signer: Signer,
        at: datetime,
        style: BaseStampStyle,
        timestamper: TimeStamper | None,
    ) -> None:
        super().__init__(meta, signer, stamp_style=style, timestamper=timestamper)
        self._at = at

    def init_signing_session(  # type: ignore[no-untyped-def]
        self, pdf_out, existing_fields_only=False
    ):
        """pyHanko's session, its clock set to ours (it takes the machine's otherwise)."""
        session = super().init_signing_session(pdf_out, existing_fields_only)
        session.system_time = self._at
        return session


def _timestamper(tsa_url: str | None, timestamper: TimeStamper | None) -> TimeStamper | None:
    """B-T when there is a TSA; a given timestamper (tests, other transports) wins."""
    if timestamper is not None:
        return timestamper
    return HTTPTimeStamper(tsa_url) if tsa_url else None  # type: ignore[no-untyped-call]


def _sign_field(
    writer: IncrementalPdfFileWriter,
    field: str,
    spec: SignerSpec,
    style: BaseStampStyle,
    signed_at: datetime,
    lines: str,
    timestamper: TimeStamper | None,
) -> bytes:
    """One signature into an existing field, written as an incremental update."""
    meta = PdfSignatureMetadata(
        field_name=field, subfilter=SigSeedSubFilter.PADES, md_algorithm="sha256"
    )
    signer = _SignerAt(meta, spec.signer, signed_at, style, timestamper)
    try:
        out = signer.sign_pdf(
            writer, existing_fields_only=True, appearance_text_params={"lines": lines}
        )
    except TimestampRequestError as e:
        raise SigningError(f"the timestamp server did not answer properly: {e}") from None
    except PyHankoSigningError as e:
        raise SigningError(f"pyHanko refused to sign field {field}: {e}") from None
    except LayoutError as e:
        raise SigningError(f"the appearance does not fit field {field}: {e}") from None
    data: bytes = out.getvalue()
    return data


def _writer(pdf: bytes) -> IncrementalPdfFileWriter:
    """An incremental writer: what was there stays byte for byte, updates go after it."""
    try:
        writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    except (PdfError, ValueError) as e:
        raise SigningError(f"the PDF cannot be read: {e}") from None
    if writer.prev.encrypted:
        raise SigningError("the PDF is encrypted; docflow signs only unencrypted files")
    return writer


def _field(writer: IncrementalPdfFileWriter, name: str, box: Box) -> None:
    """An empty signature field with its widget on the box's page."""
    if box.x2 <= box.x1 or box.y2 <= box.y1:
        raise SigningError(f"field {name}: the box {box} is empty")
    spec = SigFieldSpec(
        sig_field_name=name,
        on_page=box.page,
        box=(round(box.x1), round(box.y1), round(box.x2), round(box.y2)),
    )
    try:
        append_signature_field(writer, spec)
    except PdfError as e:
        raise SigningError(f"field {name} cannot be added on page {box.page}: {e}") from None


def sign_issued(
    pdf: bytes,
    signer: SignerSpec,
    org: SignerSpec,
    signer_box: Box,
    org_text: str,
    signed_at: datetime,
    tsa_url: str | None = None,
    *,
    timestamper: TimeStamper | None = None,
) -> bytes:
    """Signer's signature at `signer_box`, then the organisation's seal over its left third."""
    # org_text: the organisation's name shown above the time under the seal;
    # timestamper: replaces the HTTP client tsa_url would make (tests)
    outside_event_loop("sign_issued")
    when = vietnam_time(signed_at)  # refuses a naive time before anything compares it
    for spec in (signer, org):
        cert = spec.signer.signing_cert
        assert cert is not None
        check_validity(cert, signed_at)
    stamper = _timestamper(tsa_url, timestamper)
    writer = _writer(pdf)
    seal_box = _on_page(organisation_box(signer_box), _page_size(writer, signer_box.page))
    _field(writer, SIGNER_FIELD, signer_box)
    _field(writer, ORG_FIELD, seal_box)
    once = _sign_field(
        writer,
        SIGNER_FIELD,
        signer,
        signature_style(signer.image, caption=bool(signer.caption)),
        signed_at,
        nfc(signer.caption or signer.name),
        stamper,
    )
    org_lines = "\n".join([*textwrap.wrap(nfc(org_text), 22), when])
    seal = seal_style(org.image, seal_box.y2 - seal_box.y1)
    return _sign_field(_writer(once), ORG_FIELD, org, seal, signed_at, org_lines, stamper)


def _on_page(box: Box, page: tuple[float, float, float, float], margin: float = 8) -> Box:
    """`box` moved (not resized) to lie on the page: a signature block near the left
    margin would push the seal, which sticks out left of it, off the paper."""
    left, bottom, right, top = page
    dx = max(0.0, left + margin - box.x1) - max(0.0, box.x2 - (right - margin))
    dy = max(0.0, bottom + margin - box.y1) - max(0.0, box.y2 - (top - margin))
    return Box(box.page, box.x1 + dx, box.y1 + dy, box.x2 + dx, box.y2 + dy)


def _page_size(writer: IncrementalPdfFileWriter, page: int) -> tuple[float, float, float, float]:
    """The page's visible rectangle (CropBox, else MediaBox, inherited if need be)."""
    node = writer.find_page_for_modification(page)[0].get_object()  # type: ignore[no-untyped-call]
    while True:
        for key in ("/CropBox", "/MediaBox"):
            if key in node:
                value = node[key]
                assert isinstance(value, ArrayObject)
                x1, y1, x2, y2 = (float(v) for v in value)
                return min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2)
        if "/Parent" not in node:
            raise SigningError(f"page {page} has no size (/MediaBox)")
        node = node["/Parent"].get_object()


def sign_org_only(
    pdf: bytes,
    org: SignerSpec,
    text_lines: Sequence[str],
    signed_at: datetime,
    tsa_url: str | None = None,
    *,
    box: Box | None = None,
    field: str = ORG_FIELD,
    timestamper: TimeStamper | None = None,
) -> bytes:
    """The organisation's visible signature, text only, top right of page 1 (annexes, copies)."""
    # box: another place, should some other stamp already sit in that corner
    outside_event_loop("sign_org_only")
    vietnam_time(signed_at)  # refuses a naive time
    cert = org.signer.signing_cert
    assert cert is not None
    check_validity(cert, signed_at)
    size = 9
    lines = [nfc(line) for line in text_lines]
    writer = _writer(pdf)
    if box is None:
        _, _, right, top = _page_size(writer, 0)
        width = max(text_width(line, size) for line in lines) + 12
        height = len(lines) * (size + 2) + 8
        box = Box(0, right - 28 - width, top - 24 - height, right - 28, top - 24)
    _field(writer, field, box)
    style = text_stamp(size, AxisAlignment.ALIGN_MIN, AxisAlignment.ALIGN_MID, margin=4, border=1)
    stamper = _timestamper(tsa_url, timestamper)
    return _sign_field(writer, field, org, style, signed_at, "\n".join(lines), stamper)
