"""What the admin's pages and the admin's API share: the admin check, the section menu's
words, the audit of each action, and the actions the pages and the API both take
(users, the quarantine), so that a page and its API call do exactly the same.

Every action an admin takes is in the access log (services.access_log) with who, from
where (`web` or `api`, the client's address) and on what; never a token's value.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from aiohttp import web
from multidict import MultiDictProxy

from docflow.errors import DocflowError, InvalidRequestError, NotFoundError
from docflow.intake import quarantine as q
from docflow.intake.drafts import Outcome
from docflow.services import Services
from docflow.users.service import UserProblem, UserView
from docflow.web.auth import check_csrf
from docflow.web.keys import SERVICES
from docflow.web.pages import Session, digits, language_of, require

SECTIONS = ("users", "quarantine", "workflows", "outbox", "tokens", "audit")
ADMIN_NAV = {
    "vi": {
        "admin": "Quản trị",
        "admin_nav": "Các mục quản trị",
        "users": "Người dùng",
        "quarantine": "Thư bị giữ lại",
        "workflows": "Quy trình",
        "outbox": "Thư gửi đi",
        "tokens": "Khóa API",
        "audit": "Nhật ký truy cập",
        "problem": "Không thực hiện được:",
    },
    "en": {
        "admin": "Admin",
        "admin_nav": "Admin sections",
        "users": "Users",
        "quarantine": "Quarantine",
        "workflows": "Workflows",
        "outbox": "Outgoing mail",
        "tokens": "API tokens",
        "audit": "Access log",
        "problem": "Not done:",
    },
}


# UserProblem.reason → what a page says (the API answers with the error's own message)
PROBLEMS = {
    "vi": {
        "not_an_address": "“{}” không phải là địa chỉ thư điện tử.",
        "language": "Ngôn ngữ phải là vi hoặc en.",
        "exists": "Đã có người dùng {}.",
        "bad_role": "“{}” không phải tên vai trò (chữ thường không dấu, chữ số, '.', '-', '_').",
        "role_not_held": "Người dùng này không có vai trò {}.",
        "last_admin": "{} là người quản trị cuối cùng còn hoạt động; hãy cho người khác làm "
        "quản trị trước.",
        "no_name": "Hãy nhập họ và tên.",
        "inactive": "Tài khoản {} đã bị khóa; hãy mở lại trước.",
        "no_user": "Không có người dùng {}.",
    },
    "en": {
        "not_an_address": "“{}” is not an e-mail address.",
        "language": "The language is vi or en.",
        "exists": "There is a user {} already.",
        "bad_role": "“{}” is not a role name (lowercase letters, digits, '.', '-', '_').",
        "role_not_held": "This user does not have the role {}.",
        "last_admin": "{} is the last active admin: make someone else admin first.",
        "no_name": "Please give the full name.",
        "inactive": "{} is deactivated: reactivate them first.",
        "no_user": "There is no user {}.",
    },
}


def problem_text(request: web.Request, session: Session, e: DocflowError) -> str:
    """A refusal in the page's language, when the domain says which one it is."""
    if isinstance(e, UserProblem) and e.reason in PROBLEMS["en"]:
        return PROBLEMS[language_of(request, session)][e.reason].format(e.subject)
    return str(e)


def with_nav(table: Mapping[str, Mapping[str, str]]) -> dict[str, dict[str, str]]:
    """A page's words with the admin menu's."""
    return {lang: {**ADMIN_NAV[lang], **words} for lang, words in table.items()}


async def require_admin(request: web.Request) -> Session:
    return await require(request, lambda p: p.is_admin)


async def admin_form(request: web.Request) -> tuple[Session, MultiDictProxy[Any]]:
    """The admin behind a POST and its form, whose CSRF value is checked (403 without)."""
    session = await require_admin(request)
    form = await request.post()
    check_csrf(session.csrf, form.get("csrf"))
    return session, form


def done_of(request: web.Request, table: Mapping[str, Mapping[str, str]]) -> str | None:
    """The `?done=KEY` a page was redirected with after an action: only a known word."""
    key = request.query.get("done", "")
    return key if key.startswith("done_") and key in table["en"] else None


def local_of(services: Services) -> Callable[[str | None], str]:
    """ISO time → office time for a template; "" for none."""
    return lambda iso: services.mailer.local_time(datetime.fromisoformat(iso)) if iso else ""


