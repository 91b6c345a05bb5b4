"""Receipts survive a refusing relay; the HTTP API answers in JSON, pages, describes itself."""

from __future__ import annotations

import base64
import html
import re
from datetime import timedelta
from email import policy
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any

import aiosmtplib
import pytest

from docflow.notify.models import DeliveryFailure, OutboxMessage
from tests import mails
from tests.conftest import ADMIN_TOKEN, Stack, wait_for
from tests.filebuilders import make_docx_python_docx

AUTHOR = "thu.lt@bandantoc.gov.vn"
TITLE = "Kế hoạch cải cách hành chính năm 2027"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
UNFOLDED = policy.SMTP.clone(max_line_length=None)


def draft(subject: str = TITLE) -> EmailMessage:
    """A draft whose DOCX holds its subject."""
    return mails.draft(subject, "Dự thảo.docx", make_docx_python_docx([subject]), DOCX)


async def send(stack: Stack, msg: EmailMessage) -> None:
    await aiosmtplib.send(
        msg.as_bytes(policy=UNFOLDED),
        sender=AUTHOR,
        recipients=[stack.intake],
        hostname="127.0.0.1",
        port=stack.settings.smtp.port,
        timeout=30,
    )


async def get(stack: Stack, url: str, token: str | None = None) -> tuple[int, str, str]:
    """Status, Content-Type and body text of a GET on `url` (absolute or a path)."""
    assert stack.http is not None
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    full = url if url.startswith("http") else stack.base + url
    async with stack.http.get(full, headers=headers) as r:
        return r.status, r.headers.get("Content-Type", ""), await r.text()


async def documents_made(stack: Stack, n: int) -> list[dict[str, Any]]:
    async def enough() -> list[dict[str, Any]]:
        docs = await stack.documents()
        return docs if len(docs) >= n else []

    return await wait_for(enough, what=f"{n} documents")


# --- the outbox ------------------------------------------------------------------------------


async def test_receipt_waits_while_relay_refuses_and_arrives_once_after(stack: Stack) -> None:
    outbox = stack.services.outbox
    clock = stack.services.clock
    stack.relay.refuse = True
    await stack.add_user(AUTHOR, "Lê Thị Thu")
    await send(stack, draft())

    async def refused_once() -> OutboxMessage | None:
        return await OutboxMessage.get_or_none(kind="receipt", attempts__gte=1)

    row = await wait_for(refused_once, what="a refused delivery")
    assert row.state == "queued"
    assert row.last_error and "451" in row.last_error
    assert row.next_attempt_at > clock.now()  # backs off rather than hammering the relay

    # due again while the relay still refuses: tried again, still queued
    await OutboxMessage.filter(id=row.id).update(next_attempt_at=clock.now() - timedelta(1))
    assert await outbox.send_due() == 0
    row = await OutboxMessage.get(id=row.id)
    assert (row.state, row.attempts) == ("queued", 2)
    assert stack.relay.messages == []

    stack.relay.refuse = False
    await OutboxMessage.filter(id=row.id).update(next_attempt_at=clock.now() - timedelta(1))
    await outbox.send_due()
    await stack.settled()
    await outbox.send_due()  # nothing left to send a second time
    receipts = stack.relay.to(AUTHOR)
    assert len(receipts) == 1
    assert (await stack.documents())[0]["code"] in str(receipts[0]["Subject"])
    row = await OutboxMessage.get(id=row.id)
    assert (row.state, row.attempts) == ("sent", 3)


TAKEN = "hung.nv@bandantoc.gov.vn"
BUSY = "lan.pt@bandantoc.gov.vn"
GONE = "cu.nv@bandantoc.gov.vn"


async def queue_notice(stack: Stack, *to: str) -> EmailMessage:
    """A mail to several recipients, queued as docflow queues its own (no mail of docflow
    has more than one yet; the outbox takes any)."""
    msg = EmailMessage()
    msg["From"] = "docflow <docflow@docflow.localhost>"
    msg["To"] = ", ".join(to)
    msg["Subject"] = "Thông báo họp giao ban"
    msg["Message-ID"] = make_msgid(domain="docflow.localhost")
    msg.set_content("Kính gửi các đồng chí.")
    await stack.services.outbox.enqueue(None, msg, "notice")
    stack.services.outbox.poke()
    return msg


