"""The line that decides in a reply to a task mail, as the common mail clients write it
(docflow/intake/reply_text.py)."""

from __future__ import annotations

import unicodedata

import pytest

from docflow.documents.extract import html_to_text
from docflow.intake.reply_text import APPROVE, CHANGES, REJECT, new_text, read

TASK_MAIL = """Kính gửi Nguyễn Văn Hùng,

Văn bản dưới đây cần anh/chị xem xét.
Đồng ý:             http://docflow.localhost/t/abc
Từ chối:            http://docflow.localhost/t/def"""


def quoted(text: str) -> str:
    return "\n".join(f"> {line}" for line in text.split("\n"))


OUTLOOK = (
    """{answer}

From: docflow <docflow@docflow.localhost>
Sent: Tuesday, March 3, 2026 9:12 AM
To: Nguyễn Văn Hùng <hung.nv@bandantoc.gov.vn>
Subject: [DF-2026-000001] Cần xem xét: Công văn về việc báo cáo quý IV

"""
    + TASK_MAIL
)
OUTLOOK_VI = (
    """{answer}

Trân trọng,
Hùng

Từ: docflow <docflow@docflow.localhost>
Đã gửi: Thứ Ba, 3 tháng 3, 2026 9:12 SA
Đến: Nguyễn Văn Hùng <hung.nv@bandantoc.gov.vn>
Chủ đề: [DF-2026-000001] Cần xem xét: Công văn về việc báo cáo quý IV

"""
    + TASK_MAIL
)
OUTLOOK_OLD = "{answer}\n\n-----Original Message-----\nFrom: docflow\n\n" + TASK_MAIL
GMAIL = (
    "{answer}\n\nOn Tue, Mar 3, 2026 at 9:12 AM docflow <docflow@docflow.localhost> wrote:\n\n"
    + quoted(TASK_MAIL)
)
GMAIL_WRAPPED = (
    "{answer}\n\nOn Tue, Mar 3, 2026 at 9:12 AM docflow <\ndocflow@docflow.localhost> wrote:\n\n"
    + quoted(TASK_MAIL)
)
GMAIL_VI = (
    "{answer}\n\nVào Th 3, 3 thg 3, 2026 vào lúc 09:12 docflow <docflow@docflow.localhost> "
    "đã viết:\n\n" + quoted(TASK_MAIL)
)
THUNDERBIRD = "{answer}\n\nOn 03/03/2026 09:12, docflow wrote:\n" + quoted(TASK_MAIL)
THUNDERBIRD_VI = "{answer}\n\nVào lúc 09:12 ngày 03/03/2026, docflow đã viết:\n" + quoted(TASK_MAIL)
SIGNED = "{answer}\n-- \nNguyễn Văn Hùng\nChánh Văn phòng\n\n" + quoted(TASK_MAIL)
PHONE = "{answer}\n\nSent from my iPhone\n\n" + quoted(TASK_MAIL)
CLIENTS = {
    "outlook": OUTLOOK,
    "outlook-vi": OUTLOOK_VI,
    "outlook-original": OUTLOOK_OLD,
    "gmail": GMAIL,
    "gmail-wrapped": GMAIL_WRAPPED,
    "gmail-vi": GMAIL_VI,
    "thunderbird": THUNDERBIRD,
    "thunderbird-vi": THUNDERBIRD_VI,
    "signature": SIGNED,
    "phone": PHONE,
}


@pytest.mark.parametrize("client", CLIENTS.values(), ids=CLIENTS.keys())
@pytest.mark.parametrize(
    ("answer", "action", "comment"),
    [
        ("Đồng ý", APPROVE, ""),
        ("dong y", APPROVE, ""),
        ("APPROVE", APPROVE, ""),
        ("OK, trình ký.", APPROVE, "trình ký."),
        ("Yêu cầu sửa: thêm số liệu quý IV", CHANGES, "thêm số liệu quý IV"),
        ("yeu cau chinh sua - Mục 2 thiếu số liệu.\nMục 3 sai tên.", CHANGES,
         "Mục 2 thiếu số liệu.\nMục 3 sai tên."),
        ("Request changes: add the Q4 figures", CHANGES, "add the Q4 figures"),
        ("Từ chối", REJECT, ""),
        ("TU CHOI. Sai thể thức", REJECT, "Sai thể thức"),
        ("reject", REJECT, ""),
    ],
)  # fmt: skip
def test_the_first_line_above_the_quote_decides_and_the_rest_is_the_comment(
    client: str, answer: str, action: str, comment: str
) -> None:
    reading = read(client.format(answer=answer))
    assert (reading.action, reading.comment, reading.code) == (action, comment, None)
    assert reading.line == answer.split("\n")[0]


