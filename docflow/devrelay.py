"""A development catch-all relay: saves every outgoing message as an .eml file.

Started by `docflow serve --dev-relay` (what `scripts/run` does) so that a
newcomer sees receipts without a mail server. Never for production.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from aiosmtpd.smtp import SMTP, Envelope, Session

from docflow.storage.durable import write_durably


class CatchAllHandler:
    """Accepts every recipient; writes `<n>-<rcpt>.eml` under the directory."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.count = len(list(directory.glob("*.eml"))) if directory.exists() else 0

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.count += 1
        rcpt = (envelope.rcpt_tos or ["unknown"])[0].replace("/", "_")
        path = self.directory / f"{self.count:05d}-{rcpt}.eml"
        await asyncio.to_thread(
            write_durably, path, envelope.original_content or b"", self.directory / ".tmp"
        )
        return "250 2.0.0 Saved"


async def start_dev_relay(directory: Path, host: str, port: int) -> asyncio.Server:
    handler = await asyncio.to_thread(CatchAllHandler, directory)
    loop = asyncio.get_running_loop()
    return await loop.create_server(
        lambda: SMTP(handler, hostname="devrelay", decode_data=False, enable_SMTPUTF8=True),
        host=host,
        port=port,
    )
