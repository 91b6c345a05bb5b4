"""The reference points of bench_search.py: the same corpus and queries in Tantivy and Whoosh.

Tantivy (PyPI `tantivy`, the Rust index Paperless-ngx uses today) and Whoosh (pure
Python, the one it used before) get the tokens docflow's search indexes (fold.py): each
field twice, folded and exact, pre-tokenized and split on spaces, so that both find what
docflow finds. A query is docflow's parse (query.py) turned into each library's query
objects: every positive term must match in some field (folded), exact-diacritic matches
and the heavier fields (title ×10, summary ×4, number and signer ×2) weigh more, phrases
are phrase queries, `-word` excludes, filters are exact terms and ranges. Both libraries
rank every match by BM25 (no bounded candidates), fetch the stored id and title of the
top 20, and make no snippets. Run in process: no HTTP, no database.

Install them with `scripts/bootstrap --bench` (the `bench` extra).
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterable
from datetime import date
from pathlib import Path
from typing import Any, Protocol

from docflow.archive.document import FIELDS, IndexEntry, field_tokens, folded_tokens
from docflow.archive.query import Term, parse_query
from docflow.archive.search import SearchQuery
from docflow.archive.sql import signer_key

WEIGHT = {"title": 10.0, "summary": 4.0, "meta": 2.0, "body": 1.0}
EXACT = 2.0  # an exact-diacritic match counts twice a folded one
TOP = 20


def document(entry: IndexEntry) -> dict[str, Any]:
    """What both libraries index: each field's folded tokens under its name and its exact
    tokens under `name_x`, the filter values, the day and the sort key."""
    out: dict[str, Any] = {}
    for name, exact in field_tokens(entry).items():
        out[name] = " ".join(folded_tokens(exact))
        out[f"{name}_x"] = " ".join(exact)
    return out | {
        "number": entry.number,
        "type": entry.type,
        "register": entry.register,
        "signer": signer_key(entry.signer),
        "record_id": entry.record_id,
        "day": entry.issued_on.toordinal(),
        "sort_key": entry.sort_key,
    }


def day_bounds(q: SearchQuery) -> tuple[int | None, int | None]:
    """The issue-date filters as day numbers (both included); `year` is a range too."""
    lo = q.issued_from.toordinal() if q.issued_from else None
    hi = q.issued_until.toordinal() if q.issued_until else None
    if q.year is not None:
        first, last = date(q.year, 1, 1).toordinal(), date(q.year, 12, 31).toordinal()
        lo, hi = max(lo or first, first), min(hi or last, last)
    return lo, hi


def exact_filters(q: SearchQuery) -> dict[str, str]:
    pairs = {"number": q.number, "type": q.type, "register": q.register}
    if q.signer:
        pairs["signer"] = signer_key(q.signer)
    return {k: v for k, v in pairs.items() if v is not None}


def dir_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


class Engine(Protocol):
    name: str

    def load(self, entries: Iterable[IndexEntry], progress: Callable[[int], None]) -> None: ...

    def search(self, q: SearchQuery) -> list[tuple[int, str]]:
        """(record id, title) of the top 20."""

    def size(self) -> int: ...


class TantivyEngine:
    name = "tantivy"

    def __init__(self, path: Path) -> None:
        import tantivy

        self.t = tantivy
        sb = tantivy.SchemaBuilder()
        for name in FIELDS:
            for field in (name, f"{name}_x"):
                sb.add_text_field(field, stored=field == "title_x", tokenizer_name="whitespace")
        for field in ("number", "type", "register", "signer"):
            sb.add_text_field(field, tokenizer_name="raw")
        sb.add_integer_field("record_id", stored=True)
        sb.add_integer_field("day", indexed=True, fast=True)
        sb.add_integer_field("sort_key", fast=True)
        self.schema = sb.build()
        self.path = path
        path.mkdir(parents=True, exist_ok=True)
        self.index = tantivy.Index(self.schema, path=str(path))

    def load(self, entries: Iterable[IndexEntry], progress: Callable[[int], None]) -> None:
        writer = self.index.writer(heap_size=512_000_000, num_threads=2)
        for entry in entries:
            writer.add_document(self.t.Document(**document(entry)))
            progress(1)
        writer.commit()
        writer.wait_merging_threads()
        self.index.reload()
        self.searcher = self.index.searcher()

    def _match(self, field: str, words: tuple[str, ...], boost: float) -> Any:
        Q = self.t.Query
        q = (
            Q.term_query(self.schema, field, words[0])
            if len(words) == 1
            else Q.phrase_query(self.schema, field, list(words))
        )
        return Q.boost_query(q, boost)

    def _term(self, term: Term) -> Any:
        should = self.t.Occur.Should
        alternatives = []
        for name, weight in WEIGHT.items():
            alternatives.append((should, self._match(name, term.folded, weight)))
            alternatives.append((should, self._match(f"{name}_x", term.tokens, weight * EXACT)))
        return self.t.Query.boolean_query(alternatives)

    def search(self, q: SearchQuery) -> list[tuple[int, str]]:
        Q, Occur = self.t.Query, self.t.Occur
        parsed = parse_query(q.text)
        clauses = [(Occur.Must, self._term(t)) for t in parsed.positive]
        for t in parsed.negative:
            clauses += [(Occur.MustNot, self._match(f, t.folded, 1.0)) for f in WEIGHT]
        for field, value in exact_filters(q).items():
            clauses.append((Occur.Must, Q.term_query(self.schema, field, value)))
        lo, hi = day_bounds(q)
        if lo is not None or hi is not None:
            clauses.append(
                (Occur.Must, Q.range_query(self.schema, "day", self.t.FieldType.Integer, lo, hi))
            )
        query = Q.boolean_query(clauses) if clauses else Q.all_query()
        if parsed.positive:
            result = self.searcher.search(query, TOP, count=False)
        else:
            result = self.searcher.search(query, TOP, count=False, order_by_field="sort_key")
        out = []
        for _, address in result.hits:
            doc = self.searcher.doc(address)
            out.append((int(doc["record_id"][0]), str(doc["title_x"][0])))
        return out

    def size(self) -> int:
        return dir_size(self.path)


class WhooshEngine:
    name = "whoosh"

    def __init__(self, path: Path, procs: int = 2) -> None:
        from whoosh import fields, index
        from whoosh.analysis import SpaceSeparatedTokenizer

        text = {
            field: fields.TEXT(
                analyzer=SpaceSeparatedTokenizer(),
                phrase=True,
                stored=field == "title_x",
            )
            for name in FIELDS
            for field in (name, f"{name}_x")
        }
        self.schema = fields.Schema(
            **text,
            number=fields.ID,
            type=fields.ID,
            register=fields.ID,
            signer=fields.ID,
            record_id=fields.NUMERIC(stored=True),
            day=fields.NUMERIC,
            sort_key=fields.NUMERIC(bits=64, sortable=True),
        )
        self.path = path
        path.mkdir(parents=True, exist_ok=True)
        self.index = index.create_in(str(path), self.schema)
        self.procs = procs

    def load(self, entries: Iterable[IndexEntry], progress: Callable[[int], None]) -> None:
        writer = self.index.writer(procs=self.procs, limitmb=256, multisegment=self.procs > 1)
        for entry in entries:
            writer.add_document(**document(entry))
            progress(1)
        writer.commit()
        self.searcher = self.index.searcher()

    def _match(self, field: str, words: tuple[str, ...], boost: float) -> Any:
        from whoosh import query as wq

        if len(words) == 1:
            return wq.Term(field, words[0], boost=boost)
        return wq.Phrase(field, list(words), boost=boost)

    def _term(self, term: Term) -> Any:
        from whoosh import query as wq

        alternatives = []
        for name, weight in WEIGHT.items():
            alternatives.append(self._match(name, term.folded, weight))
            alternatives.append(self._match(f"{name}_x", term.tokens, weight * EXACT))
        return wq.Or(alternatives)

    def search(self, q: SearchQuery) -> list[tuple[int, str]]:
        from whoosh import query as wq

        parsed = parse_query(q.text)
        must = [self._term(t) for t in parsed.positive]
        must += [wq.Term(field, value) for field, value in exact_filters(q).items()]
        lo, hi = day_bounds(q)
        if lo is not None or hi is not None:
            must.append(wq.NumericRange("day", lo, hi))
        query: Any = wq.And(must) if must else wq.Every()
        excluded = [self._match(f, t.folded, 1.0) for t in parsed.negative for f in WEIGHT]
        if excluded:
            query = wq.AndNot(query, wq.Or(excluded))
        if parsed.positive:
            hits = self.searcher.search(query, limit=TOP)
        else:
            hits = self.searcher.search(query, limit=TOP, sortedby="sort_key", reverse=True)
        return [(int(h["record_id"]), str(h["title_x"])) for h in hits]

    def size(self) -> int:
        return dir_size(self.path)


def measure(
    engine: Engine,
    entries: Iterable[IndexEntry],
    queries: list[tuple[str, SearchQuery]],
    repeat: int,
    log: Callable[[str], None],
) -> dict[str, Any]:
    """Load, warm up, then time `repeat` passes over the query list (each search whole)."""
    done, last = [0], [time.perf_counter()]

    def progress(k: int) -> None:
        done[0] += k
        if time.perf_counter() - last[0] > 30:
            last[0] = time.perf_counter()
            log(f"{engine.name}: {done[0]} loaded")

    t0 = time.perf_counter()
    engine.load(entries, progress)
    load_s = time.perf_counter() - t0
    log(f"{engine.name}: {done[0]} loaded in {load_s:.0f} s")
    for _, q in queries:
        engine.search(q)
    times: dict[str, list[float]] = {}
    for _ in range(repeat):
        for kind, q in queries:
            t = time.perf_counter()
            engine.search(q)
            times.setdefault(kind, []).append((time.perf_counter() - t) * 1000)
    pages = {label(kind, q): [r for r, _ in engine.search(q)] for kind, q in queries}
    return {
        "engine": engine.name,
        "documents": done[0],
        "load_s": round(load_s, 1),
        "index_bytes": engine.size(),
        "times": times,
        "pages": pages,
    }


def label(kind: str, q: SearchQuery) -> str:
    """How a query is named in the output (the same in bench_search.py)."""
    return f"{kind}: {q.text} {q.type or ''}{q.year or ''}{q.signer or ''}"


def make(name: str, root: Path) -> Engine:
    path = root / name
    if path.exists():
        shutil.rmtree(path)
    if name == "tantivy":
        return TantivyEngine(path)
    if name == "whoosh":
        return WhooshEngine(path, procs=min(2, os.cpu_count() or 1))
    raise ValueError(f"no reference engine {name!r} (tantivy, whoosh)")
