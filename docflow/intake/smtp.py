"""The SMTP/LMTP listener: a thin aiosmtpd handler in front of `IntakeService.receive`.

It checks recipients (550 for addresses that are neither intake nor bounce), leaves the size
limit to aiosmtpd (SIZE advertised, 552 over it), and answers 250 only after
the message is stored durably and recorded; anything failing before that is a
451, so the sending server keeps the message and tries again.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

from docflow.db.outage import unavailable
from docflow.intake.service import IntakeService
from docflow.intake.smtp_data import ChunkedLMTP, ChunkedSMTP
from docflow.intake.spool import Spool, SpoolWriter

log = logging.getLogger("docflow.smtp")

OK = "250 2.0.0 Message stored"
NO_SUCH_RECIPIENT = "550 5.1.1 No such recipient here"
TRY_AGAIN = "451 4.3.0 Temporary failure, please try again later"
DATABASE_AWAY = "451 4.3.0 Storage temporarily unavailable, please try again later"


class IntakeHandler:
    """aiosmtpd hooks: only protocol decisions here, the rest is the service's."""

    def __init__(self, intake: IntakeService, spool: Spool, lmtp: bool) -> None:
        self.intake = intake
        self.spool = spool  # where DATA is written as it arrives
        self.lmtp = lmtp

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if not self.intake.accepts(address):
            log.info("recipient refused", extra={"rcpt": address, "peer": str(session.peer)})
            return NO_SUCH_RECIPIENT
        if not self.intake.database.available:  # the sender keeps it; no DATA sent for nothing
            return DATABASE_AWAY
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    def open_data_sink(self, session: Session, envelope: Envelope) -> SpoolWriter:
        """DATA streams into a spool file as it arrives (see smtp_data.DataSink)."""
        return self.spool.writer()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        writer: SpoolWriter = envelope.data_sink  # type: ignore[attr-defined]
        rcpts = list(envelope.rcpt_tos)
        try:
            await self.intake.receive_written(
                writer, envelope.mail_from or "", rcpts, "lmtp" if self.lmtp else "smtp"
            )
        except Exception as e:
            writer.discard()
            if unavailable(e):  # logged once per outage by the database watch
                log.debug("database away: answering 451")
                reply = DATABASE_AWAY
            else:
                log.exception("could not store a message: answering 451")
                reply = TRY_AGAIN
        else:
            reply = OK
        if self.lmtp:  # LMTP answers once per recipient (RFC 2033)
            return "\r\n".join(reply for _ in rcpts)
        return reply


async def start_listener(
    handler: IntakeHandler,
    host: str,
    port: int,
    max_size: int,
    hostname: str,
    reuse_port: bool = False,
) -> asyncio.Server:
    """Listen on the app's own event loop (the ORM's connections belong to it).

    With `reuse_port`, several `serve` processes bind the same port (SO_REUSEPORT)
    and the kernel spreads connections over them.
    """
    protocol: Any = ChunkedLMTP if handler.lmtp else ChunkedSMTP
    loop = asyncio.get_running_loop()
    return await loop.create_server(
        lambda: protocol(
            handler,
            data_size_limit=max_size,
            hostname=hostname,
            enable_SMTPUTF8=True,
            decode_data=False,
            ident="docflow",
        ),
        host=host,
        port=port,
        reuse_port=reuse_port,
    )
