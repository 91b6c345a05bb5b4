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
    # for those who log in (archivists, admins): an argon2 hash, never the password
    password_hash = fields.CharField(max_length=200, null=True)
    failed_logins = fields.IntField(default=0)
    locked_until = fields.DatetimeField(null=True)

    class Meta:
        table = "users"


class WebSession(Model):
    """A logged-in browser: the cookie holds a random token, the table its SHA-256."""

    id = fields.IntField(primary_key=True)
    token_hash = fields.CharField(max_length=64, unique=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "docflow.User", related_name="sessions", on_delete=fields.CASCADE
    )
    user_id: int  # the FK column Tortoise sets (for the type checker; not a field)
    csrf = fields.CharField(max_length=64)
    created_at = fields.DatetimeField()
    expires_at = fields.DatetimeField()

    class Meta:
        table = "web_sessions"


class ApiToken(Model):
    """A bearer token for automation, acting with its user roles. Kept as a hash."""

    id = fields.IntField(primary_key=True)
    token_hash = fields.CharField(max_length=64, unique=True)
    name = fields.CharField(max_length=200)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "docflow.User", related_name="api_tokens", on_delete=fields.CASCADE
    )
    user_id: int
    created_at = fields.DatetimeField()
    last_used_at = fields.DatetimeField(null=True)
    revoked_at = fields.DatetimeField(null=True)

    class Meta:
        table = "api_tokens"


class SignInLink(Model):
    """A one-time sign-in link mailed to a user: the table keeps the token's SHA-256 only."""

    id = fields.IntField(primary_key=True)
    token_hash = fields.CharField(max_length=64, unique=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "docflow.User", related_name="signin_links", on_delete=fields.CASCADE
    )
    user_id: int
    created_at = fields.DatetimeField()
    expires_at = fields.DatetimeField()
    used_at = fields.DatetimeField(null=True)

    class Meta:
        table = "signin_links"


class AccessEvent(Model):
    """Who did what outside any one document (sign-ins, users, tokens, quarantine), when,
    from where: the audit of the web app and of admin actions."""

    id = fields.IntField(primary_key=True)
    at = fields.DatetimeField(db_index=True)
    actor = fields.CharField(max_length=320)
    action = fields.CharField(max_length=40)
    source = fields.CharField(max_length=10)  # web | api | cli
    client = fields.CharField(max_length=100, default="")  # the client's address
    subject = fields.CharField(max_length=320, default="")  # the user, token or entry acted on
    detail: fields.Field[dict[str, object]] = fields.JSONField(default=dict)

    class Meta:
        table = "access_events"
