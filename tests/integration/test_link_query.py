"""`workflow/queries.py:link_by_hash` (hand-written SQL, models made with Tortoise's
`_init_from_db`) against the ORM's own `select_related` query, on both databases.

The hand-written query relies on Tortoise internals (`_meta.fields_db_projection`,
`_init_from_db`, related objects kept in `_name` attributes). On an upgrade of
tortoise-orm this says whether it still makes the same objects the ORM makes.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from tortoise.models import Model

from docflow.workflow.links import token_hash
from docflow.workflow.models import LinkToken
from docflow.workflow.queries import link_by_hash
from tests.conftest import Stack
from tests.integration.test_spine_mail import draft
from tests.integration.test_workflow_links import (
    REVIEWER,
    links_of,
    people,
    task_mails,
)


def fields(obj: Model) -> dict[str, Any]:
    return {name: getattr(obj, name) for name in obj._meta.fields_db_projection}


def graph(link: LinkToken) -> dict[str, dict[str, Any]]:
    """Every object the decision path reads from a link, field by field."""
    task = link.task
    return {
        "link": fields(link),
        "task": fields(task),
        "document": fields(task.document),
        "author": fields(task.document.author),
        "assignee": fields(task.assignee),
        "recipient": fields(link.recipient),
    }


async def test_hand_written_link_lookup_makes_what_the_orm_makes(stack: Stack) -> None:
    await people(stack)
    await stack.send(draft("Công văn đối chiếu truy vấn đường dẫn"))
    (mail,) = await task_mails(stack, REVIEWER)
    for url in links_of(mail).values():
        hashed = token_hash(urlsplit(url).path.rsplit("/", 1)[1])
        ours = await link_by_hash(None, hashed)
        orm = await LinkToken.get(token_hash=hashed).select_related(
            "task__document__author", "task__assignee", "recipient"
        )
        assert ours is not None
        assert graph(ours) == graph(orm)
        assert ours.pk == orm.pk and ours._saved_in_db and orm._saved_in_db
    assert await link_by_hash(None, token_hash("forged")) is None
