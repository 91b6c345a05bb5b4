"""The admin's users pages: the list, adding a user, and one user's roles, language,
state and a sign-in link by mail; what `docflow user …` does, in the browser."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from aiohttp import web

from docflow.errors import DocflowError, NotFoundError
from docflow.services import Services
from docflow.web.admin_common import (
    Actor,
    admin_form,
    done_of,
    problem_text,
    require_admin,
    with_nav,
)
from docflow.web.auth import see_other
from docflow.web.keys import SERVICES
from docflow.web.pages import Session, render

routes = web.RouteTableDef()
KNOWN_ROLES = ("staff", "archivist", "van-thu", "lanh-dao", "admin")

TEXT = with_nav(
    {
        "vi": {
            "title": "Người dùng",
            "email": "Thư điện tử",
            "name": "Họ và tên",
            "roles": "Vai trò",
            "language": "Ngôn ngữ",
            "state": "Trạng thái",
            "active": "đang hoạt động",
            "inactive": "đã khóa",
            "lang_vi": "Tiếng Việt",
            "lang_en": "English",
            "add": "Thêm người dùng",
            "other_roles": "Vai trò khác (cách nhau bằng dấu phẩy)",
            "add_button": "Thêm",
            "unheld": "Vai trò quy trình cần nhưng chưa ai giữ (việc của bước đó không giao được):",
            "used_by": "dùng ở",
            "none": "Chưa có người dùng.",
            "back": "Danh sách người dùng",
            "no_roles": "(không có vai trò)",
            "remove_role": "Bỏ vai trò",
            "add_role": "Thêm vai trò",
            "role": "Vai trò",
            "save": "Lưu",
            "deactivate": "Khóa tài khoản",
            "reactivate": "Mở lại tài khoản",
            "deactivate_note": "Người bị khóa không đăng nhập được, không gửi được dự thảo, "
            "khóa API của họ ngừng hoạt động; việc đã giao vẫn giữ nguyên.",
            "send_link": "Gửi đường dẫn đăng nhập qua thư",
            "send_link_note": "Một đường dẫn dùng một lần, có hạn 15 phút.",
            "done_added": "Đã thêm người dùng.",
            "done_role_added": "Đã thêm vai trò.",
            "done_role_removed": "Đã bỏ vai trò.",
            "done_language": "Đã đổi ngôn ngữ.",
            "done_deactivated": "Đã khóa tài khoản.",
            "done_reactivated": "Đã mở lại tài khoản.",
            "done_link": "Đã gửi đường dẫn đăng nhập.",
        },
        "en": {
            "title": "Users",
            "email": "E-mail",
            "name": "Full name",
            "roles": "Roles",
            "language": "Language",
            "state": "State",
            "active": "active",
            "inactive": "deactivated",
            "lang_vi": "Tiếng Việt",
            "lang_en": "English",
            "add": "Add a user",
            "other_roles": "Other roles (separated by commas)",
            "add_button": "Add",
            "unheld": "Roles workflows need that nobody holds (their tasks cannot be assigned):",
            "used_by": "used by",
            "none": "No users yet.",
            "back": "All users",
            "no_roles": "(no role)",
            "remove_role": "Remove role",
            "add_role": "Add a role",
            "role": "Role",
            "save": "Save",
            "deactivate": "Deactivate",
            "reactivate": "Reactivate",
            "deactivate_note": "A deactivated user cannot sign in or send drafts, and their "
            "API tokens stop working; tasks already assigned stay theirs.",
            "send_link": "Mail a sign-in link",
            "send_link_note": "A one-time link, valid for 15 minutes.",
            "done_added": "User added.",
            "done_role_added": "Role added.",
            "done_role_removed": "Role removed.",
            "done_language": "Language changed.",
            "done_deactivated": "Account deactivated.",
            "done_reactivated": "Account reactivated.",
            "done_link": "Sign-in link sent.",
        },
    }
)


def user_path(email: str) -> str:
    return f"/admin/users/{quote(email, safe='@')}"


async def _roles(services: Services) -> tuple[list[str], dict[str, list[str]]]:
    """Every role worth offering, and the roles workflows name that nobody holds."""
    held = await services.users.roles()
    used = services.workflows.role_uses()
    known = sorted({*KNOWN_ROLES, *held, *used})
    return known, {role: where for role, where in used.items() if role not in held}


async def _list_page(
    request: web.Request,
    session: Session,
    problem: str | None = None,
    form: dict[str, Any] | None = None,
) -> web.Response:
    services = request.app[SERVICES]
    known, unheld = await _roles(services)
    return render(
        request,
        "admin_users.html",
        session,
        TEXT,
        status=422 if problem else 200,
        users=await services.users.list(),
        known=known,
        unheld=unheld,
        problem=problem,
        done=done_of(request, TEXT),
        form=form or {"roles": ["staff"], "language": services.settings.org.default_language},
        user_path=user_path,
    )


@routes.get("/admin/users")
async def users_page(request: web.Request) -> web.Response:
    return await _list_page(request, await require_admin(request))


@routes.post("/admin/users")
async def add_user(request: web.Request) -> web.StreamResponse:
    session, form = await admin_form(request)
    roles = [str(r) for r in form.getall("roles", [])]
    roles += [r.strip() for r in str(form.get("other_roles", "")).split(",") if r.strip()]
    email = str(form.get("email", "")).strip()
    name = str(form.get("name", "")).strip()
    language = str(form.get("language", "vi"))
    actor = Actor.of(request, session.principal.email, "web")
    try:
        added = await actor.add_user(email, name, roles, language)
    except DocflowError as e:
        values = {"email": email, "name": name, "roles": roles, "language": language}
        values["other_roles"] = str(form.get("other_roles", ""))
        return await _list_page(request, session, problem_text(request, session, e), values)
    return see_other(f"{user_path(added.email)}?done=done_added")


async def _user_page(
    request: web.Request, session: Session, problem: str | None = None
) -> web.Response:
    services = request.app[SERVICES]
    user = await services.users.find(request.match_info["email"])
    known, _ = await _roles(services)
    return render(
        request,
        "admin_user.html",
        session,
        TEXT,
        status=422 if problem else 200,
        u=user,
        path_of=user_path(user.email),
        known=[r for r in known if r not in user.roles],
        problem=problem,
        done=done_of(request, TEXT),
    )


@routes.get("/admin/users/{email}")
async def user_page(request: web.Request) -> web.Response:
    return await _user_page(request, await require_admin(request))


@routes.post("/admin/users/{email}/{what:roles|language|active|signin-link}")
async def change_user(request: web.Request) -> web.StreamResponse:
    """One change to a user, from the forms of their page; audited."""
    session, form = await admin_form(request)
    email = request.match_info["email"]
    actor = Actor.of(request, session.principal.email, "web")
    what = request.match_info["what"]
    try:
        if what == "roles":
            role = str(form.get("role", ""))
            if form.get("action") == "remove":
                changed = await actor.remove_role(email, role)
                done = "done_role_removed"
            else:
                changed = await actor.add_role(email, role)
                done = "done_role_added"
        elif what == "language":
            changed = await actor.set_language(email, str(form.get("language", "")))
            done = "done_language"
        elif what == "active":
            active = form.get("active") == "1"
            changed = await actor.set_active(email, active)
            done = "done_reactivated" if active else "done_deactivated"
        else:
            await actor.send_signin_link(email)
            changed = await request.app[SERVICES].users.find(email)
            done = "done_link"
    except NotFoundError:
        raise
    except DocflowError as e:
        return await _user_page(request, session, problem_text(request, session, e))
    return see_other(f"{user_path(changed.email)}?done={done}")
