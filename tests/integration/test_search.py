"""Search over issued documents, on SQLite (FTS5) and PostgreSQL (tsvector + GIN)."""

from __future__ import annotations

import base64
import uuid
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path

import pytest
from tortoise.transactions import in_transaction

from docflow import db
from docflow.archive.document import IndexEntry
from docflow.archive.fold import fold
from docflow.archive.search import MAX_OFFSET, SearchHit, SearchIndex, SearchQuery
from docflow.errors import InvalidRequestError

SAMPLE = Path(__file__).parent.parent / "data" / "vi-admin-reform-report-2018.txt"
PARAGRAPHS = [p.strip() for p in SAMPLE.read_text(encoding="utf-8").splitlines() if p.strip()]


def entry(record_id: int, title: str, body: str = "", **kw: object) -> IndexEntry:
    values: dict[str, object] = {
        "number": f"{record_id}/KH-BDT",
        "type": "KH",
        "register": "KH",
        "signer": "Nguyễn Văn An",
        "issued_on": date(2024, 1, 1 + record_id % 28),
        "summary": "",
        **kw,
    }
    return IndexEntry(record_id=record_id, title=title, body=body, **values)  # type: ignore[arg-type]


# A small archive: the sample's real paragraphs, and a few documents made to tell apart.
CORPUS = [
    entry(1, "Báo cáo cải cách hành chính năm 2018", PARAGRAPHS[0], number="47/KH-BDT"),
    entry(2, "Kế hoạch đổi mới công tác dân tộc", PARAGRAPHS[2], type="BC", register="BC"),
    entry(3, "Thông báo lịch tiếp công dân", PARAGRAPHS[3], signer="Lê Thị Thu"),
    entry(4, "Về việc dần dần tăng tốc độ xử lý", "Không liên quan đến công tác."),
    entry(5, "Quy chế đào tạo, bồi dưỡng", PARAGRAPHS[4], issued_on=date(2019, 6, 1)),
    entry(
        6, "Danh sách dân tộc thiểu số", "Các dân tộc: Tày, Nùng, Dao.", issued_on=date(2021, 3, 2)
    ),
    entry(7, "Tập huấn tạo đào kênh", "Ngược thứ tự: tạo trước, đào sau."),
    entry(
        8, "Tờ trình <khẩn> & bảo mật", 'Nội dung có ký tự <script>alert("x")</script> & dân tộc.'
    ),
]


@pytest.fixture
async def index(database_url: str) -> AsyncIterator[SearchIndex]:
    await db.open_database(database_url)
    # small, so that the tests cross the ranking window and the head candidates' limit
    search = SearchIndex(window=4, head=3)
    async with in_transaction() as conn:
        for e in CORPUS:
            await search.add(conn, e)
    yield search
    await db.close_database()


async def ids(index: SearchIndex, text: str = "", **kw: object) -> list[int]:
    """Every record the query finds, following `next` to the end."""
    out: list[int] = []
    cursor = None
    while True:
        page = await index.search(SearchQuery(text=text, limit=2, cursor=cursor, **kw))  # type: ignore[arg-type]
        out += [h.record_id for h in page.items]
        if page.next is None:
            return out
        cursor = page.next


async def first(index: SearchIndex, text: str) -> SearchHit:
    page = await index.search(SearchQuery(text))
    assert page.items, text
    return page.items[0]


def test_fold_strips_diacritics_and_d_stroke() -> None:
    assert fold("Đổi mới Dân tộc ĐẮK LẮK") == "doi moi dan toc dak lak"


async def test_query_without_diacritics_finds_text_with_them(index: SearchIndex) -> None:
    assert set(await ids(index, "dan toc")) >= {2, 6, 8}
    assert 2 in await ids(index, "doi moi")
    assert 2 in await ids(index, "ĐỔI MỚI")


async def test_exact_diacritics_rank_above_folded_only_matches(index: SearchIndex) -> None:
    found = await ids(index, "dần")
    assert found[0] == 4  # "dần" as typed
    assert set(found[1:]) >= {2, 6, 8}  # "dân" only folds to it
    page = await index.search(SearchQuery("dần"))
    assert [h.exact for h in page.items][:2] == [True, False]


