"""The per-sender limit stops answers, never drafts: a clerk's busy hour loses nothing.

Everything goes in through docflow's real SMTP port and out through the capturing relay.
The limit is 5 messages an hour here (30 by default): the 6th draft and on still become
documents, only their receipts stop, and the admins hear of it once per sender per hour.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest

from docflow.clock import FrozenClock
from docflow.intake.models import InboundMessage
from docflow.intake.quarantine import list_entries
from tests import mails
from tests.conftest import Relay, Stack, make_settings
from tests.integration.test_mail_hygiene import UNFOLDED, send_all

CLERK = "thu.lt@bandantoc.gov.vn"
OTHER = "hung.nv@bandantoc.gov.vn"
APPROVER = "cvp@bandantoc.gov.vn"  # stage 1 of cong-van: task mails are not answers
ADMIN_VI = "quantri@bandantoc.gov.vn"
ADMIN_EN = "it.admin@bandantoc.gov.vn"
LIMIT = 5


class Clocked(Stack):
    clock: FrozenClock


@pytest.fixture
async def office(database_url: str, relay: Relay, tmp_path: Path) -> AsyncIterator[Clocked]:
    settings = make_settings(
        tmp_path / "data", database_url, relay.port, DOCFLOW_RATE_LIMIT=str(LIMIT)
    )
    s = Clocked(settings, relay, FrozenClock(datetime.now(UTC).replace(microsecond=0)))
    await s.start()
    await s.add_user(CLERK, "Lê Thị Thu")
    await s.add_user(OTHER, "Nguyễn Văn Hùng")
    await s.add_user(APPROVER, "Chánh Văn phòng", ["chanh-van-phong"])
    await s.add_user(ADMIN_VI, "Trần Quản Trị", ["admin"])
    await s.add_user(ADMIN_EN, "Pat Admin", ["admin"], language="en")
    yield s
    await s.stop()


def draft(subject: str, sender: str = CLERK) -> EmailMessage:
    return mails.draft(
        subject, "du-thao.txt", f"{subject}.\n".encode(), "text/plain", sender=sender
    )


async def titles(stack: Stack) -> list[str]:
    await stack.settled()
    return sorted(d["title"] for d in await stack.documents())


async def test_drafts_past_the_limit_all_become_documents_and_only_the_receipts_stop(
    office: Clocked, relay: Relay
) -> None:
    sent = [f"Công văn số {i}" for i in range(1, 9)]
    await send_all(office, [draft(s) for s in sent], mail_from=CLERK)

    assert await titles(office) == sorted(sent)  # all 8, none quarantined
    assert await list_entries() == []
    receipts = relay.to(CLERK)
    assert len(receipts) == LIMIT
    assert all("Công văn số" in str(m["Subject"]) for m in receipts)
    assert len(relay.to(APPROVER)) == 8  # the drafts go on their way as usual
    # the ones past the limit are marked (for the admin), accepted all the same
    past = await InboundMessage.filter(reason="rate_limited").order_by("id")
    assert [(r.state, r.subject) for r in past] == [("accepted", s) for s in sent[LIMIT:]]

    # the admins: exactly one alert each, in their language, naming the sender
    (vi,) = [" ".join(t.split()) for t in relay.texts_to(ADMIN_VI)]
    (en,) = [" ".join(t.split()) for t in relay.texts_to(ADMIN_EN)]
    assert CLERK in str(relay.to(ADMIN_VI)[0]["Subject"])
    assert f"quá {LIMIT} thư trong 1 giờ" in vi and f"Q-{past[0].id}" in vi
    assert "dự thảo của người gửi vẫn được tiếp nhận thành văn bản" in vi
    assert f"more than {LIMIT} messages in 1 hour" in en
    assert "/admin/quarantine" in en

    # more in the same hour: documents still, no receipt, no second alert
    await send_all(office, [draft("Công văn số 9")], mail_from=CLERK)
    assert len(await titles(office)) == 9
    assert len(relay.to(CLERK)) == LIMIT
    assert len(relay.to(ADMIN_VI)) == len(relay.to(ADMIN_EN)) == 1
    # another clerk is answered as usual
    await send_all(office, [draft("Tờ trình", sender=OTHER)], mail_from=OTHER)
    await office.settled()
    assert len(relay.to(OTHER)) == 1

    # an hour later answers resume; a new busy hour is a new alert
    office.clock.advance(timedelta(hours=1, seconds=1))
    later = [f"Báo cáo {i}" for i in range(1, LIMIT + 2)]
    await send_all(office, [draft(s) for s in later], mail_from=CLERK)
    assert len(await titles(office)) == 9 + 1 + len(later)
    assert len(relay.to(CLERK)) == 2 * LIMIT
    assert len(relay.to(ADMIN_VI)) == len(relay.to(ADMIN_EN)) == 2


async def test_mail_past_the_limit_that_would_create_nothing_is_quarantined_unanswered(
    office: Clocked, relay: Relay
) -> None:
    await send_all(office, [draft(f"Dự thảo {i}") for i in range(LIMIT)], mail_from=CLERK)
    await office.settled()
    no_file = mails.draft("Nhờ xem giúp", sender=CLERK)  # no attachment, nothing to store
    await send_all(office, [no_file], mail_from=CLERK)

    await office.settled()
    assert len(relay.to(CLERK)) == LIMIT  # the receipts; no refusal for the last one
    (entry,) = await list_entries()
    assert entry["reason"] == "rate_limited"
    assert entry["detail"].startswith("no_attachment (")  # what was wrong with it, kept
    assert f"over {LIMIT} messages in 3600 s" in entry["detail"]


async def test_docflow_ingest_is_not_counted(office: Clocked, relay: Relay) -> None:
    """An administrator's files (`docflow ingest`: the same calls as the command's)."""
    intake = office.services.intake
    for i in range(LIMIT + 3):
        raw = draft(f"Hồ sơ cũ {i}").as_bytes(policy=UNFOLDED)
        inbound_id = await intake.receive(raw, "", [], "ingest", queue=False)
        outcome = await intake.process(inbound_id)
        assert outcome is not None and (outcome.state, outcome.reason) == ("accepted", None)
    await office.settled()
    assert len(relay.to(CLERK)) == LIMIT + 3  # every one answered
    assert relay.to(ADMIN_VI) == []
