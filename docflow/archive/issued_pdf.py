"""The issued PDF of a signing workflow: number and date written in, rendered, signed twice.

The main file is a DOCX whose Decree-30 lines are filled (`fill`), or any office file,
rendered by the warm LibreOffice pool, or a PDF; where the lines were not found, the
number and date are stamped on page 1 (before any signature: nothing is drawn after).
Then the signer's signature goes into the document's signature block (`layout`), the
organisation's over it. Annexes become PDFs signed by the organisation alone. Every
failure is a SigningError whose reason an operator can act on; nothing is stored here.
"""

from __future__ import annotations

import asyncio
import io
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import PurePath

from pypdf import PdfReader
from pypdf.errors import PdfReadError

from docflow.archive.fill import FillError, fill_docx
from docflow.archive.keyring import KeyEntry, KeyRing
from docflow.archive.layout import Box, signature_box
from docflow.archive.stamp import StampError, stamp_pdf
from docflow.documents.converters import ConversionError, ConverterPool
from docflow.documents.renditions import CONVERTIBLE
from docflow.errors import SigningError

PDF = "application/pdf"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
# where the signature goes when the document has no signature block naming the signer:
# the lower right of the last page, in points from its right and bottom edges
FALLBACK = (250.0, 170.0, 70.0, 90.0)


@dataclass(frozen=True)
class Source:
    """A file of the final version, as the maker needs it."""

    name: str
    mime: str
    data: bytes


@dataclass(frozen=True)
class Signatory:
    """Who signs and how it shows: the name to look for in the signature block, whom a
    delegate signs for, and the capacity line shown over the image ("KT. TRƯỞNG BAN")."""

    email: str
    name: str
    principal_name: str | None = None
    caption: str | None = None


@dataclass(frozen=True)
class IssuedPdfs:
    """The signed main PDF and the signed annex PDFs (annexes that cannot be rendered are
    issued as they are, unsigned, and listed in `unsigned`)."""

    main_name: str
    main: bytes
    annexes: list[tuple[str, bytes]]
    unsigned: list[str]
    written_in: bool  # number and date in the text (else stamped on page 1)


def issued_name(original: str, number: str) -> str:
    return f"{PurePath(original).stem} ({number.replace('/', '-')}).pdf"


