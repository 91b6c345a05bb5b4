"""The warm LibreOffice pool renders Vietnamese drafts as PDF and survives hangs and crashes."""

from __future__ import annotations

import asyncio
import io
import logging
import os
import random
import signal
import time
import unicodedata
from collections.abc import AsyncIterator
from pathlib import Path

import docx
import pypdf
import pytest
import pytest_asyncio

from docflow.documents.converters import ConversionError, ConverterPool, Rendition
from tests.filebuilders import make_docx_python_docx, make_odt, make_rtf

pytestmark = pytest.mark.asyncio(loop_scope="module")

TITLE = "Kế hoạch triển khai công tác dân tộc năm 2027 — Nguyễn Văn Đức"
BODY = "Ủy ban nhân dân tỉnh Đắk Lắk đề nghị các sở, ngành phối hợp thực hiện."
# ~80 pages: long enough (≈0.2 s warm) to be caught mid-conversion by a kill or a tiny timeout
LONG = make_docx_python_docx([f"{TITLE}. {BODY} " * 4] * 400)


def page_texts(rendition: Rendition) -> list[str]:
    """Each page's text as pypdf extracts it, NFC-checked and with whitespace folded."""
    reader = pypdf.PdfReader(io.BytesIO(rendition.pdf))
    texts = [page.extract_text() for page in reader.pages]
    assert all(unicodedata.is_normalized("NFC", text) for text in texts)
    return [" ".join(text.split()) for text in texts]


def restarts(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The reasons of the pool's restart warnings, as the structured log carries them."""
    return [getattr(r, "reason", "?") for r in caplog.records if r.levelno >= logging.WARNING]


def alive(pid: int) -> bool:
    """Whether `pid` still exists at all (a zombie counts: it was not reaped)."""
    return Path(f"/proc/{pid}").exists()


def docx_with_page_breaks(headings: list[str]) -> bytes:
    """One page per heading, split by hard page breaks, so the right page count is known."""
    document = docx.Document()
    for i, heading in enumerate(headings):
        document.add_paragraph(heading)
        document.add_paragraph(BODY)
        if i < len(headings) - 1:
            document.add_page_break()
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def pool(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ConverterPool]:
    pool = ConverterPool(tmp_path_factory.mktemp("converters"), size=2, timeout=30)
    await pool.start()
    yield pool
    await pool.close()


async def test_docx_keeps_the_vietnamese_text_exactly(pool: ConverterPool) -> None:
    rendition = await pool.convert(make_docx_python_docx([TITLE, BODY]), ".docx")
    assert rendition.pdf.startswith(b"%PDF-") and rendition.pages == 1
    assert page_texts(rendition) == [f"{TITLE} {BODY}"]
    assert list((pool.workdir / "jobs").iterdir()) == []  # temporary files are gone


async def test_page_count_of_a_multi_page_docx(pool: ConverterPool) -> None:
    headings = [f"Phần {n}: {TITLE}" for n in ("một", "hai", "ba")]
    rendition = await pool.convert(docx_with_page_breaks(headings), ".DOCX")
    assert rendition.pages == 3
    for heading, text in zip(headings, page_texts(rendition), strict=True):
        assert text == f"{heading} {BODY}"


@pytest.mark.parametrize(
    ("data", "suffix"),
    [(make_odt([TITLE, BODY]), ".odt"), (make_rtf(f"{TITLE}\n{BODY}"), ".rtf")],
    ids=["odt", "rtf"],
)
async def test_odt_and_rtf_convert(pool: ConverterPool, data: bytes, suffix: str) -> None:
    rendition = await pool.convert(data, suffix)
    assert rendition.pages == 1 and page_texts(rendition) == [f"{TITLE} {BODY}"]


async def test_twenty_at_once_all_finish_with_their_own_text(pool: ConverterPool) -> None:
    titles = [f"Tờ trình số {n}/2027 về công tác dân tộc — Đặng Thị Hương" for n in range(20)]
    jobs = [pool.convert(make_docx_python_docx([title]), ".docx") for title in titles]
    renditions = await asyncio.gather(*jobs)
    assert [page_texts(r) for r in renditions] == [[title] for title in titles]
    assert len(pool.pids()) == 2


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (random.Random(2027).randbytes(20_000), "read the file as 'Text', not a document"),
        (make_docx_python_docx([TITLE])[:3000], "could not open the file"),
        (b"", "the file is empty"),
    ],
    ids=["random", "truncated", "empty"],
)
async def test_garbage_named_docx_is_refused_quickly(
    pool: ConverterPool, data: bytes, why: str
) -> None:
    started = time.monotonic()
    with pytest.raises(ConversionError, match=why):
        await pool.convert(data, ".docx")
    assert time.monotonic() - started < 10


