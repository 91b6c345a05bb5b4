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


async def test_reindex_shows_progress_and_keeps_the_results(
    env: dict[str, str], database_url: str
) -> None:
    await archive(database_url)
    before = (await cli_ok(env, "search", "cai cach", "--json")).stdout
    result = await cli_ok(env, "reindex")
    assert "reindexed 2 document(s)" in result.stdout
    assert "reindexing" in result.stderr
    assert (await cli_ok(env, "search", "cai cach", "--json")).stdout == before