class IssuedPdfMaker:
    """Makes the issued PDFs of one document; the converters are the renditions' pool."""

    def __init__(self, keyring: KeyRing, pool: ConverterPool | None, tsa_url: str) -> None:
        self.keyring = keyring
        self.pool = pool
        self.tsa_url = tsa_url or None

    async def make(
        self,
        main: Source,
        annexes: list[Source],
        number: str,
        day: date,
        signatory: Signatory,
        org_name: str,
        signed_at: datetime,
    ) -> IssuedPdfs:
        """Render, fill or stamp, and sign; SigningError says what stopped it."""
        signer_key = self.keyring.signer(signatory.email)
        org_key = self.keyring.organisation()
        pdf, written_in = await self._render_main(main, number, day)
        if not written_in:
            pdf = await _stamped(pdf, number, day)
        unsigned: list[str] = []
        annex_pdfs: list[tuple[str, bytes]] = []
        for annex in annexes:
            rendered = await self._annex_pdf(annex)
            if rendered is None:
                unsigned.append(annex.name)
            else:
                annex_pdfs.append((f"{PurePath(annex.name).stem}.pdf", rendered))
        signed_main, signed_annexes = await asyncio.to_thread(
            self._sign,
            pdf,
            annex_pdfs,
            signer_key,
            org_key,
            signatory,
            number,
            org_name,
            signed_at,
        )
        names = [name for name, _ in annex_pdfs]
        return IssuedPdfs(
            issued_name(main.name, number),
            signed_main,
            list(zip(names, signed_annexes, strict=True)),
            unsigned,
            written_in,
        )

    async def _render(self, data: bytes, mime: str) -> bytes:
        if self.pool is None:
            raise SigningError(
                "PDF renditions are off (renditions.converters = 0): an office file cannot "
                "be issued as a signed PDF"
            )
        try:
            return (await self.pool.convert(data, CONVERTIBLE[mime])).pdf
        except ConversionError as e:
            raise SigningError(f"LibreOffice could not render the document: {e}") from None

    async def _render_main(self, main: Source, number: str, day: date) -> tuple[bytes, bool]:
        """The main file as a PDF, and whether number and date are both written in it."""
        if main.mime == PDF:
            return main.data, False
        if main.mime not in CONVERTIBLE:
            raise SigningError(
                f"the main file {main.name} ({main.mime}) cannot be made into a signed PDF; "
                "send a DOCX, ODT, DOC, RTF or PDF"
            )
        data, written_in = main.data, False
        if main.mime == DOCX:
            try:
                filled = await asyncio.to_thread(fill_docx, main.data, number, day)
            except FillError:
                pass  # rendered as sent; LibreOffice says whether it can read it at all
            else:
                data, written_in = filled.docx, filled.number_filled and filled.date_filled
        return await self._render(data, main.mime), written_in

    async def _annex_pdf(self, annex: Source) -> bytes | None:
        if annex.mime == PDF:
            return annex.data
        if annex.mime in CONVERTIBLE and self.pool is not None:
            return await self._render(annex.data, annex.mime)
        return None

    def _sign(
        self,
        pdf: bytes,
        annexes: list[tuple[str, bytes]],
        signer_key: KeyEntry,
        org_key: KeyEntry,
        signatory: Signatory,
        number: str,
        org_name: str,
        signed_at: datetime,
    ) -> tuple[bytes, list[bytes]]:
        """Both keys opened, everything signed, both closed (a token session is released)."""
        from docflow.archive.signing import (  # pyHanko: loaded when something is signed
            SignerSpec,
            load_signer,
            release_signer,
            sign_issued,
            sign_org_only,
            vietnam_time,
        )

        signer = load_signer(signer_key.source, signed_at)
        try:
            org = load_signer(org_key.source, signed_at)
        except SigningError:
            release_signer(signer)
            raise
        try:
            box = _signature_place(pdf, signatory)
            main = sign_issued(
                pdf,
                SignerSpec(signer, signer_key.image, signatory.name, signatory.caption),
                SignerSpec(org, org_key.image, org_name),
                box,
                org_name,
                signed_at,
                self.tsa_url,
            )
            org_spec = SignerSpec(org, None, org_name)
            lines = [f"Số: {number}", org_name, vietnam_time(signed_at)]
            signed = [
                sign_org_only(a, org_spec, lines, signed_at, self.tsa_url) for _, a in annexes
            ]
        finally:
            release_signer(signer)
            release_signer(org)
        return main, signed


def _signature_place(pdf: bytes, signatory: Signatory) -> Box:
    """The gap above the signer's name in the signature block (or the principal's, for a
    delegate), else the lower right of the last page."""
    for name in (signatory.name, signatory.principal_name):
        if name and (found := signature_box(pdf, name)) is not None:
            return found
    try:
        pages = PdfReader(io.BytesIO(pdf)).pages
        last = pages[len(pages) - 1]
    except (PdfReadError, ValueError, OSError, IndexError) as e:
        raise SigningError(f"the rendered PDF cannot be read: {e}") from None
    box = last.mediabox
    left, top, right, bottom = FALLBACK
    return Box(
        len(pages) - 1,
        float(box.right) - left,
        float(box.bottom) + bottom,
        float(box.right) - right,
        float(box.bottom) + top,
    )


async def _stamped(pdf: bytes, number: str, day: date) -> bytes:
    """The number and date at the top right of page 1, for a draft without the lines."""
    try:
        return await asyncio.to_thread(
            stamp_pdf, pdf, [f"Số: {number}", f"Ngày ban hành: {day:%d/%m/%Y}"]
        )
    except StampError as e:
        raise SigningError(f"the number cannot be stamped on the PDF: {e}") from None
