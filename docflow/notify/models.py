"""The outbox: every mail docflow sends is a row here first, sent after the commit."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class OutboxState:
    QUEUED = "queued"
    SENT = "sent"
    FAILED = "failed"  # gave up (permanent refusal by the relay)


class OutboxMessage(Model):
    """A ready-to-send message and its delivery state."""

    id = fields.IntField(primary_key=True)
    created_at = fields.DatetimeField()
    kind = fields.CharField(max_length=40)
    document_code = fields.CharField(max_length=20, null=True)
    mail_from = fields.CharField(max_length=320)
    rcpt_to: fields.Field[list[str]] = fields.JSONField()
    message_id = fields.CharField(max_length=255, unique=True)
    subject = fields.CharField(max_length=1000)
    content = fields.BinaryField()  # the message as sent, bytes
    state = fields.CharField(max_length=10, default=OutboxState.QUEUED, db_index=True)
    attempts = fields.IntField(default=0)
    next_attempt_at = fields.DatetimeField()
    lease_until = fields.DatetimeField(null=True)
    last_error = fields.TextField(null=True)
    sent_at = fields.DatetimeField(null=True)

    class Meta:
        table = "outbox"
