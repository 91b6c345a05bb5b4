"""The status page a receipt links to, as a person sees it: opened in headless Chromium."""

from __future__ import annotations

import asyncio
import re
import shutil
from pathlib import Path

import pytest

from tests.conftest import Stack, wait_for
from tests.integration.test_spine_mail import AUTHOR, draft

CHROMIUM = shutil.which("chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


async def rendered_text(url: str, profile: Path) -> str:
    """The page's DOM after Chromium has loaded and rendered it."""
    if CHROMIUM is None:
        pytest.fail("chromium is missing: run scripts/bootstrap --test")
    proc = await asyncio.create_subprocess_exec(
        CHROMIUM,
        *FLAGS,
        f"--user-data-dir={profile}",
        "--dump-dom",
        url,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    return re.sub(r"<[^>]+>", " ", out.decode())


async def test_receipt_link_opens_the_status_page_in_a_browser(
    stack: Stack, tmp_path: Path
) -> None:
    await stack.add_user(AUTHOR, "Lê Thị Thu")
    await stack.send(draft("Kế hoạch công tác dân tộc năm 2027"))
    receipt = (await wait_for(lambda: _receipts(stack), what="receipt"))[0]
    url = re.search(r"http://\S+/status/\S+", receipt.get_content())
    assert url, receipt.get_content()

    page = await rendered_text(url.group(0), tmp_path / "profile")
    assert "Kế hoạch công tác dân tộc năm 2027" in page
    # status, stage and workflow, in Vietnamese
    assert "Đang xem xét" in page and "Văn phòng xem xét" in page and "Công văn" in page
    assert re.search(r"\d\d/\d\d/\d{4} \d\d:\d\d", page)  # received at, office time
    assert "Kế hoạch.docx" in page

    forged = url.group(0)[:-4] + "0000"
    refused = await rendered_text(forged, tmp_path / "profile2")
    assert "Kế hoạch công tác" not in refused
    assert "404" in refused and "Không tìm thấy" in refused  # a page, not JSON


async def _receipts(stack: Stack) -> list[object]:
    return list(stack.relay.to(AUTHOR))
