"""People docflow knows: staff who send drafts, approvers, archivists, admins."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class User(Model):
    """A person, identified by e-mail address (stored lowercased)."""

    id = fields.IntField(primary_key=True)
    email = fields.CharField(max_length=320, unique=True)
    name = fields.CharField(max_length=200)
    roles: fields.Field[list[str]] = fields.JSONField(default=list)
    language = fields.CharField(max_length=2, default="vi")
    active = fields.BooleanField(default=True)
    created_at = fields.DatetimeField()

    class Meta:
        table = "users"
