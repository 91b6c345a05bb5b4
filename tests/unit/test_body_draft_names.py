"""The file name of a draft typed in the mail: the subject, safe on any system."""

from __future__ import annotations

import pytest

from docflow.intake.body_draft import pdf_name


@pytest.mark.parametrize(
    ("subject", "name"),
    [
        ("Giấy mời họp: tuần 3/2027", "Giấy mời họp tuần 3 2027.pdf"),
        ("Re: [DF-2027-000001] Tờ trình", "Tờ trình.pdf"),  # prefixes and codes go
        ('Fwd: "Báo cáo" <quý IV>?', "Báo cáo quý IV.pdf"),
        ("Kế hoạch...  ", "Kế hoạch.pdf"),  # Windows drops trailing dots itself
        ("Tie\u0302\u0301ng Vie\u0323\u0302t", "Tiếng Việt.pdf"),  # decomposed tones: NFC
        ("a\tb\x00c", "a b c.pdf"),
        ("CON", "CON (thư).pdf"),  # a device name to Windows, even as CON.pdf
        ("", "noi-dung-thu.pdf"),
        (" / ", "noi-dung-thu.pdf"),
    ],
)
def test_the_pdf_is_named_after_the_subject(subject: str, name: str) -> None:
    assert pdf_name(subject) == name


def test_a_long_subject_is_cut_well_under_the_file_name_limit() -> None:
    name = pdf_name("Báo cáo " * 60)
    assert name.endswith("o.pdf") and len(name.encode()) < 255
