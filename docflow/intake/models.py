"""The record of every message received: the spool's index and the quarantine."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class InboundState:
    """Where a received message stands."""

    PENDING = "pending"  # stored, not yet processed (processed on start-up if docflow died)
    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"  # same sender and Message-ID as an accepted message
    QUARANTINED = "quarantined"
    DISCARDED = "discarded"  # a quarantined message an admin set aside (raw bytes kept)
    BOUNCE = "bounce"  # a bounce of docflow's own mail, recorded (notify.bounces), unanswered
    REPLY = "reply"  # a reply to a task mail's reply address (`reason`: what came of it)


class InboundMessage(Model):
    """One received message, whose raw bytes stay in the spool file it names."""

    id = fields.IntField(primary_key=True)
    spool_name = fields.CharField(max_length=200, unique=True)
    sha256 = fields.CharField(max_length=64)
    size = fields.BigIntField()
    source = fields.CharField(max_length=10)  # smtp | lmtp | ingest | release
    mail_from = fields.CharField(max_length=998, default="")
    rcpt_tos: fields.Field[list[str]] = fields.JSONField(default=list)
    received_at = fields.DatetimeField()
    state = fields.CharField(max_length=20, default=InboundState.PENDING, db_index=True)
    attempts = fields.IntField(default=0)
    next_attempt_at = fields.DatetimeField(null=True)
    last_error = fields.TextField(null=True)
    message_id = fields.CharField(max_length=998, default="")
    from_addr = fields.CharField(max_length=320, default="")
    subject = fields.CharField(max_length=1000, default="")
    reason = fields.CharField(max_length=50, null=True)
    detail = fields.TextField(null=True)
    document_code = fields.CharField(max_length=20, null=True)
    version_number = fields.IntField(null=True)
    processed_at = fields.DatetimeField(null=True)
    # when the message was counted against its sender's rate limit (intake.rate_limit)
    counted_at = fields.DatetimeField(null=True)

    class Meta:
        table = "inbound_messages"
        indexes = (("from_addr", "counted_at"),)


class ImapMessage(Model):
    """A message read from an IMAP mailbox, by the UID that names it there.

    Written in the transaction that records its inbound row: a UID found here was
    stored, so a crash before the mailbox was marked never stores it twice.
    """

    id = fields.IntField(primary_key=True)
    mailbox = fields.CharField(max_length=500)  # ImapSettings.mailbox_key
    uidvalidity = fields.BigIntField()
    uid = fields.BigIntField()
    message_key = fields.CharField(max_length=64, db_index=True)  # sha256(From, Message-ID|bytes)
    inbound_id = fields.IntField()
    fetched_by = fields.CharField(max_length=200)  # the serve process that held the lease
    fetched_at = fields.DatetimeField()
    marked_at = fields.DatetimeField(null=True)

    class Meta:
        table = "imap_messages"
        unique_together = (("mailbox", "uidvalidity", "uid"),)


class ImapLease(Model):
    """Which serve process reads a mailbox, until when (renewed while it does)."""

    mailbox = fields.CharField(max_length=500, primary_key=True)
    holder = fields.CharField(max_length=200)
    lease_until = fields.DatetimeField()

    class Meta:
        table = "imap_leases"
