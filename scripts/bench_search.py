"""Search at scale: 100,000 synthetic Vietnamese documents, top-20 latency and relevance.

Run: scripts/bootstrap --bench    (once: Tantivy and Whoosh, the reference engines)
     .venv/bin/python scripts/bench_search.py [-n 100000]
                                 [--engines sqlite,postgres,tantivy,whoosh]
                                 [--repeat 3] [--whoosh-repeat 1] [--window 200]
                                 [--head 1000] [--json out.json]

For each docflow engine: a fresh database (a new PostgreSQL database on the local server,
a temp SQLite file), migrated; the documents loaded through `SearchIndex.reindex` (the
real write path); then the query list is searched `--repeat` times after one warm-up
pass, each `SearchIndex.search` timed whole (query, rows, snippets), top 20, with the
time spent inside its database calls (the SQL, run directly). Then a real `docflow
serve` is started on that database and the same passes go through HTTP
(`GET /api/v1/search` with a bearer token, one keep-alive connection, one request at a
time), timed at the client. Reported: p50 and p95 over every timed search, p95 of the
common-word queries, p95 per kind, loading time, index size, and the relevance checks
(queries whose right first document is planted in the corpus). Tantivy and Whoosh get
the same corpus and queries (bench_engines.py). The engines' first pages are compared
at the end. The numbers go into docs/benchmarks.md.

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

import aiohttp
import asyncpg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from docflow import db  # noqa: E402
from docflow.archive.backend import HEAD_WINDOW, RANK_WINDOW  # noqa: E402
from docflow.archive.document import IndexEntry  # noqa: E402
from docflow.archive.fold import fold  # noqa: E402
from docflow.archive.search import SearchIndex, SearchQuery  # noqa: E402
from scripts import bench_engines  # noqa: E402
from scripts.bench_decisions import TOKEN, Cluster  # noqa: E402
from tests.ports import free_port  # noqa: E402

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


def summary(times: dict[str, list[float]], prefix: str = "") -> dict[str, Any]:
    """p50, p95, p95 of the common words, p95 per kind and the slowest, in ms."""
    everything = [t for ts in times.values() for t in ts]
    return {
        f"{prefix}p50_ms": round(percentile(everything, 50), 1),
        f"{prefix}p95_ms": round(percentile(everything, 95), 1),
        f"{prefix}p95_common_ms": round(percentile(times["common"], 95), 1),
        f"{prefix}p95_by_kind_ms": {k: round(percentile(v, 95), 1) for k, v in times.items()},
        f"{prefix}max_ms": round(max(everything), 1),
    }


def http_params(q: SearchQuery) -> dict[str, str]:
    """The API's parameters for `q` (web/search_params.py reads them back)."""
    params = {
        "q": q.text,
        "number": q.number,
        "type": q.type,
        "register": q.register,
        "signer": q.signer,
        "from": q.issued_from.isoformat() if q.issued_from else None,
        "until": q.issued_until.isoformat() if q.issued_until else None,
        "year": str(q.year) if q.year else None,
    }
    return {k: v for k, v in params.items() if v}


async def time_http(
    url: str, queries: list[tuple[str, SearchQuery]], repeat: int, tmp: Path
) -> dict[str, list[float]]:
    """A real `docflow serve` on the loaded database; the query list through
    `GET /api/v1/search`, one request at a time on a keep-alive connection, after a
    warm-up pass; each request timed at the client, the body read and decoded."""
    cluster = Cluster(Path(tempfile.mkdtemp(dir=tmp, prefix="serve-")), url, free_port(), 1)
    await asyncio.to_thread(cluster.start)
    try:
        endpoint = f"http://127.0.0.1:{cluster.http_port}/api/v1/search"
        async with aiohttp.ClientSession(
            headers={"Authorization": f"Bearer {TOKEN}"},
            connector=aiohttp.TCPConnector(limit=1),
        ) as http:

            async def get(q: SearchQuery) -> None:
                async with http.get(endpoint, params=http_params(q)) as r:
                    body = await r.json()
                    if r.status != 200 or "items" not in body:
                        raise RuntimeError(f"{r.status} for {http_params(q)}: {body}")

            for _, q in queries:
                await get(q)
            times: dict[str, list[float]] = {}
            for _ in range(repeat):
                for kind, q in queries:
                    t = time.perf_counter()
                    await get(q)
                    times.setdefault(kind, []).append((time.perf_counter() - t) * 1000)
            return times
    finally:
        await asyncio.to_thread(cluster.stop)