class Actor:
    """Who acts and from where: the audit of each admin action."""

    def __init__(self, services: Services, email: str, source: str, client: str) -> None:
        self.services = services
        self.email = email
        self.source = source
        self.client = client

    @classmethod
    def of(cls, request: web.Request, email: str, source: str) -> Actor:
        return cls(request.app[SERVICES], email, source, request.remote or "")

    async def audit(self, action: str, subject: str, **detail: object) -> None:
        await self.services.access_log.record(
            self.email, action, source=self.source, client=self.client, subject=subject, **detail
        )

    # --- users ---------------------------------------------------------------------------

    async def add_user(self, email: str, name: str, roles: list[str], language: str) -> UserView:
        """As `docflow user add` (address, role names, language, not there yet)."""
        if not name.strip():
            raise UserProblem("no_name", email, "a user needs a name")
        added = await self.services.users.add(email, name, roles or ["staff"], language)
        await self.audit(
            "user_add", added.email, name=added.name, roles=added.roles, language=added.language
        )
        return added

    async def add_role(self, email: str, role: str) -> UserView:
        changed = await self.services.users.add_role(email, role)
        await self.audit("user_role_add", changed.email, role=role.strip())
        return changed

    async def remove_role(self, email: str, role: str) -> UserView:
        changed = await self.services.users.remove_role(email, role)
        await self.audit("user_role_remove", changed.email, role=role.strip())
        return changed

    async def set_roles(self, email: str, roles: list[str]) -> UserView:
        before = await self.services.users.find(email)
        changed = await self.services.users.set_roles(email, roles)
        if changed.roles != before.roles:
            await self.audit("user_roles", changed.email, before=before.roles, roles=changed.roles)
        return changed

    async def set_language(self, email: str, language: str) -> UserView:
        changed = await self.services.users.set_language(email, language)
        await self.audit("user_language", changed.email, language=language)
        return changed

    async def set_name(self, email: str, name: str) -> UserView:
        changed = await self.services.users.set_name(email, name)
        await self.audit("user_name", changed.email, name=changed.name)
        return changed

    async def set_active(self, email: str, active: bool) -> UserView:
        changed = await self.services.users.set_active(email, active)
        await self.audit("user_reactivate" if active else "user_deactivate", changed.email)
        return changed

    async def send_signin_link(self, email: str) -> None:
        """A one-time sign-in link by mail, as the sign-in page sends (active users only)."""
        user = await self.services.users.find(email)
        if not user.active:
            raise UserProblem("inactive", user.email, f"{user.email} is deactivated")
        if not await self.services.signin_mail.send(user.email):
            raise NotFoundError(f"no active user {user.email}")
        await self.audit("sign_in_link_sent", user.email)

    # --- the quarantine ------------------------------------------------------------------

    async def release(self, entry_id: int) -> Outcome:
        """As `docflow quarantine release`: the message goes through intake again."""
        row = await q.get_entry(entry_id)
        outcome = await self.services.intake.release(entry_id)
        if outcome is None:  # released by someone else meanwhile
            raise NotFoundError(f"no quarantine entry {entry_id}")
        self.services.outbox.poke()
        detail: dict[str, object] = {"from": row.from_addr or row.mail_from, "reason": row.reason}
        detail["outcome"] = outcome.state
        if outcome.code:
            detail.update(code=outcome.code, version=outcome.version)
        elif outcome.reason:
            detail["new_reason"] = outcome.reason
        await self.audit("quarantine_release", f"Q-{entry_id}", **detail)
        return outcome

    async def discard(self, entry_id: int) -> dict[str, Any]:
        row = await q.discard(entry_id)
        await self.audit(
            "quarantine_discard",
            f"Q-{entry_id}",
            reason=row.reason,
            mail_subject=row.subject[:200],
            sender=row.from_addr or row.mail_from,
        )
        return q.entry_view(row)


def entry_id(request: web.Request) -> int:
    """The `{id}` of a quarantine URL, `12` or `Q-12`."""
    raw = request.match_info["id"].removeprefix("Q-").removeprefix("q-")
    if not digits(raw):
        raise InvalidRequestError("an entry id is a whole number, such as 12 or Q-12")
    return int(raw)
