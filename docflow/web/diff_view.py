"""The diff of two versions as a page shows it: the words of `diff_body.html` and its blocks.

Interface, for any page that includes the diff:

- `diff_context(result, lang) -> dict`: what `{% include "diff_body.html" %}` reads, to be
  merged into the page's context: `diff` (the result of `documents.diffs.version_diff`),
  `diff_blocks` (paragraphs to show, long unchanged runs folded) and `dt` (the partial's
  words in `lang`; the page's own `t` is left alone).
- `TEXT`: those words, vi and en, for the test that every key exists in both.

Additions are `<ins>` and removals `<del>`: colour, and underline or strike-through, with
visible `[+ … +]` and `[− … −]` marks that print in black and white and are read aloud.
"""

from __future__ import annotations

from typing import Any

from docflow.web.pages import texts

CONTEXT = 1  # unchanged paragraphs shown around a change
FOLD = 3  # a run of unchanged paragraphs longer than this is folded

TEXT = {
    "vi": {
        "heading": "Thay đổi giữa các phiên bản",
        "from_to": "Từ phiên bản {a} đến phiên bản {b}",
        "words_added": "Từ được thêm",
        "words_removed": "Từ bị xóa",
        "paragraphs_changed": "Đoạn được sửa",
        "paragraphs_added": "Đoạn mới",
        "paragraphs_removed": "Đoạn bị xóa",
        "legend": "Chú giải",
        "added": "phần thêm vào",
        "removed": "phần bị xóa",
        "unchanged": "{n} đoạn không đổi",
        "identical": "Nội dung hai phiên bản giống nhau.",
        "missing": "Phiên bản {n} không có văn bản để so sánh (ví dụ bản quét); "
        "nội dung của nó được coi là trống.",
        "counts": "Tóm tắt",
        "compared": "So sánh nội dung tệp chính:",
    },
    "en": {
        "heading": "Changes between versions",
        "from_to": "From version {a} to version {b}",
        "words_added": "Words added",
        "words_removed": "Words removed",
        "paragraphs_changed": "Paragraphs changed",
        "paragraphs_added": "Paragraphs added",
        "paragraphs_removed": "Paragraphs removed",
        "legend": "Legend",
        "added": "added",
        "removed": "removed",
        "unchanged": "{n} unchanged paragraphs",
        "identical": "The text of the two versions is the same.",
        "missing": "Version {n} has no text to compare (a scan, for example); it counts as empty.",
        "counts": "Summary",
        "compared": "Comparing the text of the main file:",
    },
}


def diff_context(result: dict[str, Any], lang: str) -> dict[str, Any]:
    return {
        "diff": result,
        "diff_blocks": diff_blocks(result["paragraphs"]),
        "dt": texts(TEXT, "en" if lang == "en" else "vi", "diff_body.html"),
    }


def diff_blocks(paragraphs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Paragraphs ready to show: `{"op", "pieces": [{"op", "lead", "body"}]}`, and long runs
    of unchanged ones folded into `{"op": "fold", "paragraphs": [...]}`."""
    shown = [{"op": p["op"], "pieces": [_piece(x) for x in p["pieces"]]} for p in paragraphs]
    changed = [i for i, p in enumerate(shown) if p["op"] != "same"]
    keep = {j for i in changed for j in range(i - CONTEXT, i + CONTEXT + 1)}
    blocks: list[dict[str, Any]] = []
    run: list[dict[str, Any]] = []

    def flush() -> None:
        if len(run) > FOLD:
            blocks.append({"op": "fold", "paragraphs": list(run)})
        else:
            blocks.extend(run)
        run.clear()

    for i, p in enumerate(shown):
        if p["op"] == "same" and i not in keep:
            run.append(p)
            continue
        flush()
        blocks.append(p)
    flush()
    return blocks


def _piece(piece: dict[str, Any]) -> dict[str, Any]:
    """The space before a piece stays outside its mark (no underlined or struck blanks)."""
    text = piece["text"]
    body = text.lstrip()
    return {"op": piece["op"], "lead": text[: len(text) - len(body)], "body": body}