async def deferred_row(stack: Stack, *, state: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The queued mail, once settled in `state`, and the row retrying its deferred recipient."""

    async def two() -> list[dict[str, Any]]:
        rows = await OutboxMessage.all().order_by("id").values()
        return rows if len(rows) == 2 and rows[0]["state"] == state else []

    first, retry = await wait_for(two, what="the mail settled and its retry queued")
    return first, retry


async def retried_now(stack: Stack, row_id: int) -> None:
    clock = stack.services.clock
    await OutboxMessage.filter(id=row_id).update(next_attempt_at=clock.now() - timedelta(1))
    stack.services.outbox.poke()
    await stack.settled()


async def test_a_recipient_the_relay_defers_gets_the_mail_later_the_others_at_once(
    stack: Stack,
) -> None:
    stack.relay.busy.add(BUSY)
    msg = await queue_notice(stack, TAKEN, BUSY)

    first, retry = await deferred_row(stack, state="sent")
    assert first["rcpt_to"] == [TAKEN, BUSY] and first["attempts"] == 1
    assert (retry["state"], retry["rcpt_to"], retry["kind"]) == ("queued", [BUSY], "notice")
    assert retry["attempts"] == 1 and "451 4.2.1" in retry["last_error"]
    assert retry["next_attempt_at"] > stack.services.clock.now()  # backs off as usual
    assert retry["bounce_token"] not in (None, first["bounce_token"])  # a bounce names it
    assert retry["content"] == first["content"]
    [taken] = stack.relay.to(TAKEN)
    assert stack.relay.to(BUSY) == []
    assert await DeliveryFailure.all().count() == 0  # deferred is not failed

    stack.relay.busy.clear()
    await retried_now(stack, retry["id"])
    [later] = stack.relay.to(BUSY)
    assert later["Message-ID"] == taken["Message-ID"] == msg["Message-ID"]
    assert stack.relay.envelope_from[str(later["Message-ID"])] == retry["mail_from"]
    assert len(stack.relay.to(TAKEN)) == 1  # not sent twice
    assert (await OutboxMessage.get(id=retry["id"])).state == "sent"


async def test_a_recipient_refused_for_good_is_recorded_at_once_while_one_deferred_waits(
    stack: Stack,
) -> None:
    stack.relay.unknown.add(GONE)
    stack.relay.busy.add(BUSY)
    await queue_notice(stack, GONE, BUSY)

    first, retry = await deferred_row(stack, state="failed")
    assert first["attempts"] == 1 and retry["rcpt_to"] == [BUSY]
    [failure] = await DeliveryFailure.all().values("recipient", "status", "source", "outbox_id")
    assert failure == {
        "recipient": GONE,
        "status": "5.1.1",
        "source": "relay",
        "outbox_id": first["id"],
    }

    stack.relay.busy.clear()
    await retried_now(stack, retry["id"])
    assert len(stack.relay.to(BUSY)) == 1 and stack.relay.to(GONE) == []
    assert await DeliveryFailure.all().count() == 1


# --- the API ----------------------------------------------------------------------------------


@pytest.mark.parametrize("token", [None, "wrong-token", ADMIN_TOKEN + "x", ""])
async def test_api_without_a_valid_token_is_401_json(stack: Stack, token: str | None) -> None:
    for path in ("/api/v1/documents", "/api/v1/documents/DF-2026-000001"):
        status, body = await stack.api(path, token=token)
        assert status == 401
        assert body["error"]["status"] == 401 and body["error"]["message"]


async def test_unknown_document_is_404_json(stack: Stack) -> None:
    for path in (
        "/api/v1/documents/DF-2099-999999",
        "/api/v1/documents/DF-2099-999999/versions/1",
        "/api/v1/documents/DF-2099-999999/versions/1/files/0",
        "/api/v1/no-such-thing",
    ):
        status, body = await stack.api(path)
        assert status == 404, path
        assert body["error"]["status"] == 404 and body["error"]["message"]


@pytest.mark.parametrize(
    "query",
    [
        "cursor=!!!not-a-cursor",
        "cursor=Zm9vOjE",  # "foo:1"
        "cursor=aWQ6YWJj",  # "id:abc"
        "limit=abc",
        "limit=0",
        "limit=501",
        "limit=-1",
    ],
)
async def test_bad_list_parameters_are_400_json(stack: Stack, query: str) -> None:
    status, body = await stack.api(f"/api/v1/documents?{query}")
    assert status == 400, body
    assert body["error"]["status"] == 400 and body["error"]["message"]


async def test_cursor_with_an_out_of_range_id_is_400_json(stack: Stack) -> None:
    cursor = base64.urlsafe_b64encode(b"id:99999999999999999999").decode().rstrip("=")
    status, body = await stack.api(f"/api/v1/documents?cursor={cursor}")
    assert status == 400, body


async def test_code_with_a_nul_byte_is_404_json(stack: Stack) -> None:
    for path in ("/api/v1/documents/DF-2026%00", "/api/v1/documents/DF-2026%00/versions/1"):
        status, body = await stack.api(path)
        assert status == 404, (path, body)


async def test_bad_version_number_is_400_json(stack: Stack) -> None:
    status, body = await stack.api("/api/v1/documents/DF-2026-000001/versions/abc")
    assert status == 400 and body["error"]["message"]


async def test_pages_of_two_show_each_document_exactly_once(stack: Stack) -> None:
    await stack.add_user(AUTHOR, "Lê Thị Thu")
    for i in range(5):
        await send(stack, draft(f"Công văn số {i + 1}"))
    codes = {d["code"] for d in await documents_made(stack, 5)}
    assert len(codes) == 5

    seen: list[str] = []
    url: str | None = "/api/v1/documents?limit=2"
    pages = 0
    while url is not None:
        status, body = await stack.api(url)
        assert status == 200, body
        assert len(body["items"]) <= 2
        seen += [d["code"] for d in body["items"]]
        url = body["next"]
        pages += 1
        assert pages <= 5, "pagination does not end"
    assert pages == 3
    assert sorted(seen) == sorted(codes) and len(seen) == len(set(seen))
    assert seen == sorted(seen, reverse=True)  # newest first


async def test_openapi_lists_every_api_route(stack: Stack) -> None:
    assert stack.runner is not None
    routes = {
        (route.method, route.resource.canonical)
        for route in stack.runner.app.router.routes()
        if route.resource is not None
        and route.resource.canonical.startswith("/api/v1/")
        and route.method != "HEAD"
    }
    status, spec = await stack.api("/api/v1/openapi.json", token=None)
    assert status == 200
    documented = {
        (method.upper(), path)
        for path, ops in spec["paths"].items()
        for method in ops
        if path.startswith("/api/v1/")
    }
    # the document does not describe itself
    assert routes - documented == {("GET", "/api/v1/openapi.json")}
    assert documented - routes == set()


async def test_metrics_count_documents_and_healthz_answers(stack: Stack) -> None:
    await stack.add_user(AUTHOR, "Lê Thị Thu")
    await send(stack, draft("Một"))
    await send(stack, draft("Hai"))
    await documents_made(stack, 2)
    status, ctype, text = await get(stack, "/metrics")
    assert status == 200 and ctype.startswith("text/plain")
    assert "# TYPE docflow_documents gauge" in text
    counts = re.findall(r'^docflow_documents\{status="(\w+)"\} ([0-9.e+]+)$', text, re.M)
    assert sum(float(n) for _, n in counts) == 2
    assert re.search(r"^docflow_versions 2\.0$", text, re.M)
    status, _, _ = await get(stack, "/healthz")
    assert status == 200


async def test_status_link_in_receipt_shows_title_and_forged_link_is_404(stack: Stack) -> None:
    await stack.add_user(AUTHOR, "Lê Thị Thu")
    await send(stack, draft())
    receipt = (await wait_for(lambda: _to(stack, AUTHOR), what="receipt"))[0]
    code = (await stack.documents())[0]["code"]
    found = re.search(r"(\S+/status/(DF-\d{4}-\d{6})\?t=(\w+))", receipt.get_content())
    assert found is not None
    link, linked_code, token = found.groups()
    assert linked_code == code and link.startswith(stack.base)

    status, ctype, page = await get(stack, link)
    assert status == 200 and ctype.startswith("text/html")
    assert html.escape(TITLE) in page or TITLE in page
    assert code in page

    forged = link.replace(token, ("0" if token[0] != "0" else "1") + token[1:])
    status, _, page = await get(stack, forged)
    assert status == 404 and TITLE not in page
    status, _, page = await get(stack, link.split("?")[0])
    assert status == 404 and TITLE not in page


async def _to(stack: Stack, addr: str) -> list[EmailMessage]:
    return stack.relay.to(addr)
