"""CSV downloads: text that would start a spreadsheet formula is written as text."""

from __future__ import annotations

from docflow.web.csv_export import cell


def test_a_subject_shaped_like_a_formula_is_written_as_text() -> None:
    assert cell('=HYPERLINK("http://x","bấm")') == '\'=HYPERLINK("http://x","bấm")'
    assert [cell(v) for v in ("+1", "-2", "@SUM(A1)", "\tx")] == ["'+1", "'-2", "'@SUM(A1)", "'\tx"]


def test_ordinary_text_and_numbers_stay_as_they_are() -> None:
    assert [cell(v) for v in ("01/KH-BDT", "Kế hoạch", 3, -2, 0.5)] == [
        "01/KH-BDT",
        "Kế hoạch",
        3,
        -2,
        0.5,
    ]
