"""The HTML made from a mail's text: only docflow's own URLs become links, decision and
sign-in links become buttons, text is escaped; the text parts are what MIMEText makes."""

from __future__ import annotations

from email.mime.text import MIMEText
from email.policy import compat32

import pytest

from docflow.notify.body import Body, mime_body, text_part
from docflow.notify.htmlmail import to_html
from docflow.notify.message import Attachment

BASE = "https://docflow.bandantoc.gov.vn"
APPROVE = f"{BASE}/t/Ab3_-xYz"
STATUS = f"{BASE}/status/DF-2026-000001?t=abc"
SMTP = compat32.clone(linesep="\r\n")

TEXT = f"""Kính gửi Lê Thị Thu,

Văn bản <b>khẩn</b> & gấp: https://evil.example/t/forged

  Mã theo dõi:  DF-2026-000001
  Tệp:
    - Kế hoạch.docx (12 KB)

Hoặc quyết định ngay:
  Đồng ý:   {APPROVE}

Xem trạng thái: {STATUS}

    483920

--
docflow · Ban Dân tộc
Thư này được gửi tự động.
"""


def test_only_the_composers_urls_are_links_and_a_decision_link_is_a_labelled_button() -> None:
    html = to_html(TEXT, "vi", {APPROVE: "approve", STATUS: ""}, "[DF-2026-000001] Cần xem xét")
    assert html.startswith('<!DOCTYPE html><html lang="vi">')
    assert f'<a href="{APPROVE}" style="display:block;' in html
    assert ">Đồng ý</a>" in html
    assert f'<a href="{STATUS}" style="color:#0645ad">Xem trạng thái</a>' in html
    assert "https://evil.example/t/forged" in html and 'href="https://evil' not in html
    assert "&lt;b&gt;khẩn&lt;/b&gt; &amp; gấp" in html
    assert ">Mã theo dõi:</td>" in html and "<li>Kế hoạch.docx (12 KB)</li>" in html
    assert "font-size:24px" in html.split("483920")[0].rsplit("<p", 1)[1], "a code, large"
    assert "docflow · Ban Dân tộc<br>Thư này được gửi tự động." in html


def test_a_link_alone_on_its_line_is_a_button_named_by_its_kind_in_the_readers_language() -> None:
    link = f"{BASE}/login/link/tok-EN_1"
    html = to_html(f"Dear Thu,\n\nTo sign in:\n\n    {link}\n", "en", {link: ""}, "docflow")
    assert 'lang="en"' in html and f'<a href="{link}"' in html and ">Sign in</a>" in html


@pytest.mark.parametrize("subtype", ["plain", "html"])
def test_text_parts_are_byte_for_byte_what_mimetext_makes(subtype: str) -> None:
    text = TEXT * 3  # several base64 lines, Vietnamese
    stock = MIMEText(text, subtype, "utf-8")
    del stock["MIME-Version"]
    ours = text_part(text, subtype)
    assert ours.as_bytes(policy=SMTP) == stock.as_bytes(policy=SMTP)
    assert ours.get_payload(decode=True) == text.encode()


def test_with_files_the_text_and_its_html_come_first_then_the_files() -> None:
    msg = mime_body(Body(TEXT, "en"), "Issued", [Attachment("47.pdf", "application/pdf", b"%PDF")])
    alternative, pdf = msg.get_payload()
    assert msg.get_content_type() == "multipart/mixed" and "MIME-Version" in msg
    assert alternative.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in alternative.get_payload()] == ["text/plain", "text/html"]
    assert pdf.get_filename() == "47.pdf" and pdf.get_payload(decode=True) == b"%PDF"
    assert "MIME-Version" not in alternative and "MIME-Version" not in pdf
