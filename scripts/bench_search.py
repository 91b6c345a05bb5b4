"""Search at scale: 100,000 synthetic Vietnamese documents, top-20 latency and relevance.

Run: .venv/bin/python scripts/bench_search.py [-n 100000] [--engines sqlite,postgres]
                                 [--repeat 3] [--window 200] [--head 1000] [--json out.json]

For each engine: a fresh database (a new PostgreSQL database on the local server, a temp
SQLite file), migrated; the documents loaded through `SearchIndex.reindex` (the real
write path); then the query list is searched `--repeat` times after one warm-up pass,
each `SearchIndex.search` timed whole (query, rows, snippets), top 20. Reported: p50 and
p95 over every timed search, p95 of the common-word queries, p95 per kind, and the
relevance checks (queries whose right first document is planted in the corpus). The
engines' first pages are compared at the end. The numbers go into docs/benchmarks.md.

The corpus: words drawn from the sample in tests/data (real prose, so its frequent words
are very common here too) and from a long tail of generated Vietnamese syllables (Zipf);
a third of each body is whole sentences of the sample; six types, eight signers, issue
dates over 2019-2026, numbers per type and year.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import sys
import tempfile
import time
import unicodedata
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import asyncpg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from docflow import db  # noqa: E402
from docflow.archive.backend import HEAD_WINDOW, RANK_WINDOW  # noqa: E402
from docflow.archive.document import IndexEntry  # noqa: E402
from docflow.archive.fold import fold  # noqa: E402
from docflow.archive.search import SearchIndex, SearchQuery  # noqa: E402

PG_ADMIN = os.environ.get("DOCFLOW_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
SAMPLE = ROOT / "tests" / "data" / "vi-admin-reform-report-2018.txt"
TYPES = {
    "KH": "Kế hoạch",
    "BC": "Báo cáo",
    "CV": "Công văn",
    "QĐ": "Quyết định",
    "TB": "Thông báo",
    "TTr": "Tờ trình",
}
SIGNERS = [
    "Nguyễn Văn An",
    "Lê Thị Thu",
    "Trần Quốc Bảo",
    "Phạm Văn Khoa",
    "Hoàng Thị Lan",
    "Đặng Minh Đức",
    "Vũ Thị Hạnh",
    "Bùi Đức Thắng",
]
ONSETS = [*"b c ch d đ g gh gi h k kh l m n ng ngh nh p ph qu r s t th tr v x".split(), ""]
RHYMES = (
    "a ai am an ang anh ao au ay e em en eo i im in inh iu o oi om on ong u ui um un ung uy "
    "ươn ương iên iêng uôn uông ưa ưu ơi ơn ôi ôm ôn ông ăn ăng âm ân âng ây ep et ich ip it "
    "oc op ot uc up ut oan oang uyên uân"
).split()
TONES = ["", "\u0300", "\u0301", "\u0309", "\u0303", "\u0323"]
VOWELS = "aăâeêioôơuưy"


def syllable(onset: str, rhyme: str, tone: str) -> str:
    i = next((k for k, c in enumerate(rhyme) if c in VOWELS), 0)
    # the tone goes on the last vowel of a vowel pair with a final, else the first
    vowels = [k for k, c in enumerate(rhyme) if c in VOWELS]
    if (len(vowels) > 1 and vowels[-1] < len(rhyme) - 1) or rhyme[i : i + 2] in ("ươ", "iê", "uô"):
        i = vowels[-1]
    return unicodedata.normalize("NFC", onset + rhyme[: i + 1] + tone + rhyme[i + 1 :])


class Vocabulary:
    """The sample's words (with their frequencies) and a Zipf tail of generated syllables."""

    def __init__(self, rng: random.Random) -> None:
        text = SAMPLE.read_text(encoding="utf-8")
        words = [w.lower() for w in re.findall(r"[^\W\d_]+", text)]
        counts = Counter(words)
        self.head = list(counts)
        self.head_weights = [counts[w] for w in self.head]
        tail = {syllable(o, r, t) for o in ONSETS for r in RHYMES for t in TONES} - set(counts)
        self.tail = sorted(tail)
        rng.shuffle(self.tail)
        total = sum(self.head_weights)
        # the tail carries 30% of the words, Zipf (s = 1.1) over its ranks
        zipf = [1 / (r + 1) ** 1.1 for r in range(len(self.tail))]
        scale = 0.3 / 0.7 * total / sum(zipf)
        self.words = self.head + self.tail
        weights = self.head_weights + [z * scale for z in zipf]
        acc, self.cum = 0.0, []
        for w in weights:
            acc += w
            self.cum.append(acc)
        self.sentences = [s.strip() for s in re.split(r"[.;\n]+", text) if len(s.split()) >= 6]

    def words_(self, rng: random.Random, n: int) -> str:
        return " ".join(rng.choices(self.words, cum_weights=self.cum, k=n))