async def test_unsupported_suffix_is_refused(pool: ConverterPool) -> None:
    with pytest.raises(ConversionError, match=r"cannot convert '\.pdf' files"):
        await pool.convert(b"%PDF-1.7", ".pdf")


async def test_a_timeout_replaces_the_converter(
    pool: ConverterPool, caplog: pytest.LogCaptureFixture
) -> None:
    with pytest.raises(ConversionError, match=r"conversion timed out after 0\.01 s"):
        await pool.convert(LONG, ".docx", limit=0.01)
    assert restarts(caplog) == ["conversion timed out after 0.01 s"]
    rendition = await pool.convert(make_docx_python_docx([TITLE]), ".docx")
    assert page_texts(rendition) == [TITLE]


async def test_a_killed_soffice_fails_its_job_and_the_next_one_succeeds(
    pool: ConverterPool, caplog: pytest.LogCaptureFixture
) -> None:
    await asyncio.gather(*(pool.convert(make_odt([TITLE]), ".odt") for _ in range(2)))
    before = pool.pids()
    assert len(before) == 2
    job = asyncio.create_task(pool.convert(LONG, ".docx"))
    jobs_dir = pool.workdir / "jobs"
    for _ in range(5000):  # until the job has reached its converter
        if any(jobs_dir.glob("*/input.docx")):
            break
        await asyncio.sleep(0.002)
    for pid in before:
        os.kill(pid, signal.SIGKILL)
    with pytest.raises(ConversionError, match="crashed"):
        await job
    rendition = await pool.convert(make_docx_python_docx([TITLE]), ".docx")
    assert page_texts(rendition) == [TITLE]
    assert not set(pool.pids()) & set(before)
    assert restarts(caplog) == ["LibreOffice crashed during a conversion"]
    assert not any(alive(pid) for pid in before)  # reaped, not zombies


async def test_recycling_after_max_jobs_is_quiet_and_close_leaves_nothing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="docflow.renditions")
    small = ConverterPool(tmp_path, size=1, max_jobs=2)
    await small.start()
    assert small.pids() == []  # lazy: nothing starts until something is converted
    try:
        seen: list[int] = []
        for n in range(3):
            rendition = await small.convert(make_docx_python_docx([f"{TITLE} ({n})"]), ".docx")
            assert page_texts(rendition) == [f"{TITLE} ({n})"]
            seen += small.pids()
        assert seen[0] == seen[1] != seen[2]  # a fresh soffice after two jobs
        assert not alive(seen[0])
        assert [r.levelname for r in caplog.records] == ["INFO"]  # recycled, no warning
    finally:
        started = time.monotonic()
        await small.close()
    assert time.monotonic() - started < 5
    assert small.pids() == [] and not any(alive(pid) for pid in seen)
    with pytest.raises(ConversionError, match="closed"):
        await small.convert(make_docx_python_docx([TITLE]), ".docx")


async def test_an_office_left_running_on_the_profile_is_killed_not_joined(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A serve killed with SIGKILL leaves its soffice.bin running on the profile; the next
    serve's converter must not hand its work to it (LibreOffice would, and exit 0)."""
    old = ConverterPool(tmp_path, size=1)
    new = ConverterPool(tmp_path, size=1)
    try:
        await old.convert(make_odt([TITLE]), ".odt")
        [left] = old.pids()
        rendition = await new.convert(make_docx_python_docx([TITLE]), ".docx")
        assert page_texts(rendition) == [TITLE]
        assert left not in new.pids()
        assert "orphaned converter killed" in caplog.messages
    finally:
        await new.close()
        await old.close()
    assert not alive(left)
