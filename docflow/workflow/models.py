"""Tasks, decision links and delegations."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model

from docflow.documents.models import Document
from docflow.users.models import User


class TaskState:
    OPEN = "open"
    APPROVED = "approved"
    CHANGES_REQUESTED = "changes_requested"
    REJECTED = "rejected"
    SUPERSEDED = "superseded"  # a new version restarted the stage, the stage ended, or
    # the other task of the same seat (see Task.escalated_from) decided first
    CANCELLED = "cancelled"  # the document was withdrawn or rejected meanwhile

    DECISIONS = (APPROVED, CHANGES_REQUESTED, REJECTED)


class Task(Model):
    """The part of one assignee in one stage, for one version of a document."""

    id = fields.IntField(primary_key=True)
    document: fields.ForeignKeyRelation[Document] = fields.ForeignKeyField(
        "docflow.Document", related_name="tasks", on_delete=fields.RESTRICT
    )
    document_id: int  # the FK column Tortoise sets (for the type checker; not a field)
    version_number = fields.IntField()
    stage_index = fields.IntField()  # 0-based position in the workflow
    stage_key = fields.CharField(max_length=100)
    assignee: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "docflow.User", related_name="tasks", on_delete=fields.RESTRICT
    )
    assignee_id: int
    # set when a delegation routed the task: whom the assignee decides for, and how
    on_behalf_of: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "docflow.User", related_name="delegated_tasks", null=True, on_delete=fields.RESTRICT
    )
    on_behalf_of_id: int | None
    capacity = fields.CharField(max_length=3, null=True)  # KT | TUQ | TL
    # set on a task that escalation added: the overdue task whose seat it may fill.
    # Quorum counts seats, and the first decision in a seat settles it for both.
    escalated_from: fields.ForeignKeyNullableRelation[Task] = fields.ForeignKeyField(
        "docflow.Task", related_name="escalations", null=True, on_delete=fields.RESTRICT
    )
    escalated_from_id: int | None
    state = fields.CharField(max_length=20, default=TaskState.OPEN, db_index=True)
    created_at = fields.DatetimeField()
    due_at = fields.DatetimeField(null=True)
    decided_at = fields.DatetimeField(null=True)
    comment = fields.TextField(default="")
    # set by the reminder sweep when it claims the task (see docflow.workflow.reminders)
    last_reminded_at = fields.DatetimeField(null=True)
    escalated_at = fields.DatetimeField(null=True)
    # stages with require_code: a keyed hash of the code mailed separately, and the
    # guesses spent on it (see workflow.decisions)
    code_hash = fields.CharField(max_length=64, null=True)
    code_attempts = fields.IntField(default=0)

    class Meta:
        table = "tasks"


class LinkToken(Model):
    """A decision link: only the SHA-256 of the token is kept, never the token."""

    id = fields.IntField(primary_key=True)
    token_hash = fields.CharField(max_length=64, unique=True)
    task: fields.ForeignKeyRelation[Task] = fields.ForeignKeyField(
        "docflow.Task", related_name="links", on_delete=fields.RESTRICT
    )
    task_id: int
    recipient: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "docflow.User", related_name="links", on_delete=fields.RESTRICT
    )
    recipient_id: int
    actions = fields.CharField(max_length=60)  # comma-separated: what this link may do
    created_at = fields.DatetimeField()
    expires_at = fields.DatetimeField()
    used_at = fields.DatetimeField(null=True)

    class Meta:
        table = "link_tokens"


class Delegation(Model):
    """While it runs, new tasks of `user` go to `delegate`, who decides in a capacity.

    The capacity is printed on Vietnamese documents: KT. (on behalf of the head),
    TUQ. (by written authorisation, time-limited, not re-delegable) or TL. (by order).
    """

    id = fields.IntField(primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "docflow.User", related_name="delegations", on_delete=fields.RESTRICT
    )
    user_id: int
    delegate: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "docflow.User", related_name="delegated_to_me", on_delete=fields.RESTRICT
    )
    delegate_id: int
    capacity = fields.CharField(max_length=3)
    starts_at = fields.DatetimeField()
    ends_at = fields.DatetimeField()
    created_at = fields.DatetimeField()

    class Meta:
        table = "delegations"


class ReplyToken(Model):
    """A task mail's reply address (`LOCAL+t-TOKEN@DOMAIN` of the intake address): only
    the SHA-256 of the token is kept, bound to the task and to whom it was mailed."""

    id = fields.IntField(primary_key=True)
    token_hash = fields.CharField(max_length=64, unique=True)
    task: fields.ForeignKeyRelation[Task] = fields.ForeignKeyField(
        "docflow.Task", related_name="reply_tokens", on_delete=fields.RESTRICT
    )
    task_id: int
    recipient: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "docflow.User", related_name="reply_tokens", on_delete=fields.RESTRICT
    )
    recipient_id: int
    created_at = fields.DatetimeField()

    class Meta:
        table = "reply_tokens"


class TaskReply(Model):
    """One reply received at a reply address, once per message: what came of it."""

    id = fields.IntField(primary_key=True)
    # sha256 of the sender and the Message-ID (without one: of the bytes): the same
    # message delivered twice never acts twice
    source_key = fields.CharField(max_length=64, unique=True)
    reply_token: fields.ForeignKeyRelation[ReplyToken] = fields.ForeignKeyField(
        "docflow.ReplyToken", related_name="replies", on_delete=fields.RESTRICT
    )
    reply_token_id: int
    inbound_id = fields.IntField(null=True)
    from_addr = fields.CharField(max_length=320)
    outcome = fields.CharField(max_length=30)  # decided, not_understood, wrong_sender, …
    answered = fields.BooleanField(default=False)
    received_at = fields.DatetimeField()

    class Meta:
        table = "task_replies"
