"""docflow's mail carries HTML beside its text: the same words, the decision links as
buttons, nothing loaded from outside, in the reader's language; on a phone in Chromium
it fits the screen and its buttons open the decision page."""

from __future__ import annotations

import re
from email.message import EmailMessage
from html.parser import HTMLParser

from playwright.async_api import Browser

from tests.conftest import Stack, wait_for
from tests.integration.test_decision_browser import PHONE, browser  # noqa: F401 (fixture)
from tests.integration.test_mail_hygiene import outcome
from tests.integration.test_spine_mail import AUTHOR, draft
from tests.integration.test_workflow_links import (
    REVIEWER,
    SIGNER,
    links_of,
    people,
    submit,
    task_mails,
)

TITLE = "Kế hoạch <thí điểm> & báo cáo công tác dân tộc quý IV"
URL = re.compile(r"https?://[^\s\"'<>]+")
BLOCKS = {"p", "div", "td", "tr", "table", "li", "ul", "br", "body"}


class _Page(HTMLParser):
    """The text a reader sees (blocks apart), the links (href → text), every src, lang."""

    def __init__(self) -> None:
        super().__init__()
        self.chunks: list[str] = []
        self.links: dict[str, str] = {}
        self.sources: list[str] = []
        self.lang = ""
        self._href: str | None = None
        self._label: list[str] = []
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "html":
            self.lang = found.get("lang") or ""
        if "src" in found:
            self.sources.append(found["src"] or "")
        if tag == "a":
            self._href, self._label = found.get("href"), []
        self._in_title = tag == "title"
        if tag in BLOCKS:
            self.chunks.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._href is not None:
            self.links[self._href] = " ".join("".join(self._label).split())
            self._href = None
        if tag in BLOCKS:
            self.chunks.append(" ")

    def handle_data(self, data: str) -> None:
        if self._in_title:  # the subject, not shown in the mail
            self._in_title = False
            return
        self.chunks.append(data)
        if self._href is not None:
            self._label.append(data)

    @property
    def text(self) -> str:
        return " ".join("".join(self.chunks).split())


def parts(mail: EmailMessage) -> tuple[str, str, _Page]:
    """(plain text, raw HTML, the HTML read) of one of docflow's mails."""
    alternative = mail if mail.get_content_type() == "multipart/alternative" else None
    if alternative is None:  # with files: multipart/mixed, the alternative first
        first = next(mail.iter_parts())
        assert isinstance(first, EmailMessage)
        alternative = first
    assert alternative.get_content_type() == "multipart/alternative"
    plain, html = list(alternative.iter_parts())
    assert (plain.get_content_type(), html.get_content_type()) == ("text/plain", "text/html")
    page = _Page()
    page.feed(html.get_content())
    return plain.get_content(), html.get_content(), page


def significant_lines(plain: str) -> list[str]:
    """The plain text's lines as the HTML shows them: no URL (it is behind a link), no
    list dash, no `:` before a link; the signature's `--` left out."""
    out = []
    for line in plain.splitlines():
        line = " ".join(URL.sub("", line).split()).removeprefix("- ").rstrip(":").strip()
        if line and line != "--":
            out.append(line)
    return out


def assert_same_words_and_nothing_from_outside(mail: EmailMessage, stack: Stack) -> _Page:
    plain, html, page = parts(mail)
    missing = [line for line in significant_lines(plain) if line not in page.text]
    assert not missing, f"in the text but not in the HTML: {missing}\n{page.text}"
    assert "<img" not in html and "<style" not in html and "<script" not in html
    assert page.sources == []
    outside = [u for u in URL.findall(html) if not u.startswith(stack.base + "/")]
    assert outside == [], "only the service's own links"
    assert "&lt;thí điểm&gt; &amp; báo cáo" in html, "the title is escaped, not markup"
    return page


async def receipt_to(stack: Stack, address: str) -> EmailMessage:
    async def arrived() -> list[EmailMessage]:
        return [m for m in stack.relay.to(address) if m["Auto-Submitted"] == "auto-replied"]

    return (await wait_for(arrived, what=f"receipt to {address}"))[0]


async def test_task_mail_and_receipt_say_the_same_in_html_with_the_decision_links_as_buttons(
    stack: Stack,
) -> None:
    await people(stack)  # the reviewer reads Vietnamese, the signer English
    await stack.send(draft(TITLE))

    receipt = await receipt_to(stack, AUTHOR)
    page = assert_same_words_and_nothing_from_outside(receipt, stack)
    assert page.lang == "vi" and "Kính gửi Lê Thị Thu" in page.text
    status_links = [u for u in page.links if "/status/" in u]
    assert len(status_links) == 1 and status_links[0] in receipt.get_content()

    task = (await task_mails(stack, REVIEWER))[0]
    page = assert_same_words_and_nothing_from_outside(task, stack)
    assert page.lang == "vi"
    links = links_of(task)
    assert {page.links[links[k]] for k in ("approve", "changes", "reject")} == {
        "Đồng ý",
        "Yêu cầu chỉnh sửa",
        "Từ chối",
    }
    assert page.links[links["open"]] == "Mở văn bản và cho ý kiến"
    _, html, _ = parts(task)
    for url in links.values():  # a button: a big, coloured block link with the exact URL
        anchor = re.search(f'<a href="{re.escape(url)}" style="([^"]+)"', html)
        assert anchor and "display:block" in anchor.group(1) and "padding" in anchor.group(1)

    # a forwarding rule that mails docflow's own (HTML) mail back to it starts no loop
    await stack.settled()
    sent = len(stack.relay.messages)
    await stack.send(receipt)
    documents, entries = await outcome(stack)
    assert len(documents) == 1 and [e["reason"] for e in entries] == ["auto_submitted"]
    assert len(stack.relay.messages) == sent, "nothing answered"

    status, _ = await submit(stack, links["approve"], "approve", "Nhất trí.")
    assert status == 200
    signer_task = (await task_mails(stack, SIGNER))[0]
    page = assert_same_words_and_nothing_from_outside(signer_task, stack)
    assert page.lang == "en" and "Dear Trần Đức Minh" in page.text
    assert page.links[links_of(signer_task)["approve"]] == "Approve"


async def test_task_mail_fits_a_phone_in_chromium_and_its_approve_button_opens_the_decision(
    stack: Stack,
    browser: Browser,  # noqa: F811
) -> None:
    await people(stack)
    await stack.send(draft(TITLE))
    task = (await task_mails(stack, REVIEWER))[0]
    approve = links_of(task)["approve"]
    _, html, _ = parts(task)

    context = await browser.new_context(viewport=PHONE, locale="vi-VN")
    try:
        page = await context.new_page()
        await page.set_content(html)
        scroll_width = await page.evaluate("document.documentElement.scrollWidth")
        assert scroll_width <= PHONE["width"], f"horizontal scroll: {scroll_width}px wide"
        button = page.get_by_role("link", name="Đồng ý", exact=True)
        box = await button.bounding_box()
        assert box is not None and box["height"] >= 40 and box["width"] >= 200, box
        async with page.expect_navigation():
            await button.click()
        assert page.url == approve
        assert await page.locator("h1").inner_text() == TITLE
        assert await page.get_by_role("button", name="Đồng ý", exact=True).count() == 1
    finally:
        await context.close()

    code = (await stack.documents())[0]["code"]
    task_row = (await stack.document(code))["tasks"][0]
    assert task_row["state"] == "open", "opening the page decides nothing"