async def test_phrase_needs_the_words_adjacent_and_in_order(index: SearchIndex) -> None:
    assert 7 in await ids(index, "đào tạo")
    phrase = await ids(index, '"đào tạo"')
    assert 5 in phrase
    assert 7 not in phrase  # "tạo đào", "tạo trước, đào sau"
    # a number is a phrase of its parts; 2's text cites "Kế hoạch số: 47/KH-BDT"
    assert await ids(index, "47/KH-BDT") == [1, 2]
    assert await ids(index, "KH-BDT 48") == []


async def test_excluded_word_removes_documents(index: SearchIndex) -> None:
    assert 6 in await ids(index, "dân tộc")
    assert 6 not in await ids(index, "dân tộc -thiểu")
    with pytest.raises(InvalidRequestError):
        await index.search(SearchQuery("-thiểu"))


async def test_filters_narrow_the_results(index: SearchIndex) -> None:
    assert await ids(index, "", number="47/KH-BDT") == [1]
    assert await ids(index, "dân tộc", type="BC") == [2]
    assert await ids(index, "", register="BC") == [2]
    assert await ids(index, "", signer="le thi thu") == [3]
    assert await ids(index, "", year=2019) == [5]
    assert await ids(
        index, "dan toc", issued_from=date(2021, 1, 1), issued_until=date(2021, 12, 31)
    ) == [6]
    assert await ids(index, "dan toc", year=2020) == []
    assert await ids(index, "dân tộc", signer="LE THI THU") == [3]
    assert await ids(index, "thiểu số", signer="le thi thu") == []
    assert await ids(index, "cong dan", signer="le thi thu") == [3]
    assert await ids(index, "kh bdt", number="47/KH-BDT") == [1]
    assert await ids(index, "công", type="BC", register="BC") == [2]


async def test_excluded_word_in_the_text_removes_a_title_match(index: SearchIndex) -> None:
    # 6's title has "dân tộc" (a head candidate), its text "Nùng"
    assert 6 in await ids(index, "dân tộc")
    assert 6 not in await ids(index, "dân tộc -nung")


async def test_a_title_match_older_than_the_window_ranks_above_newer_text_matches(
    database_url: str,
) -> None:
    await db.open_database(database_url)
    try:
        search = SearchIndex(window=3, head=3)
        old = entry(1, "Kiểm tra duấn vùng cao", issued_on=date(2019, 1, 2))
        newer = [
            entry(i, f"Văn bản {i}", "Có nhắc đến duấn một lần.", issued_on=date(2024, 1, i))
            for i in range(2, 12)
        ]
        await search.reindex([old, *newer])
        found = await ids(search, "duan")
        assert found[0] == 1
        assert sorted(found) == list(range(1, 12))
        page = await search.search(SearchQuery("duấn"))
        assert page.items[0].record_id == 1 and page.items[0].exact
    finally:
        await db.close_database()


async def test_pages_list_every_match_once_ranked_window_first(index: SearchIndex) -> None:
    everything = await ids(index)
    assert sorted(everything) == sorted(e.record_id for e in CORPUS)
    assert everything[-2:] == [6, 5]  # no words: newest first
    broad = await ids(index, "công")  # more matches than the ranking window (4)
    assert len(broad) == len(set(broad))
    expected = await index.search(SearchQuery("công", limit=100))
    assert broad == [h.record_id for h in expected.items]
    with pytest.raises(InvalidRequestError):
        await index.search(SearchQuery("công", cursor="nonsense"))
    deep = base64.urlsafe_b64encode(f"s{MAX_OFFSET + 1}".encode()).decode()
    with pytest.raises(InvalidRequestError, match="narrow the search"):
        await index.search(SearchQuery("công", cursor=deep))


async def test_snippets_are_escaped_and_mark_the_matches(index: SearchIndex) -> None:
    hit = await first(index, '"cai cach hanh chinh"')
    assert hit.record_id == 1
    marked = "<mark>cải</mark> <mark>cách</mark> <mark>hành</mark> <mark>chính</mark>"
    assert hit.title_html == f"Báo cáo {marked} năm 2018"
    assert marked in hit.snippet_html
    page = await index.search(SearchQuery("bao mat"))
    (hit,) = page.items
    assert hit.title_html == "Tờ trình &lt;khẩn&gt; &amp; <mark>bảo</mark> <mark>mật</mark>"
    page = await index.search(SearchQuery('"dân tộc"', type="KH"))
    (hit,) = [h for h in page.items if h.record_id == 8]
    assert "<script>" not in hit.snippet_html
    assert "&lt;script&gt;" in hit.snippet_html
    assert "<mark>dân</mark> <mark>tộc</mark>" in hit.snippet_html


