"""OCR: a scanned letter or a phone's photo mailed in becomes text read by OCR (Vietnamese
and English), marked so on the version, shown on the decision page and found by the
archive's search with or without diacritics; a scan over the page limit is read to the
limit and recorded; an unreadable file or a timeout is recorded and the version stands.

The tests run each OCR sweep themselves (the scheduler's interval is an hour here), so they
choose whether a document is issued before or after its text is read.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
import subprocess
import tempfile
import time
import unicodedata
from collections.abc import AsyncIterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from docflow.documents.ocr import Ocr
from tests import mails
from tests.conftest import Relay, Stack, make_settings, wait_for
from tests.integration.test_issuing import HEAD, office
from tests.integration.test_workflow_links import SIGNER, click, links_of, submit, task_mails
from tests.scans import logo_png, photo_jpeg, sample_lines, scan_pdf

PAGE = sample_lines(0, 10)  # "Năm 2018, công tác cải cách hành chính của Ban Dân tộc …"
WORDS = ("cải cách hành chính", "cai cach hanh chinh")  # as typed, and without diacritics
PDF = "application/pdf"


def stack_with_ocr(database_url: str, relay: Relay, tmp_path: Path, **ocr: Any) -> Stack:
    settings = make_settings(tmp_path / "data", database_url, relay.port, DOCFLOW_OCR="1")
    ocr = {"sweep_seconds": 3600, "max_pages": 2, **ocr}
    return Stack(dataclasses.replace(settings, ocr=dataclasses.replace(settings.ocr, **ocr)), relay)


@pytest.fixture
async def reading(database_url: str, relay: Relay, tmp_path: Path) -> AsyncIterator[Stack]:
    """docflow with OCR on, at most 2 pages read per file."""
    s = stack_with_ocr(database_url, relay, tmp_path)
    await s.start()
    await office(s)
    yield s
    await s.stop()


def ocr_of(stack: Stack) -> Ocr:
    assert stack.services.ocr is not None
    return stack.services.ocr


async def read_scans(stack: Stack) -> int:
    """One OCR sweep, once mail has stopped arriving (OCR waits for that): files read."""
    await wait_for(lambda: _quiet(stack), what="mail to stop arriving")
    return await ocr_of(stack).sweep()


async def _quiet(stack: Stack) -> bool:
    return not stack.services.intake.arriving()


def scan_mail(subject: str, name: str, data: bytes, mime: str, **kw: Any) -> EmailMessage:
    return mails.draft(subject, name, data, mime, body="Kính gửi Lãnh đạo Ban.", **kw)


async def version_files(stack: Stack, code: str) -> list[dict[str, Any]]:
    status, version = await stack.api(f"/api/v1/documents/{code}/versions/1")
    assert status == 200, version
    return list(version["files"])


async def found(stack: Stack, words: str) -> list[str]:
    """The numbers of the issued documents the archive's search finds by `words`."""
    status, page = await stack.api(f"/api/v1/search?q={words}")
    assert status == 200, page
    return [hit["number"] for hit in page["items"]]


async def decide_all(stack: Stack, count: int = 1) -> str:
    """Approve the review and the sign-off by their mailed links: the tracking code."""
    review = (await task_mails(stack, HEAD, count))[-1]
    assert (await submit(stack, links_of(review)["approve"], "approve"))[0] == 200
    signoff = (await task_mails(stack, SIGNER, count))[-1]
    assert (await submit(stack, links_of(signoff)["approve"], "approve"))[0] == 200
    await stack.settled()
    code = re.search(r"DF-\d{4}-\d{6}", str(signoff["Subject"]))
    assert code
    return code.group(0)


def one_line(text: str) -> str:
    return " ".join(unicodedata.normalize("NFC", text).split())


def pdftotext(data: bytes) -> str:
    with tempfile.NamedTemporaryFile(suffix=".pdf") as f:
        f.write(data)
        f.flush()
        out = subprocess.run(["pdftotext", f.name, "-"], capture_output=True, check=True)
    return one_line(out.stdout.decode())


async def test_a_scan_issued_before_its_ocr_is_found_by_words_once_read(reading: Stack) -> None:
    stack = reading
    await stack.send(
        scan_mail("[KH] Văn bản quét số 1", "Báo cáo.pdf", scan_pdf([PAGE]), "application/pdf")
    )
    code = await decide_all(stack)
    doc = await stack.document(code)
    assert doc["status"] == "issued", "issuing never waits for OCR"
    assert await found(stack, WORDS[0]) == [], "nothing of the scan's text is known yet"

    assert await read_scans(stack) == 1
    (scan,) = await version_files(stack, code)
    assert scan["text_source"] == "ocr"
    assert scan["ocr"]["status"] == "ok" and scan["ocr"]["pages_read"] == 1
    assert WORDS[0] in one_line(scan["text"]) and "Ban Dân tộc" in scan["text"]
    for words in (*WORDS, "chuyen mon", "Dân tộc"):  # the archive's index heard of it
        assert await found(stack, words) == [doc["number"]], words
    assert await read_scans(stack) == 0, "a file is read once"


