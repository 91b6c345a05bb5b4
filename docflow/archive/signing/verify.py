"""Checking the signatures of a PDF with pyHanko's validator, in words people can act on.

Only the given trust roots count (never the system's list), nothing is fetched from the
network, and a file that cannot even be read becomes a report with a problem rather
than an exception, so a damaged file reads as "not ok", never as a crash.
"""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from asn1crypto import x509 as asn1_x509
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.diff_analysis import DiffResult, ModificationLevel
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.status import PdfSignatureStatus, SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext

from docflow.archive.signing.keys import SigningError, outside_event_loop, read_certificates

ENTIRE_FILE = "entire file"
ENTIRE_REVISION = "entire revision"
PARTIAL = "partial"
COVERAGE = {
    SignatureCoverageLevel.ENTIRE_FILE: ENTIRE_FILE,
    SignatureCoverageLevel.ENTIRE_REVISION: ENTIRE_REVISION,
}


@dataclasses.dataclass(frozen=True)
class SignatureReport:
    """One signature as a verifier sees it; `problems` is empty when all is well."""

    field: str
    signer: str
    signing_time: datetime | None
    intact: bool
    valid: bool
    coverage: str
    modified_after: bool
    timestamp: datetime | None = None
    problems: list[str] = dataclasses.field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Intact, trusted, and nothing but signatures added after it."""
        return self.intact and self.valid and not self.modified_after and not self.problems


def all_ok(reports: Sequence[SignatureReport]) -> bool:
    """At least one signature, every one ok, and the last one covering the whole file."""
    return (
        bool(reports)
        and all(report.ok for report in reports)
        and reports[-1].coverage == ENTIRE_FILE
    )


def _roots(trust_roots: Sequence[Path]) -> list[asn1_x509.Certificate]:
    """The trust anchors; an unreadable one is a configuration error, raised at once."""
    roots: list[asn1_x509.Certificate] = []
    for path in trust_roots:
        try:
            roots.extend(read_certificates(path))
        except (OSError, ValueError) as e:
            raise SigningError(f"trust root {path} cannot be read ({e})") from None
    return roots


def _common_name(cert: asn1_x509.Certificate) -> str:
    """The CN people know the signer by; the whole subject if there is none."""
    names: dict[str, str] = cert.subject.native
    return names.get("common_name") or cert.subject.human_friendly


def _modified_after(status: PdfSignatureStatus, signature_fields: set[str]) -> bool:
    """True when a later revision did more than add signatures to signature fields."""
    if status.coverage == SignatureCoverageLevel.ENTIRE_FILE:
        return False
    diff = status.diff_result
    if not isinstance(diff, DiffResult) or not status.docmdp_ok:
        return True
    if diff.modification_level > ModificationLevel.FORM_FILLING:
        return True
    return not diff.changed_form_fields <= signature_fields


def _problems(status: PdfSignatureStatus, modified_after: bool) -> list[str]:
    """pyHanko's verdict as sentences an archivist can act on."""
    problems = []
    if not status.intact:
        problems.append("the signed bytes were changed after signing (digest mismatch)")
    if not status.valid:
        problems.append("the signature value does not match the signer's certificate")
    if status.intact and status.valid and not status.trusted:  # else it was never checked
        why = status.trust_problem_indic
        problems.append(
            "the signer's certificate does not chain to a trusted root"
            + (f" ({why.standard_name})" if why is not None else "")
        )
    ts = status.timestamp_validity
    if ts is not None and not (ts.intact and ts.valid and ts.trusted):
        problems.append("the timestamp token is damaged or its authority is not trusted")
    if status.coverage is None or status.coverage < SignatureCoverageLevel.ENTIRE_REVISION:
        problems.append("the signature covers only part of its revision")
    if modified_after:
        level = status.modification_level
        problems.append(
            "the file was changed after this signature in ways other than adding signatures"
            + (f" (modification level: {level.name.lower()})" if level is not None else "")
        )
    return problems


def _failed(name: str, problem: str) -> SignatureReport:
    """A report for what could not be checked at all: never ok."""
    return SignatureReport(name, "", None, False, False, PARTIAL, True, problems=[problem])


def verify_pdf(pdf: bytes, trust_roots: Sequence[Path]) -> list[SignatureReport]:
    """A report per signature, in signing order; an unreadable file gives one failed report."""
    outside_event_loop("verify_pdf")
    try:
        reader = PdfFileReader(io.BytesIO(pdf))
        signatures = list(reader.embedded_regular_signatures)
    except Exception as e:  # a damaged file is a finding, not a crash
        return [_failed("(file)", f"the file cannot be read as a PDF: {e}")]
    if not signatures:
        return []  # nothing to trust or not: an unsigned office needs no trust roots
    roots = _roots(trust_roots)
    signature_fields = {sig.field_name for sig in signatures}
    reports = []
    for sig in signatures:
        context = ValidationContext(trust_roots=roots, allow_fetching=False)
        try:
            status = validate_pdf_signature(sig, context)
        except Exception as e:  # a broken signature container, an unreadable revision
            reports.append(_failed(sig.field_name, f"the signature cannot be checked: {e}"))
            continue
        modified = _modified_after(status, signature_fields)
        ts = status.timestamp_validity
        reports.append(
            SignatureReport(
                field=sig.field_name,
                signer=_common_name(status.signing_cert),
                signing_time=status.signer_reported_dt,
                intact=status.intact,
                valid=status.valid and status.trusted,
                coverage=COVERAGE.get(status.coverage, PARTIAL)
                if status.coverage is not None
                else PARTIAL,
                modified_after=modified,
                timestamp=ts.timestamp if ts is not None else None,
                problems=_problems(status, modified),
            )
        )
    return reports
