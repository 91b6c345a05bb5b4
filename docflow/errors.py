"""Domain errors: raised by services, translated by the adapters (SMTP codes, HTTP statuses)."""

from __future__ import annotations


class DocflowError(Exception):
    """Base of every error docflow raises on purpose."""


class SettingsError(DocflowError):
    """A setting is missing or wrong; `key` names it (a TOML key or a DOCFLOW_* variable)."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"setting {key}: {problem}")
        self.key = key
        self.problem = problem


class NotMigratedError(DocflowError):
    """The database schema is behind the code: `docflow migrate` fixes it."""


class NotFoundError(DocflowError):
    """The thing asked for does not exist."""


class Refused(DocflowError):
    """A message cannot be accepted: `reason` is a stable code, `detail` is for people."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class InvalidRequestError(DocflowError):
    """A request's parameters are wrong (HTTP 400)."""


class SigningError(DocflowError):
    """A document cannot be signed; `reason` says why in words an operator can act on
    (never a passphrase or a PIN)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ExtractionError(DocflowError):
    """Why a file's text could not be extracted (message is shown to admins)."""