async def test_a_phone_photo_gets_text_a_searchable_pdf_and_an_ocr_label(reading: Stack) -> None:
    stack = reading
    photo = photo_jpeg(PAGE)
    await stack.send(
        scan_mail(
            "[KH] Ảnh chụp văn bản",
            "IMG_2041.jpg",
            photo,
            "image/jpeg",
            annexes=[("logo.png", logo_png(), "image/png")],  # a signature's logo: no page
        )
    )
    review = (await task_mails(stack, HEAD))[-1]
    code = re.search(r"DF-\d{4}-\d{6}", str(review["Subject"]))
    assert code
    (pending,) = await version_files(stack, code.group(0))
    assert (pending["name"], pending["mime"]) == ("IMG_2041.jpg", "image/jpeg")
    assert pending["ocr"] is None and pending["rendition"] is None, "not seen by OCR yet"

    assert await read_scans(stack) == 1
    (photo_file,) = await version_files(stack, code.group(0))
    assert photo_file["text_source"] == "ocr" and WORDS[0] in one_line(photo_file["text"])
    rendition = photo_file["rendition"]
    assert rendition["status"] == "ok" and rendition["pages"] == 1
    status, pdf = await stack.api(rendition["url"])
    assert status == 200 and pdf.startswith(b"%PDF")
    assert WORDS[0] in pdftotext(pdf), "the rendition's text can be searched and copied"

    status, page = await click(stack, links_of(review)["open"])
    assert status == 200
    assert "Văn bản nhận dạng tự động (OCR)" in page and "Ban Dân tộc" in page

    await decide_all(stack)
    number = (await stack.document(code.group(0)))["number"]
    assert await found(stack, WORDS[1]) == [number], "issued with the text read"


async def test_ocr_pauses_while_mail_arrives_and_reads_on_once_it_stops(reading: Stack) -> None:
    stack = reading
    await stack.send(scan_mail("[KH] Văn bản quét số 2", "Quét.pdf", scan_pdf([PAGE]), PDF))
    await stack.settled()
    started = time.monotonic()
    sweep = asyncio.create_task(read_scans(stack))
    process = await wait_for(lambda: _ocr_process(stack), what="the OCR process")
    states = []
    for i in range(8):  # drafts arriving, one every ~0.15 s
        await stack.send(mails.draft(f"Công văn số {i}", "Công văn.txt", b"Kinh gui", "text/plain"))
        states.append(_state(process))
        await asyncio.sleep(0.1)
    assert "T" in states[2:], f"stopped while mail arrived: {states}"
    assert await sweep == 1, "and read once mail stopped"
    code = (await stack.documents())[-1]["code"]
    (scan,) = await version_files(stack, code)
    assert scan["ocr"]["status"] == "ok" and WORDS[0] in one_line(scan["text"])
    assert scan["ocr"]["seconds"] < time.monotonic() - started - 1, "pauses are not counted"


async def _ocr_process(stack: Stack) -> int | None:
    running = ocr_of(stack)._running
    return running.proc.pid if running is not None and running.proc is not None else None


def _state(pid: int) -> str:
    """The process's state as the kernel has it: R, S, T (stopped), Z…"""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "gone"


async def test_a_scan_over_the_page_limit_is_read_to_the_limit_and_recorded(
    reading: Stack,
) -> None:
    stack = reading
    pages = [sample_lines(0, 3), sample_lines(3, 3), ["Phụ lục: Đoàn kiểm tra Tây Nguyên"]]
    await stack.send(scan_mail("[KH] Hồ sơ quét", "Hồ sơ.pdf", scan_pdf(pages), "application/pdf"))
    await stack.settled()
    code = (await stack.documents())[0]["code"]

    assert await read_scans(stack) == 1
    (scan,) = await version_files(stack, code)
    assert scan["ocr"] == {
        "status": "ok",
        "pages": 3,
        "pages_read": 2,
        "cut_at_page_limit": True,
        "seconds": scan["ocr"]["seconds"],
        "error": None,
    }
    text = one_line(scan["text"])
    assert "Năm 2018" in text and "Tây Nguyên" not in text, "pages 1–2 read, page 3 left"
    assert await read_scans(stack) == 0, "recorded, not left to be tried again"


async def test_an_unreadable_image_and_a_timeout_are_recorded_and_the_version_stands(
    database_url: str, relay: Relay, tmp_path: Path
) -> None:
    stack = stack_with_ocr(database_url, relay, tmp_path)
    await stack.start()
    try:
        await office(stack)
        broken = photo_jpeg(PAGE)[:3000]  # a JPEG cut short: its header says it is a page
        await stack.send(scan_mail("[KH] Ảnh chụp lỗi", "Ảnh hỏng.jpg", broken, "image/jpeg"))
        await task_mails(stack, HEAD)  # the version went to review as usual
        assert await read_scans(stack) == 1
        [first] = await stack.documents()
        [photo] = await version_files(stack, first["code"])
        assert photo["ocr"]["status"] == "failed"
        assert photo["ocr"]["error"].startswith("unreadable image")
        assert photo["rendition"]["status"] == "failed", "no searchable PDF, and it says why"

        # a scan that takes longer than the limit (the limit lowered only now: on a busy
        # machine even the broken photo's worker can take 0.2 s to start)
        ocr = ocr_of(stack)
        ocr.settings = dataclasses.replace(ocr.settings, timeout_seconds=0.2)
        await stack.send(
            scan_mail("[KH] Bản quét lâu", "Bản quét.pdf", scan_pdf([PAGE]), "application/pdf")
        )
        await task_mails(stack, HEAD, 2)
        assert await read_scans(stack) == 1
        code = next(d["code"] for d in await stack.documents() if d["code"] != first["code"])
        [scan] = await version_files(stack, code)
        assert scan["ocr"]["status"] == "failed" and "stopped after 0.2 s" in scan["ocr"]["error"]
        assert scan["text_source"] == "file" and photo["text_source"] == "file"
        assert await read_scans(stack) == 0, "neither is tried again"
        for d in await stack.documents():
            assert d["status"] == "in_review"
        assert not list((stack.settings.data_dir / "ocr").iterdir()), "no work left on disk"
    finally:
        await stack.stop()