@dataclass(frozen=True)
class Planted:
    """A query whose right first document is planted in the corpus."""

    query: str
    record_id: int
    why: str
    # "first": the plant must come first; "above folded": no folded-only match (a hit
    # without the diacritics as typed) may rank above it, while documents holding the
    # words as typed in a heavier field (a title) may
    check: str = "first"


def corpus(n: int, seed: int = 7) -> tuple[Iterator[IndexEntry], list[Planted], Vocabulary]:
    rng = random.Random(seed)
    vocab = Vocabulary(rng)
    rare = vocab.tail[3000]  # a tail word: found in a few hundred bodies
    plants: dict[int, dict[str, str]] = {
        n // 10: {  # old (2019)
            "title": f"Kế hoạch kiểm tra {rare} tại các xã vùng cao",
            "summary": f"Kiểm tra {rare} năm đầu giai đoạn",
        },
        n // 5: {
            "title": "Đổi mới sáng tạo trong công tác dân tộc",
            "summary": "Tăng cường đổi mới sáng tạo, chuyển đổi số",
        },
        n // 3: {
            "title": "Báo cáo kết quả hỗ trợ sinh kế bền vững cho đồng bào",
            "summary": "Hỗ trợ sinh kế bền vững, giảm nghèo",
        },
        n // 2: {
            "title": "Quy chế thi đua khen thưởng năm",
            "summary": "Đơn vị dẫn đầu phong trào thi đua",
            "body": "Biểu dương đơn vị dẫn đầu. Tập thể dẫn đầu được khen thưởng.",
        },
        n // 20: {  # old (2019), a title made of the corpus' most common words
            "title": "Báo cáo công tác cải cách hành chính của Ban Dân tộc",
            "summary": "Cải cách hành chính: kết quả công tác cải cách hành chính",
        },
    }
    planted = [
        Planted(rare, n // 10, "rare word in title and summary"),
        Planted(fold(rare), n // 10, "the same without diacritics"),
        Planted("doi moi sang tao", n // 5, "no diacritics, four common words, all in the title"),
        Planted('"sinh kế bền vững"', n // 3, "phrase in title and summary"),
        Planted(
            '"dẫn đầu"',
            n // 2,
            "exact diacritics in summary/body beat folded-only title hits",
            check="above folded",
        ),
        Planted(
            '"cải cách hành chính" "Ban Dân tộc"',
            n // 20,
            "the corpus' most common phrases, old document",
        ),
    ]
    decoy_title = "Thông báo về việc dần đầu tư"  # folds to "dan dau": a folded-only match
    start = date(2019, 1, 1)
    days = (date(2026, 12, 31) - start).days
    types = list(TYPES)

    def entries() -> Iterator[IndexEntry]:
        seq: Counter[tuple[str, int]] = Counter()
        for i in range(1, n + 1):
            issued = start + timedelta(days=days * (i - 1) // n)
            kind = types[rng.randrange(len(types))]
            seq[(kind, issued.year)] += 1
            body_parts = []
            for _ in range(rng.randint(12, 25)):
                if rng.random() < 0.33:
                    body_parts.append(rng.choice(vocab.sentences) + ".")
                else:
                    body_parts.append(vocab.words_(rng, rng.randint(5, 12)).capitalize() + ".")
            doc = {
                "title": f"{TYPES[kind]} {vocab.words_(rng, rng.randint(5, 10))}",
                "summary": vocab.words_(rng, rng.randint(20, 40)).capitalize() + ".",
                "body": " ".join(body_parts),
            }
            if i in plants:
                doc = {**doc, **plants[i]}
            elif i % 1000 == 17:
                doc["title"] = decoy_title
            yield IndexEntry(
                record_id=i,
                number=f"{seq[(kind, issued.year)]}/{kind}-BDT",
                type=kind,
                register=kind,
                signer=SIGNERS[rng.randrange(len(SIGNERS))],
                issued_on=issued,
                title=doc["title"],
                summary=doc["summary"],
                body=doc["body"],
            )

    return entries(), planted, vocab


def query_list(vocab: Vocabulary, seed: int = 11) -> list[tuple[str, SearchQuery]]:
    """(kind, query): rare, common, no diacritics, phrases, filtered."""
    rng = random.Random(seed)
    ranked = sorted(vocab.head, key=lambda w: -vocab.head_weights[vocab.head.index(w)])
    common = ranked[:12]
    mid = ranked[40:120]
    out: list[tuple[str, SearchQuery]] = []
    for w in rng.sample(vocab.tail[200:6000], 12):
        out.append(("rare", SearchQuery(w)))
    for w in common:
        out.append(("common", SearchQuery(w)))
    out += [
        ("common", SearchQuery("cải cách hành chính")),
        ("common", SearchQuery("công tác cán bộ")),
        ("common", SearchQuery("Ban Dân tộc thực hiện")),
    ]
    for _ in range(8):
        out.append(("two words", SearchQuery(" ".join(rng.sample(mid, 2)))))
    for q in ("dan toc", "cai cach hanh chinh", "doi moi", "can bo cong chuc", "thu tuc"):
        out.append(("no diacritics", SearchQuery(q)))
    for w in rng.sample(vocab.tail[200:3000], 3):
        out.append(("no diacritics", SearchQuery(fold(w))))
    for q in (
        '"cải cách hành chính"',
        '"công chức"',
        '"vị trí việc làm"',
        '"trung tâm hành chính công"',
        '"dan toc"',
        '"đào tạo" bồi dưỡng',
    ):
        out.append(("phrase", SearchQuery(q)))
    out += [
        ("filtered", SearchQuery("cải cách", type="KH")),
        ("filtered", SearchQuery("dân tộc", year=2021)),
        ("filtered", SearchQuery("cán bộ", signer="nguyen van an")),
        (
            "filtered",
            SearchQuery("hành chính", issued_from=date(2024, 3, 1), issued_until=date(2024, 3, 31)),
        ),
        ("filtered", SearchQuery(rng.choice(vocab.tail[200:2000]), type="BC", year=2020)),
        ("filtered", SearchQuery("", type="TB", year=2022)),
        ("filtered", SearchQuery("", number="47/KH-BDT")),
    ]
    return out


def percentile(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))]


async def run_engine(
    engine: str,
    n: int,
    repeat: int,
    window: int,
    head: int,
    tmp: Path,
    reuse: str | None = None,
    keep: bool = False,
) -> dict[str, Any]:
    name = ""
    if reuse:
        url = reuse
    elif engine == "postgres":
        name = f"docflow_bench_search_{uuid.uuid4().hex[:8]}"
        admin = await asyncpg.connect(PG_ADMIN)
        await admin.execute(f'CREATE DATABASE "{name}"')
        await admin.close()
        url = PG_ADMIN.rsplit("/", 1)[0] + "/" + name
    else:
        url = f"sqlite://{tmp / 'bench.sqlite3'}"
    print(f"  {engine}: {url}", file=sys.stderr)
    try:
        await db.migrate(url)
        await db.open_database(url)
        index = SearchIndex(window=window, head=head)
        entries, planted, vocab = corpus(n)
        if reuse:
            entries = iter(())
        t0 = time.perf_counter()
        last = [0.0]

        def progress(k: int, done: list[int] = [0]) -> None:  # noqa: B006
            done[0] += k
            if time.perf_counter() - last[0] > 10:
                last[0] = time.perf_counter()
                print(f"  {engine}: {done[0]} loaded", file=sys.stderr)

        if not reuse:
            await index.reindex(entries, progress)
        conn = index.connection()
        if engine == "postgres":
            await conn.execute_script("VACUUM ANALYZE search_entries, search_terms, search_heads")
        else:
            await conn.execute_script(
                "ANALYZE; INSERT INTO search_fts(search_fts) VALUES('optimize'); "
                "INSERT INTO search_head(search_head) VALUES('optimize')"
            )
        load_s = time.perf_counter() - t0
        # the SQL part of each search: time spent inside the database calls (the queries
        # as the service sends them, run directly: what the service adds is the rest)
        sql_ms = [0.0]
        query_dict = conn.execute_query_dict

        async def timed(sql: str, values: list[Any] | None = None) -> list[dict[str, Any]]:
            t = time.perf_counter()
            try:
                return await query_dict(sql, values)
            finally:
                sql_ms[0] += (time.perf_counter() - t) * 1000

        conn.execute_query_dict = timed  # type: ignore[method-assign]
        queries = query_list(vocab)
        for _, q in queries:  # warm-up
            await index.search(q)
        times: dict[str, list[float]] = {}
        sql_times: list[float] = []
        for _ in range(repeat):
            for kind, q in queries:
                t, sql_ms[0] = time.perf_counter(), 0.0
                await index.search(q)
                times.setdefault(kind, []).append((time.perf_counter() - t) * 1000)
                sql_times.append(sql_ms[0])
        pages = {}
        for kind, q in queries:
            page = await index.search(q)
            pages[f"{kind}: {q.text} {q.type or ''}{q.year or ''}{q.signer or ''}"] = [
                h.record_id for h in page.items
            ]
        relevance = []
        for p in planted:
            page = await index.search(SearchQuery(p.query))
            ids = [h.record_id for h in page.items]
            rank = ids.index(p.record_id) + 1 if p.record_id in ids else None
            folded_above = [h.record_id for h in page.items[: (rank or 21) - 1] if not h.exact]
            ok = rank == 1 if p.check == "first" else rank is not None and not folded_above
            relevance.append(
                {
                    "query": p.query,
                    "why": p.why,
                    "check": p.check,
                    "ok": ok,
                    "first": ids[0] if ids else None,
                    "first_title": page.items[0].title if page.items else None,
                    "right": p.record_id,
                    "rank": rank,
                    "folded_above": folded_above,
                }
            )
        everything = [t for ts in times.values() for t in ts]
        return {
            "engine": engine,
            "documents": await index.count(),
            "load_s": round(load_s, 1),
            "p50_ms": round(percentile(everything, 50), 1),
            "p95_ms": round(percentile(everything, 95), 1),
            "p95_common_ms": round(percentile(times["common"], 95), 1),
            "p95_by_kind_ms": {k: round(percentile(v, 95), 1) for k, v in times.items()},
            "max_ms": round(max(everything), 1),
            "sql_p50_ms": round(percentile(sql_times, 50), 1),
            "sql_p95_ms": round(percentile(sql_times, 95), 1),
            "p95_over_sql_p95": round(percentile(everything, 95) / percentile(sql_times, 95), 2),
            "relevance_ok": f"{sum(r['ok'] for r in relevance)}/{len(relevance)}",
            "relevance": relevance,
            "pages": pages,
        }
    finally:
        await db.close_database()
        if name and not keep:
            admin = await asyncpg.connect(PG_ADMIN)
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await admin.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=100_000)
    parser.add_argument("--engines", default="sqlite,postgres")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--window", type=int, default=RANK_WINDOW)
    parser.add_argument("--head", type=int, default=HEAD_WINDOW)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument(
        "--keep",
        type=Path,
        default=None,
        help="keep the databases (SQLite file in this directory, PG database)",
    )
    parser.add_argument(
        "--reuse",
        action="append",
        default=[],
        help="ENGINE=URL of a database kept by --keep: skip loading",
    )
    args = parser.parse_args()
    reuse = dict(r.split("=", 1) for r in args.reuse)
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-search-") as tmp:
        for engine in args.engines.split(","):
            r = await run_engine(
                engine,
                args.n,
                args.repeat,
                args.window,
                args.head,
                args.keep or Path(tmp),
                reuse.get(engine),
                keep=args.keep is not None,
            )
            results.append(r)
            print(
                json.dumps(
                    {k: v for k, v in r.items() if k != "pages"}, ensure_ascii=False, indent=1
                )
            )
    if len(results) == 2:
        a, b = results[0]["pages"], results[1]["pages"]
        same = sum(1 for k in a if set(a[k]) == set(b[k]))
        print(f"first pages with the same documents on both engines: {same}/{len(a)}")
        for k in a:
            if set(a[k]) != set(b[k]):
                print(f"  differs: {k}: {len(set(a[k]) & set(b[k]))}/20 in common")
    if args.json:
        args.json.write_text(json.dumps(results, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    asyncio.run(main())
