"""The parts of the reports that need no database: page counts read from files, the
duplex and percentile arithmetic, the server-drawn bar chart."""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

from docflow.archive.paper import sheets
from docflow.documents.page_count import count_pages
from docflow.web.charts import Bar, bar_chart
from docflow.workflow.timeliness import percentile
from tests.filebuilders import make_docx_python_docx, make_pdf
from tests.integration.test_registers_reports import docx_of, pdf_of

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
ODT = "application/vnd.oasis.opendocument.text"


def written(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "blob"
    path.write_bytes(data)
    return path


def test_pdf_pages_are_read_from_its_page_tree(tmp_path: Path) -> None:
    found = count_pages(written(tmp_path, pdf_of(3)), "application/pdf")
    assert (found.pages, found.how) == (3, "pdf")


def test_docx_pages_are_those_word_saved_in_its_properties(tmp_path: Path) -> None:
    found = count_pages(written(tmp_path, docx_of(7)), DOCX)
    assert (found.pages, found.how) == (7, "docx")


def test_docx_without_a_saved_page_count_is_not_counted(tmp_path: Path) -> None:
    data = make_docx_python_docx(["Tờ trình"])
    stripped = re.sub(
        rb"<Pages>\d+</Pages>", b"", zipfile.ZipFile(io.BytesIO(data)).read("docProps/app.xml")
    )
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as original, zipfile.ZipFile(out, "w") as z:
        for item in original.infolist():
            z.writestr(
                item, stripped if item.filename == "docProps/app.xml" else original.read(item)
            )
    assert count_pages(written(tmp_path, out.getvalue()), DOCX).pages is None


def test_odt_pages_come_from_its_document_statistics(tmp_path: Path) -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("mimetype", ODT)
        z.writestr(
            "meta.xml",
            '<office:document-meta xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0"'
            ' xmlns:meta="urn:oasis:names:tc:opendocument:xmlns:meta:1.0"><office:meta>'
            '<meta:document-statistic meta:page-count="4" meta:word-count="900"/>'
            "</office:meta></office:document-meta>",
        )
    found = count_pages(written(tmp_path, out.getvalue()), ODT)
    assert (found.pages, found.how) == (4, "odt")


def test_damaged_files_and_other_types_are_not_counted(tmp_path: Path) -> None:
    assert count_pages(written(tmp_path, make_pdf("x")[:300]), "application/pdf").pages is None
    assert count_pages(written(tmp_path, b"not a zip"), DOCX).pages is None
    assert count_pages(written(tmp_path, b"plain text"), "text/plain").how is None
    assert count_pages(tmp_path / "missing", "application/pdf").pages is None


def test_a_copy_printed_on_both_sides_takes_half_its_pages_rounded_up() -> None:
    assert [sheets(p) for p in (0, 1, 2, 3, 4, 5)] == [0, 1, 1, 2, 2, 3]


def test_the_90th_percentile_is_the_nearest_rank() -> None:
    assert percentile([], 90) is None
    assert percentile([5.0], 90) == 5.0
    assert percentile([1.0, 48.0], 90) == 48.0
    assert percentile([float(x) for x in range(1, 11)], 90) == 9.0
    assert percentile([float(x) for x in range(1, 21)], 90) == 18.0


def test_the_chart_draws_a_bar_for_each_month_with_data_and_labels_every_month() -> None:
    bars = [Bar(f"T{m}", v, str(v), f"Tháng {m}: {v} <tờ>") for m, v in ((1, 0), (2, 5), (3, 10))]
    svg = str(bar_chart(bars, "Giấy & mực", "Mô tả", "c"))
    assert svg.count("<rect") == 2
    assert all(f">T{m}</text>" in svg for m in (1, 2, 3))
    assert '<title id="c-title">Giấy &amp; mực</title>' in svg
    assert "Tháng 2: 5 &lt;tờ&gt;" in svg, "text is escaped"
    assert 'role="img"' in svg and "<script" not in svg and "href" not in svg
