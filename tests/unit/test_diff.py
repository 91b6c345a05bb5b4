"""The word diff of two versions' text: whole Vietnamese words, NFC, paragraphs aligned."""

from __future__ import annotations

import json
import unicodedata

import jinja2

from docflow.documents.diff import diff_texts
from docflow.web.diff_view import TEXT, diff_context


def marked(paragraph: dict[str, object]) -> list[tuple[str, str]]:
    return [(p["op"], p["text"].strip()) for p in paragraph["pieces"]]  # type: ignore[attr-defined,index]


def test_a_changed_diacritic_changes_the_whole_word() -> None:
    d = diff_texts("Hồ sơ đã được duyệt.", "Hồ sơ da được duyệt.").as_dict()
    assert marked(d["paragraphs"][0]) == [
        ("same", "Hồ sơ"),
        ("removed", "đã"),
        ("added", "da"),
        ("same", "được duyệt."),
    ]
    assert (d["words_added"], d["words_removed"], d["paragraphs_changed"]) == (1, 1, 1)


def test_the_same_words_in_another_unicode_form_are_no_change() -> None:
    text = "Quyết định về việc tổ chức hội nghị"
    decomposed = unicodedata.normalize("NFD", text)
    assert decomposed != text
    d = diff_texts(text, decomposed)
    assert d.identical and d.words_added == d.words_removed == 0


def test_unchanged_paragraphs_stay_aligned_around_an_inserted_one() -> None:
    old = "Điều 1. Phạm vi.\nĐiều 2. Đối tượng.\nĐiều 3. Hiệu lực."
    new = (
        "Điều 1. Phạm vi.\nĐiều 2. Đối tượng áp dụng.\n"
        "Điều 2a. Giải thích từ ngữ.\nĐiều 3. Hiệu lực."
    )
    d = diff_texts(old, new).as_dict()
    assert [p["op"] for p in d["paragraphs"]] == ["same", "changed", "added", "same"]
    assert marked(d["paragraphs"][1]) == [
        ("same", "Điều 2. Đối tượng"),
        ("added", "áp dụng"),
        ("same", "."),
    ]
    assert d["words_added"] == 2 + 6  # "áp dụng", and "Điều 2a Giải thích từ ngữ"
    assert (d["paragraphs_changed"], d["paragraphs_added"], d["paragraphs_removed"]) == (1, 1, 0)


def test_a_removed_paragraph_counts_its_words_and_not_its_punctuation() -> None:
    d = diff_texts("Một.\nHai, ba!\nBốn.", "Một.\nBốn.").as_dict()
    assert [p["op"] for p in d["paragraphs"]] == ["same", "removed", "same"]
    assert (d["words_removed"], d["paragraphs_removed"], d["words_added"]) == (2, 1, 0)


def test_joining_pieces_gives_each_version_back() -> None:
    old = "Kính gửi: Ủy ban nhân dân tỉnh.\nNội dung cũ, giữ nguyên."
    new = "Kính gửi:  Sở Tài chính tỉnh.\nNội dung cũ, giữ nguyên."
    d = diff_texts(old, new).as_dict()
    first = d["paragraphs"][0]["pieces"]
    assert "".join(p["text"] for p in first if p["op"] != "added") == old.split("\n")[0]
    assert "".join(p["text"] for p in first if p["op"] != "removed") == new.split("\n")[0]


def test_case_matters_and_blank_lines_do_not() -> None:
    d = diff_texts("Điều 1\n\n\nĐiều 2", "điều 1\nĐiều 2").as_dict()
    assert [p["op"] for p in d["paragraphs"]] == ["changed", "same"]


def test_fifty_pages_with_an_edit_in_every_ninth_paragraph_count_each_edit() -> None:
    """(Its speed is measured in scripts/bench_pages.py, not timed here.)"""
    words = "cơ quan đã ban hành quy chế làm việc và các đơn vị thi hành kể từ ngày ký".split()
    paras = [
        " ".join(words[(i + k) % len(words)] for k in range(40)) + f" {i}." for i in range(600)
    ]
    new = list(paras)
    for i in range(0, 600, 9):
        new[i] = new[i].replace(" đã ", " sẽ ", 1)
    d = diff_texts("\n".join(paras), "\n".join(new))
    json.dumps(d.as_dict(), ensure_ascii=False)
    assert d.paragraphs_changed == d.words_added == d.words_removed == 67


def test_the_partial_marks_changes_without_relying_on_colour() -> None:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("docflow.web", "templates"), autoescape=True
    )
    result = diff_texts(
        "A\nB\nC\nD\nE\nF\nGửi đã xong", "A\nB\nC\nD\nE\nF\nGửi da <x> xong"
    ).as_dict()
    result.update({"from": 1, "to": 2, "to_file": "du-thao.docx", "text_missing": []})
    for lang in TEXT:
        html = env.get_template("diff_body.html").render(**diff_context(result, lang))
        assert '<del><span class="diff-m">[−</span>đã<span' in html
        assert '<ins><span class="diff-m">[+</span>da &lt;x&gt;<span' in html
        assert '<details class="diff-fold">' in html  # A–E folded, F shown as context
        assert TEXT[lang]["legend"] in html
    assert TEXT["vi"].keys() == TEXT["en"].keys()
