"""A message whose processing keeps failing is quarantined after bounded tries; others flow."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import aiosmtplib
import pytest

from docflow.intake import analysis
from docflow.intake.models import InboundMessage
from tests.conftest import Relay, Stack, make_settings, wait_for
from tests.integration.test_spine_mail import AUTHOR, draft


async def test_failing_message_is_quarantined_after_max_attempts_and_does_not_block_others(
    database_url: str, relay: Relay, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = analysis.prepare_files

    def flaky(attachments, allowed, blobs):  # type: ignore[no-untyped-def]
        if any(a.filename == "hỏng.docx" for a in attachments):
            raise RuntimeError("extractor crashed")
        return real(attachments, allowed, blobs)

    monkeypatch.setattr(analysis, "prepare_files", flaky)
    settings = make_settings(tmp_path / "data", database_url, relay.port)
    # analysis in a thread of this process, so that the patched extractor is the one used
    intake = replace(settings.intake, max_attempts=3, retry_seconds=0.0, analysis_processes=0)
    settings = replace(settings, intake=intake)
    stack = Stack(settings, relay)
    await stack.start()
    try:
        await stack.add_user(AUTHOR, "Lê Thị Thu")
        await stack.send(draft("Văn bản lỗi", name="hỏng.docx"))
        await stack.send(draft("Văn bản tốt"))
        await wait_for(stack.documents, what="the good draft's document")

        async def quarantined() -> InboundMessage | None:
            await stack.services.intake.sweep()  # instead of waiting for the scheduler
            return await InboundMessage.get_or_none(state="quarantined")

        row = await wait_for(quarantined, what="the failing message in the quarantine")
        assert row.reason == "processing_failed"
        assert row.attempts == 3
        assert "extractor crashed" in (row.detail or "")
        assert [d["title"] for d in await stack.documents()] == ["Văn bản tốt"]
    finally:
        await stack.stop()


async def test_storage_failure_before_the_reply_answers_451_and_keeps_nothing(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sender keeps the message and retries; docflow never says 250 for what it lost."""
    await stack.add_user(AUTHOR, "Lê Thị Thu")

    async def database_down(*args: object, **kwargs: object) -> int:
        raise ConnectionError("database unreachable")

    monkeypatch.setattr(stack.services.intake, "_insert", database_down)
    message = draft("Văn bản khi cơ sở dữ liệu lỗi")
    with pytest.raises(aiosmtplib.SMTPDataError) as refused:
        await stack.send(message)
    assert refused.value.code == 451
    spool = stack.settings.spool_dir
    assert not [p for p in spool.rglob("*") if p.is_file()], "nothing may stay in the spool"
    assert await InboundMessage.all().count() == 0

    monkeypatch.undo()  # the database is back: the sender's retry goes through
    await stack.send(message)
    docs = await wait_for(stack.documents, what="the retried draft")
    assert [d["title"] for d in docs] == ["Văn bản khi cơ sở dữ liệu lỗi"]
