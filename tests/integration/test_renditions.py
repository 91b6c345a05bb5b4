"""PDF renditions: every DOCX draft and annex is rendered by the warm LibreOffice pool in
the background, recorded on the version, and served inline to read in a browser."""

from __future__ import annotations

import re
import subprocess
import tempfile
import unicodedata
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from tests import mails
from tests.conftest import Relay, Stack, make_settings, wait_for
from tests.decree30 import make_decree30_docx
from tests.filebuilders import make_odt
from tests.integration.test_issuing import HEAD, office
from tests.integration.test_legacy_text import MOTTO, PLAN, TITLE
from tests.integration.test_spine_mail import AUTHOR
from tests.integration.test_workflow_links import SIGNER, click, links_of, submit, task_mails

ODT = "application/vnd.oasis.opendocument.text"
WORD_97 = "application/msword"
DATA = Path(__file__).parent.parent / "data"


@pytest.fixture
async def rendering(database_url: str, relay: Relay, tmp_path: Path) -> AsyncIterator[Stack]:
    """docflow with one warm converter and a quick sweep."""
    settings = make_settings(tmp_path / "data", database_url, relay.port, DOCFLOW_RENDITIONS="1")
    s = Stack(settings, relay)
    await s.start()
    yield s
    await s.stop()


def pdftotext(data: bytes) -> str:
    with tempfile.NamedTemporaryFile(suffix=".pdf") as f:
        f.write(data)
        f.flush()
        out = subprocess.run(["pdftotext", "-layout", f.name, "-"], capture_output=True, check=True)
    return unicodedata.normalize("NFC", out.stdout.decode())


async def test_a_mailed_docx_and_its_annex_get_pdf_renditions_that_open_in_the_browser(
    rendering: Stack,
) -> None:
    stack = rendering
    await stack.add_user(AUTHOR, "Lê Thị Thu")
    await stack.add_user(HEAD, "Nguyễn Thị An", ["truong-phong"], language="en")
    draft = make_decree30_docx(body_paragraphs=8)  # two pages
    annex = make_odt(["Phụ lục: danh sách đại biểu người dân tộc Mông, Dao, Tày"])
    await stack.send(
        mails.draft(
            "[KH] Kế hoạch Đại hội đại biểu các dân tộc",
            "Kế hoạch Đại hội.docx",
            draft,
            annexes=[("Phụ lục.odt", annex, ODT)],
        )
    )
    code = (await wait_for(stack.documents, what="the document"))[0]["code"]

    async def rendered() -> list[dict[str, Any]] | None:
        files = (await stack.document(code))["versions"][0]["files"]
        states = [f["rendition"]["status"] for f in files]
        assert "failed" not in states, files
        return files if states == ["ok", "ok"] else None

    files = await wait_for(rendered, seconds=60, what="both renditions")
    main, appendix = files
    assert main["rendition"]["pages"] == 2 and appendix["rendition"]["pages"] == 1
    assert stack.http is not None
    headers = {"Authorization": f"Bearer {stack.settings.http.admin_token}"}
    async with stack.http.get(stack.base + main["rendition"]["url"], headers=headers) as r:
        assert r.status == 200 and r.content_type == "application/pdf"
        assert r.headers["Content-Disposition"].startswith("inline;")
        text = pdftotext(await r.read())
    assert "Nguyễn Văn Đức" in text and "PHÓ TRƯỞNG BAN" in text
    async with stack.http.get(stack.base + appendix["rendition"]["url"], headers=headers) as r:
        assert "dân tộc Mông, Dao, Tày" in " ".join(pdftotext(await r.read()).split())

    # the original stays what was mailed; the rendition is a file beside it
    _, original = await stack.api(f"/api/v1/documents/{code}/versions/1/files/0")
    assert original == draft

    # the reviewer's mailed link opens a page that offers the PDF, readable through that link
    [task] = await task_mails(stack, HEAD)
    status, page = await click(stack, links_of(task)["open"])
    assert status == 200 and "Read as PDF" in page and "(2 pages)" in page
    pdf_link = re.search(r'href="(/t/[^"]+/files/0/pdf)"', page)
    assert pdf_link, page
    async with stack.http.get(stack.base + pdf_link.group(1)) as r:
        assert r.status == 200 and r.content_type == "application/pdf"
        assert "Nguyễn Văn Đức" in pdftotext(await r.read())
    async with stack.http.get(stack.base + pdf_link.group(1).replace("/t/", "/t/x")) as r:
        assert r.status in (403, 404, 410) and r.content_type == "text/html", "a forged link"


async def test_a_word_97_draft_typed_in_tcvn3_is_read_as_unicode_and_found_once_issued(
    rendering: Stack,
) -> None:
    """A DOC has no text reader of its own: its conversion gives the text, the old font
    converted, and the archive finds the issued document by its Unicode words."""
    stack = rendering
    await office(stack)
    doc_file = (DATA / "ke-hoach-tcvn3.doc").read_bytes()  # LibreOffice's Word 97 of tcvn3_docx
    assert doc_file.startswith(b"\xd0\xcf\x11\xe0"), "an OLE file, as Word 97 writes"
    assert "Ban D©n téc".encode("utf-16-le") in doc_file, "its words as .VnTime keeps them"
    await stack.send(mails.draft(f"[KH] {TITLE}", "Kế hoạch.doc", doc_file, WORD_97))
    code = (await wait_for(stack.documents, what="the document"))[0]["code"]

    async def read() -> dict[str, Any] | None:
        [main] = (await stack.document(code))["versions"][0]["files"]
        assert main["rendition"] is None or main["rendition"]["status"] != "failed", main
        return main if main["rendition"] and main["rendition"]["status"] == "ok" else None

    await wait_for(read, seconds=60, what="the rendition")
    status, version = await stack.api(f"/api/v1/documents/{code}/versions/1")
    assert status == 200, version
    [main] = version["files"]
    assert main["text"] == "\n".join([MOTTO, *PLAN])
    assert main["legacy_encoding"] == "tcvn3" and main["extract_error"] is None

    [review] = await task_mails(stack, HEAD)
    assert (await submit(stack, links_of(review)["approve"], "approve"))[0] == 200
    [signoff] = await task_mails(stack, SIGNER)
    assert (await submit(stack, links_of(signoff)["approve"], "approve"))[0] == 200
    await stack.settled()
    number = (await stack.document(code))["number"]
    for words in ('"dân tộc thiểu số"', "dai hoi dai bieu"):
        status, found = await stack.api(f"/api/v1/search?q={quote(words)}")
        assert status == 200 and [h["number"] for h in found["items"]] == [number], words