async def index_bytes(engine: str, index: SearchIndex, url: str) -> int:
    """What the search data takes on disk: the search tables with their indexes and
    TOAST (PostgreSQL), the database file with its WAL (SQLite, nothing else in it)."""
    if engine == "postgres":
        rows = await index.connection().execute_query_dict(
            "SELECT sum(pg_total_relation_size(t))::bigint AS n FROM unnest("
            "ARRAY['search_entries', 'search_terms', 'search_heads']::regclass[]) AS t"
        )
        return int(rows[0]["n"])
    path = Path(url.removeprefix("sqlite://"))
    return sum(f.stat().st_size for f in path.parent.glob(f"{path.name}*"))


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
        pages = {}
        for kind, q in queries:  # warm-up
            page = await index.search(q)
            pages[bench_engines.label(kind, q)] = [h.record_id for h in page.items]
        times: dict[str, list[float]] = {}
        sql_times: list[float] = []
        for _ in range(repeat):
            for kind, q in queries:
                t, sql_ms[0] = time.perf_counter(), 0.0
                await index.search(q)
                times.setdefault(kind, []).append((time.perf_counter() - t) * 1000)
                sql_times.append(sql_ms[0])
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
        print(f"  {engine}: through HTTP", file=sys.stderr)
        http_times = await time_http(url, queries, repeat, tmp)
        service, http = summary(times), summary(http_times, "http_")
        sql_p95 = percentile(sql_times, 95)
        return {
            "engine": engine,
            "documents": await index.count(),
            "load_s": round(load_s, 1),
            "index_bytes": await index_bytes(engine, index, url),
            **http,
            **service,
            "sql_p50_ms": round(percentile(sql_times, 50), 1),
            "sql_p95_ms": round(sql_p95, 1),
            "p95_over_sql_p95": round(service["p95_ms"] / sql_p95, 2),
            "http_p95_over_sql_p95": round(http["http_p95_ms"] / sql_p95, 2),
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


def run_reference(name: str, n: int, repeat: int, tmp: Path) -> dict[str, Any]:
    """Tantivy or Whoosh over the same corpus and query list (bench_engines.py)."""
    entries, _, vocab = corpus(n)
    measured = bench_engines.measure(
        bench_engines.make(name, tmp),
        entries,
        query_list(vocab),
        repeat,
        lambda line: print(f"  {line}", file=sys.stderr),
    )
    times = measured.pop("times")
    return {**measured, **summary(times)}


def compare(results: list[dict[str, Any]]) -> None:
    """Ratios to the reference engines, and how far the first pages agree."""
    by = {r["engine"]: r for r in results}
    for ours in ("sqlite", "postgres"):
        if ours not in by:
            continue
        p95, p50 = by[ours]["http_p95_ms"], by[ours]["http_p50_ms"]
        for ref in ("tantivy", "whoosh"):
            if ref in by:
                r95, r50 = by[ref]["p95_ms"], by[ref]["p50_ms"]
                print(
                    f"{ours} through HTTP / {ref} in process: p95 {p95} / {r95} ms "
                    f"({ref} ÷ {ours}: {r95 / p95:.3g}, {ours} ÷ {ref}: {p95 / r95:.3g}), "
                    f"p50 {p50} / {r50} ms ({ref} ÷ {ours}: {r50 / p50:.3g})"
                )
    names = list(by)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            pa, pb = by[a]["pages"], by[b]["pages"]
            same = sum(1 for k in pa if set(pa[k]) == set(pb[k]))
            shared = sum(len(set(pa[k]) & set(pb[k])) for k in pa)
            total = sum(len(pa[k]) for k in pa)
            print(
                f"first pages {a} / {b}: the same documents for {same}/{len(pa)} queries, "
                f"{shared}/{total} results in common"
            )
            if {a, b} == {"sqlite", "postgres"}:
                for k in pa:
                    if set(pa[k]) != set(pb[k]):
                        print(f"  differs: {k}: {len(set(pa[k]) & set(pb[k]))}/20 in common")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=100_000)
    parser.add_argument("--engines", default="sqlite,postgres,tantivy,whoosh")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--whoosh-repeat", type=int, default=1, help="timed passes for Whoosh (seconds each)"
    )
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
            if engine in ("tantivy", "whoosh"):
                repeat = args.whoosh_repeat if engine == "whoosh" else args.repeat
                r = await asyncio.to_thread(run_reference, engine, args.n, repeat, Path(tmp))
            else:
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
                ),
                flush=True,
            )
    compare(results)
    if args.json:
        args.json.write_text(json.dumps(results, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    asyncio.run(main())
