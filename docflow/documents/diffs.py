"""What changed between two versions of a document: the word diff of their main files' text.

Interface:

- `await version_diff(code, from_number=None, to_number=None) -> dict` (JSON-able): the
  defaults are the version before the latest and the latest (a document of one version
  compares it with itself). `NotFoundError` for an unknown document or version number.
  The result is `diff_texts(...).as_dict()` (documents/diff.py) plus::

      {"code": str, "from": int, "to": int, "latest": int,
       "from_file": str | None, "to_file": str | None,   # the main files' names
       "text_missing": [int, ...]}                        # versions with no text to compare

  Only the main file (position 0) is compared, by its extracted text (`VersionFile.text`);
  a version whose text could not be extracted (a scan, a failed extraction) counts as
  empty and is named in `text_missing`, so a page can say why everything looks added.
  The result's nested lists are shared with an in-memory cache (keyed by the texts'
  hashes; versions never change): read them, do not change them.
- `await version_numbers(document_id) -> list[int]`: the numbers, ascending (for pickers).
- `await record_seen(user_id, document_id, version, at)`: a signed-in person opened this
  version on a document page (only the highest number is kept); `await last_seen(user_id,
  document_id) -> int | None`. Never written on a decision link's GET (mail scanners).
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from datetime import datetime
from typing import Any

from tortoise.exceptions import IntegrityError

from docflow.documents.diff import diff_texts
from docflow.documents.models import Document, SeenVersion, Version, VersionFile
from docflow.documents.service import normal_code
from docflow.errors import NotFoundError

CACHE_SIZE = 32  # diffs kept in memory (the largest, of 50 pages, take about 1 MB)
_CACHE: OrderedDict[tuple[bytes, bytes], dict[str, Any]] = OrderedDict()


async def version_numbers(document_id: int) -> list[int]:
    numbers = await Version.filter(document_id=document_id).values_list("number", flat=True)
    return sorted(int(n) for n in numbers)  # type: ignore[call-overload]


async def version_diff(
    code: str, from_number: int | None = None, to_number: int | None = None
) -> dict[str, Any]:
    """The differences from version `from_number` to `to_number` of document `code`."""
    code = normal_code(code)
    doc = await Document.get_or_none(code=code).only("id")
    if doc is None:
        raise NotFoundError(f"no document {code}")
    numbers = await version_numbers(doc.id)
    if not numbers:
        raise NotFoundError(f"document {code} has no version")
    latest = numbers[-1]
    to_n = latest if to_number is None else to_number
    from_n = (max(1, to_n - 1) if to_n in numbers else 1) if from_number is None else from_number
    for n in (from_n, to_n):
        if n not in numbers:
            raise NotFoundError(f"no version {n} of {code}")
    rows = await VersionFile.filter(
        version__document_id=doc.id, version__number__in=[from_n, to_n], position=0
    ).values("version__number", "name", "text")
    main = {int(r["version__number"]): r for r in rows}
    old, new = main.get(from_n), main.get(to_n)
    result = dict(_diff((old or {}).get("text") or "", (new or {}).get("text") or ""))
    missing = sorted({n for n, r in ((from_n, old), (to_n, new)) if not (r and r["text"])})
    result.update(
        code=code,
        latest=latest,
        from_file=old["name"] if old else None,
        to_file=new["name"] if new else None,
        text_missing=missing,
    )
    result["from"] = from_n
    result["to"] = to_n
    return result


def _diff(old: str, new: str) -> dict[str, Any]:
    """`diff_texts` of two texts, remembered by their hashes: versions never change, and a
    page of two 50-page versions is read again and again (the author, each approver)."""
    key = (_digest(old), _digest(new))
    found = _CACHE.get(key)
    if found is None:
        found = _CACHE[key] = diff_texts(old, new).as_dict()
        if len(_CACHE) > CACHE_SIZE:
            _CACHE.popitem(last=False)
    else:
        _CACHE.move_to_end(key)
    return found


def _digest(text: str) -> bytes:
    return hashlib.blake2b(text.encode(), digest_size=16).digest()


async def record_seen(user_id: int, document_id: int, version: int, at: datetime) -> None:
    bumped = await SeenVersion.filter(
        user_id=user_id, document_id=document_id, version_number__lt=version
    ).update(version_number=version, seen_at=at)
    if bumped or await SeenVersion.exists(user_id=user_id, document_id=document_id):
        return
    try:
        await SeenVersion.create(
            user_id=user_id, document_id=document_id, version_number=version, seen_at=at
        )
    except IntegrityError:  # the same person's other tab wrote it first
        await record_seen(user_id, document_id, version, at)


async def last_seen(user_id: int, document_id: int) -> int | None:
    found = await SeenVersion.get_or_none(user_id=user_id, document_id=document_id)
    return found.version_number if found else None
