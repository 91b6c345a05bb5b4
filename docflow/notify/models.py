"""The outbox: every mail docflow sends is a row here first, sent after the commit."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class OutboxState:
    QUEUED = "queued"
    SENT = "sent"
    FAILED = "failed"  # gave up (permanent refusal by the relay)
    BOUNCED = "bounced"  # the relay took it, then every recipient's delivery failed (a DSN)


class OutboxMessage(Model):
    """A ready-to-send message and its delivery state."""

    id = fields.IntField(primary_key=True)
    created_at = fields.DatetimeField()
    kind = fields.CharField(max_length=40)
    document_code = fields.CharField(max_length=20, null=True)
    mail_from = fields.CharField(max_length=320)  # the envelope sender: a VERP address
    # the VERP token of mail_from (random): a bounce names its row by it, see notify.bounces
    bounce_token = fields.CharField(max_length=40, null=True, db_index=True)
    rcpt_to: fields.Field[list[str]] = fields.JSONField()
    # the Message-ID; a row retrying a mail's deferred recipients appends `#retry-TOKEN`
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


class DeliveryFailure(Model):
    """A recipient of a sent mail whose delivery failed for good (a DSN or a relay refusal).

    Shown on the document, and told to its author when an approver missed a task mail.
    """

    id = fields.IntField(primary_key=True)
    outbox: fields.ForeignKeyRelation[OutboxMessage] = fields.ForeignKeyField(
        "docflow.OutboxMessage", related_name="failures", on_delete=fields.RESTRICT
    )
    outbox_id: int  # the FK column Tortoise sets (for the type checker; not a field)
    recipient = fields.CharField(max_length=320)
    document_code = fields.CharField(max_length=20, null=True, db_index=True)
    kind = fields.CharField(max_length=40)
    at = fields.DatetimeField()
    status = fields.CharField(max_length=20)  # the enhanced status code, e.g. 5.1.1
    diagnostic = fields.TextField(default="")
    source = fields.CharField(max_length=10)  # dsn | relay
    inbound_id = fields.IntField(null=True)  # the bounce as received (spool, inbound_messages)
    author_told = fields.BooleanField(default=False)

    class Meta:
        table = "delivery_failures"
        unique_together = (("outbox", "recipient"),)