async def test_adding_a_record_again_replaces_it_and_remove_takes_it_out(
    index: SearchIndex,
) -> None:
    async with in_transaction() as conn:
        await index.add(conn, entry(3, "Thông báo lịch họp xuân", "Họp mừng xuân."))
    assert await ids(index, "tiếp công dân") == []
    assert await ids(index, "hop xuan") == [3]
    assert await index.count() == len(CORPUS)
    async with in_transaction() as conn:
        assert await index.remove(conn, 3)
        assert not await index.remove(conn, 3)
    assert await ids(index, "hop xuan") == []
    assert await index.count() == len(CORPUS) - 1


async def test_reindex_rebuilds_the_same_results(index: SearchIndex) -> None:
    queries = ["dan toc", '"cải cách hành chính"', "công", "dần"]
    before = [await ids(index, q) for q in queries]
    seen: list[int] = []
    assert await index.reindex(None, seen.append) == len(CORPUS)
    assert sum(seen) == len(CORPUS)
    assert [await ids(index, q) for q in queries] == before
    assert await index.reindex(CORPUS[:3]) == 3
    assert await ids(index) == [3, 2, 1]
    # and the planner's statistics are of the new rows (PostgreSQL: ANALYZE sets
    # reltuples; autovacuum leaves tables this small alone)
    conn = index.connection()
    if conn.capabilities.dialect == "sqlite":
        stats = "SELECT count(*) AS n FROM sqlite_stat1 WHERE tbl = 'search_entries'"
        assert (await conn.execute_query_dict(stats))[0]["n"] > 0
    else:
        rows = await conn.execute_query_dict(
            "SELECT relname, reltuples FROM pg_class "
            "WHERE relname IN ('search_entries', 'search_terms', 'search_heads')"
        )
        assert {r["relname"]: r["reltuples"] for r in rows} == dict.fromkeys(
            ("search_entries", "search_terms", "search_heads"), 3
        )


# query → the right first document, when there is one (the engines rank with their own
# formulas, bm25 and ts_rank_cd, so ties and near-ties may come in another order)
QUERIES: dict[str, int | None] = {
    "dan toc": None,
    "dân tộc": None,
    "doi moi": 2,
    '"cải cách hành chính"': 1,
    "cong tac -dan": None,
    "đào tạo": None,
    '"đào tạo"': 5,
    "công": None,
    "dần": 4,
    "47/KH-BDT": 1,
    "nguyen van an": None,
    "thieu so": 6,
}


def test_the_same_query_finds_the_same_documents_on_both_engines(
    sqlite_template: Path, pg_database: str, tmp_path: Path
) -> None:
    import shutil

    from tests.conftest import _truncate_pg, run_in_thread

    sqlite = tmp_path / "same.sqlite3"
    shutil.copy(sqlite_template, sqlite)
    run_in_thread(_truncate_pg(pg_database))

    async def results(url: str) -> list[list[int]]:
        await db.open_database(url)
        try:
            search = SearchIndex(window=4, head=3)
            await search.reindex(CORPUS)
            out = []
            for q in QUERIES:
                out.append(await ids(search, q))
            return out
        finally:
            await db.close_database()

    on_sqlite = run_in_thread(results(f"sqlite://{sqlite}"))
    on_pg = run_in_thread(results(pg_database))
    for (q, right), a, b in zip(QUERIES.items(), on_sqlite, on_pg, strict=True):
        assert sorted(a) == sorted(b), q
        if right is not None:
            assert a[0] == b[0] == right, q


def test_snippets_find_the_phrase_before_a_lone_word_in_composed_and_decomposed_text() -> None:
    import unicodedata

    from docflow.archive.query import parse_query
    from docflow.archive.snippets import snippet

    text = "Đổi mới. " + "chữ " * 40 + "Công tác đổi mới, sáng tạo."
    q = parse_query('"đổi mới, sáng tạo"')
    words, phrases = q.highlight_words(), [t.folded for t in q.positive]
    marked = "<mark>đổi</mark> <mark>mới</mark>, <mark>sáng</mark> <mark>tạo</mark>"
    assert marked in snippet([text], words, phrases)
    decomposed = unicodedata.normalize("NFD", text)
    assert unicodedata.normalize("NFC", snippet([decomposed], words, phrases)) == snippet(
        [text], words, phrases
    )


