"""`docflow search` and `docflow reindex` as an archivist and an operator run them."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

from tortoise.transactions import in_transaction

from docflow import db
from docflow.archive.document import IndexEntry
from docflow.archive.search import SearchIndex
from tests.system.conftest import cli_ok, run_cli

SAMPLE = Path(__file__).parent.parent / "data" / "vi-admin-reform-report-2018.txt"


async def archive(database_url: str) -> None:
    text = SAMPLE.read_text(encoding="utf-8")
    await db.open_database(database_url)
    try:
        async with in_transaction() as conn:
            search = SearchIndex()
            await search.add(
                conn,
                IndexEntry(
                    record_id=1,
                    number="47/KH-BDT",
                    type="KH",
                    register="KH",
                    signer="Nguyễn Văn An",
                    issued_on=date(2017, 11, 7),
                    title="Kế hoạch cải cách hành chính năm 2018",
                    summary="Đổi mới công tác cải cách hành chính của Ban Dân tộc",
                    body=text,
                ),
            )
            await search.add(
                conn,
                IndexEntry(
                    record_id=2,
                    number="3/BC-BDT",
                    type="BC",
                    register="BC",
                    signer="Lê Thị Thu",
                    issued_on=date(2018, 12, 20),
                    title="Báo cáo tình hình đồng bào vùng cao",
                    body="Đời sống đồng bào được cải thiện.",
                ),
            )
    finally:
        await db.close_database()


async def test_search_prints_the_documents_found_without_diacritics(
    env: dict[str, str], database_url: str
) -> None:
    await archive(database_url)
    result = await cli_ok(env, "search", "doi moi")
    assert "47/KH-BDT" in result.stdout
    assert "Kế hoạch cải cách hành chính năm 2018" in result.stdout
    assert "Đổi mới" in result.stdout
    assert "3/BC-BDT" not in result.stdout

    result = await cli_ok(env, "search", "dong bao", "--type", "BC", "--json")
    page = json.loads(result.stdout)
    assert [h["number"] for h in page["items"]] == ["3/BC-BDT"]
    assert page["items"][0]["title_html"] == (  # folded, "Báo" is "bao" too
        "<mark>Báo</mark> cáo tình hình <mark>đồng</mark> <mark>bào</mark> vùng cao"
    )
    assert page["next"] is None

    result = await cli_ok(env, "search", "--year", "2017", "--json")
    assert [h["record_id"] for h in json.loads(result.stdout)["items"]] == [1]
    result = await cli_ok(env, "search", "ngoằn ngoèo")
    assert "no document found" in result.stdout

    bad = await run_cli(env, "search", "-cải")
    assert bad.returncode != 0 and "Traceback" not in bad.stderr, str(bad)


async def test_issued_documents_are_found_and_reindex_rebuilds_from_the_archive(
    env: dict[str, str], database_url: str, tmp_path: Path
) -> None:
    from tests.system.conftest import AUTHOR, AUTHOR_NAME, draft
    from tests.system.test_cli import KNOWN_DRAFTS, write_batch

    people = [
        (AUTHOR, AUTHOR_NAME, "staff"),
        ("hung.nv@bandantoc.gov.vn", "Nguyễn Văn Hùng", "chanh-van-phong"),
        ("minh.td@bandantoc.gov.vn", "Trần Đức Minh", "truong-ban"),
    ]
    for email, name, role in people:
        await cli_ok(env, "user", "add", email, "--name", name, "--role", role)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    drafts = [draft(*d) for d in KNOWN_DRAFTS]
    await cli_ok(env, "ingest", *map(str, write_batch("mbox", inbox, drafts)))
    for _ in range(4):  # two documents: review, then sign-off, each
        tasks = json.loads((await cli_ok(env, "task", "list", "--state", "open", "--json")).stdout)
        await cli_ok(env, "task", "decide", str(tasks[0]["id"]), "approve")

    found = json.loads((await cli_ok(env, "search", "dong bao muong", "--json")).stdout)
    titles = [h["title"] for h in found["items"]]
    assert titles == [KNOWN_DRAFTS[1][0]], "found by words of the file's text"
    assert found["items"][0]["signer"] == "Trần Đức Minh"
    await archive(database_url)  # two stray entries the archive does not hold
    assert "47/KH-BDT" in (await cli_ok(env, "search", "cai cach")).stdout

    result = await cli_ok(env, "reindex")
    assert "reindexed 2 document(s)" in result.stdout and "reindexing" in result.stderr
    assert "47/KH-BDT" not in (await cli_ok(env, "search", "cai cach")).stdout
    again = json.loads((await cli_ok(env, "search", "dong bao muong", "--json")).stdout)
    assert again == found