@pytest.mark.parametrize(
    "answer",
    ["Không đồng ý", "Approved", "OKAY", "Kính gửi anh,\nĐồng ý", "Tôi sẽ xem lại", "oke"],
)
def test_a_first_line_that_is_no_decision_decides_nothing(answer: str) -> None:
    reading = read(GMAIL.format(answer=answer))
    assert reading.action is None
    assert reading.line == answer.split("\n")[0]


def test_a_reply_with_nothing_above_the_quote_decides_nothing() -> None:
    assert read(GMAIL.format(answer="")) == read("\n \n") == read("") == (read(quoted("Đồng ý")))
    assert read("").line == "" and read("").action is None


def test_diacritics_decomposed_or_missing_and_any_case_are_the_same_word() -> None:
    decomposed = unicodedata.normalize("NFD", "ĐỒNG Ý: Nhất trí")
    assert read(decomposed).action == APPROVE and read(decomposed).comment == "Nhất trí"
    for spelling in ("Yêu Cầu Sửa", "YEU CAU SUA", "yêu cầu  sửa", "Yeu cau sua"):
        assert read(spelling).action == CHANGES, spelling
    assert read('"Đồng ý"').action == APPROVE and read("*Từ chối*").action == REJECT
    assert read("\ufeff\u00a0 Đồng ý\u00a0").action == APPROVE  # a BOM, non-breaking spaces


def test_a_code_is_read_from_the_decision_line_only_when_the_stage_asks_for_one() -> None:
    assert read("Đồng ý 123456", with_code=True) == read("Đồng ý 123456", True)
    reading = read("Đồng ý 123456", with_code=True)
    assert (reading.action, reading.code, reading.comment) == (APPROVE, "123456", "")
    reading = read("Approve, code: 654321 – trình ký\nGấp.", with_code=True)
    assert (reading.code, reading.comment) == ("654321", "trình ký\nGấp.")
    reading = read("Đồng ý, mã xác nhận 000123: nhất trí", with_code=True)
    assert (reading.code, reading.comment) == ("000123", "nhất trí")
    assert read("Đồng ý", with_code=True).code is None
    assert read("Đồng ý\n123456", with_code=True).code is None, "on the decision line only"
    assert read("Đồng ý 1234567", with_code=True).code is None, "six digits, no more"
    plain = read("Đồng ý chi 123456 đồng")
    assert (plain.code, plain.comment) == (None, "chi 123456 đồng")


def test_html_only_replies_are_read_from_the_text_of_their_html() -> None:
    gmail = (
        '<div dir="ltr">Yêu cầu sửa: thêm số liệu quý IV</div><br>'
        '<div class="gmail_quote"><div dir="ltr" class="gmail_attr">On Tue, Mar 3, 2026 at '
        '9:12 AM docflow &lt;<a href="mailto:docflow@docflow.localhost">docflow@docflow.'
        'localhost</a>&gt; wrote:<br></div><blockquote class="gmail_quote">Kính gửi Nguyễn '
        "Văn Hùng,<br>Đồng ý: http://docflow.localhost/t/abc</blockquote></div>"
    )
    outlook = (
        "<html><body><div><p>Từ chối&nbsp;– sai thể thức</p></div>"
        '<div id="appendonsend"></div><hr><div id="divRplyFwdMsg"><b>From:</b> docflow '
        "&lt;docflow@docflow.localhost&gt;<br><b>Sent:</b> Tuesday, March 3, 2026 9:12 AM<br>"
        "<b>To:</b> Nguyễn Văn Hùng<br><b>Subject:</b> Cần xem xét</div>"
        "<div>Đồng ý: http://docflow.localhost/t/abc</div></body></html>"
    )
    thunderbird = (
        "<html><body><p>đồng ý<br></p><div class='moz-cite-prefix'>On 03/03/2026 09:12, "
        "docflow wrote:<br></div><blockquote type='cite'>Từ chối: http://x/t/def"
        "</blockquote></body></html>"
    )
    assert read(html_to_text(gmail)) == read("Yêu cầu sửa: thêm số liệu quý IV")
    reading = read(html_to_text(outlook))
    assert (reading.action, reading.comment) == (REJECT, "sai thể thức")
    assert read(html_to_text(thunderbird)).action == APPROVE
    assert read(html_to_text(thunderbird)).comment == ""


def test_the_new_text_ends_where_the_quote_or_signature_begins() -> None:
    assert new_text(OUTLOOK_VI.format(answer="Đồng ý\nGửi từ văn phòng")) == (
        "Đồng ý\nGửi từ văn phòng"
    )
    assert new_text(SIGNED.format(answer="Từ chối")) == "Từ chối"
    assert new_text("Cảm ơn anh.\nĐồng ý") == "Cảm ơn anh.\nĐồng ý", "a closing only below text"
    assert (
        new_text("Đồng ý.\nFrom: the Q3 report, page 2") == "Đồng ý.\nFrom: the Q3 report, page 2"
    )