async def test_sparse_phrases_and_exclusions_find_exactly_their_documents(
    database_url: str,
) -> None:
    """Matches too sparse for the first walk of the newest rows (PostgreSQL then asks
    the GIN index by word pairs and tests the phrase in what it finds): decoys hold every
    pair of the phrase but not the phrase, and the words of an excluded one."""
    await db.open_database(database_url)
    try:
        search = SearchIndex(window=4, head=3)
        start = date(2020, 1, 1)
        texts = {
            **{i: "Kết quả cải cách hành chính năm nay." for i in (1, 2, 3, 30, 31)},
            # every pair of "cải cách hành chính", not the phrase
            **{i: "Cải cách hành động, hành chính gọn." for i in range(5, 29)},
            **{i: "Cải cách hành chính, thủ tục giảm." for i in (33, 35)},
            **{i: f"Hạ tầng số {i}." + (" Mùa xuân." if i % 2 else "") for i in range(36, 61)},
        }
        docs = [
            entry(
                i,
                f"Văn bản {i}",
                texts.get(i, "Nội dung khác."),
                issued_on=start.replace(day=1 + i % 28, month=1 + i // 28),
            )
            for i in range(1, 61)
        ]
        await search.reindex(docs)
        phrase = {i for i, t in texts.items() if "cải cách hành chính" in t.lower()}
        assert sorted(await ids(search, '"cải cách hành chính"')) == sorted(phrase)
        assert sorted(await ids(search, '"cai cach hanh chinh" -thu')) == [1, 2, 3, 30, 31]
        # the exclusion rejects most matches of the pairs: several rounds of the GIN route
        assert sorted(await ids(search, '"cai cach" -"hanh dong"')) == [1, 2, 3, 30, 31, 33, 35]
        dense = list(range(36, 61))  # the newest: walked, not looked up
        assert sorted(await ids(search, "ha tang")) == dense
        assert sorted(await ids(search, '"hạ tầng" -"số 40"')) == [i for i in dense if i != 40]
        # half the newest: the walk goes on a second chunk
        assert sorted(await ids(search, '"mùa xuân"')) == [i for i in dense if i % 2]
    finally:
        await db.close_database()


@pytest.mark.parametrize("engine", ["sqlite", "postgres"])
async def test_migration_0013_moves_the_index_and_is_a_no_op_on_sqlite(
    engine: str, tmp_path: Path
) -> None:
    """0013 moves PostgreSQL's tsv out of search_entries into search_terms, rows and all;
    on SQLite it changes nothing."""
    import asyncpg
    from tortoise import Tortoise
    from tortoise.migrations.api import migrate

    from docflow.archive.search_pg import tsvector_literal
    from docflow.archive.sql import entry_values, upsert_sql
    from tests.conftest import PG_ADMIN_URL

    async def to(url: str, target: str | None) -> None:
        await migrate(config=db.tortoise_config(url), target=target)
        await Tortoise.close_connections()

    if engine == "sqlite":
        url = f"sqlite://{tmp_path / 'm.sqlite3'}"
        await to(url, "docflow.0012_imap")
        import sqlite3

        def schema() -> list[tuple[str, str]]:
            with sqlite3.connect(tmp_path / "m.sqlite3") as c:
                return c.execute("SELECT name, sql FROM sqlite_master ORDER BY name").fetchall()

        before = schema()
        await to(url, "docflow.0013_search_pg")
        assert schema() == before
        return
    name = f"docflow_test_m{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(PG_ADMIN_URL)
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    try:
        await to(url, "docflow.0012_imap")
        conn = await asyncpg.connect(url)
        try:  # what the code before 0013 wrote: tsv on the entry row, head_tsv beside it
            for e in CORPUS[:3]:
                n = len(entry_values(e)) + 1
                await conn.execute(
                    upsert_sql(lambda k: f"${k}", {"tsv": f"${n}::text::tsvector"}),
                    *entry_values(e),
                    tsvector_literal(e),
                )
                await conn.execute(
                    "INSERT INTO search_heads VALUES ($1, $2::text::tsvector)",
                    e.sort_key,
                    tsvector_literal(e, head=True),
                )
        finally:
            await conn.close()
        await to(url, None)
        await db.open_database(url)
        try:
            search = SearchIndex(window=4, head=3)
            assert await ids(search, '"tiep cong dan"') == [3]
            assert sorted(await ids(search, "công")) == [1, 2, 3]
            columns = await SearchIndex.connection().execute_query_dict(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_name = 'search_entries' AND column_name = 'tsv'"
            )
            assert columns == []
        finally:
            await db.close_database()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
