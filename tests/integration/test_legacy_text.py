"""What old Vietnamese tools write is read as Unicode, composed (NFC): drafts typed in the
TCVN3 (`.VnTime`) and VNI (`VNI-Times`) fonts, mail from Windows-1258 mail programs, names
and file names typed decomposed. Checked as a user would: the version's JSON, the diff,
the archive search, the documents list."""

from __future__ import annotations

import base64
import unicodedata
from email import quoprimime
from urllib.parse import quote

import aiohttp
import aiosmtplib

from tests import mails
from tests.conftest import Stack, wait_for
from tests.filebuilders import (
    encode_cp1258,
    encode_tcvn3,
    encode_vni,
    make_docx_in_fonts,
    make_docx_python_docx,
)
from tests.integration.test_issuing import HEAD, office
from tests.integration.test_spine_mail import AUTHOR
from tests.integration.test_workflow_links import REVIEWER, SIGNER, links_of, submit, task_mails
from tests.webapp import csrf_of, http_as

DOCX = mails.DOCX
MOTTO = "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM"
PLAN = [
    "Ban Dân tộc tỉnh Lâm Đồng tổ chức Đại hội đại biểu các dân tộc thiểu số lần thứ IV.",
    "Đại hội được tổ chức vào quý ba, tại hội trường của tỉnh ở Đà Lạt.",
]
REVISED = [PLAN[0], PLAN[1].replace("quý ba", "quý tư")]
TITLE = "Kế hoạch tổ chức Đại hội đại biểu các dân tộc thiểu số"


def nfd(text: str) -> str:
    return unicodedata.normalize("NFD", text)


def tcvn3_docx(paragraphs: list[str]) -> bytes:
    """As a clerk types it with Unikey in TCVN3: the motto in .VnTimeH, the text in .VnTime."""
    return make_docx_in_fonts(
        [[(encode_tcvn3(MOTTO, capitals=True), ".VnTimeH")]]
        + [[(encode_tcvn3(p), ".VnTime")] for p in paragraphs]
    )


def vni_docx(paragraphs: list[str]) -> bytes:
    return make_docx_in_fonts([[(encode_vni(p), "VNI-Times")] for p in [MOTTO, *paragraphs]])


async def version(stack: Stack, code: str, number: int) -> dict[str, object]:
    status, body = await stack.api(f"/api/v1/documents/{code}/versions/{number}")
    assert status == 200, body
    return dict(body)


async def test_tcvn3_draft_and_its_vni_revision_are_read_compared_and_found_in_unicode(
    stack: Stack,
) -> None:
    await office(stack)
    assert "Ban D©n téc" in encode_tcvn3(PLAN[0])  # what the file holds, in any other font
    await stack.send(mails.draft(f"[KH] {TITLE}", "Kế hoạch.docx", tcvn3_docx(PLAN), DOCX))
    await task_mails(stack, HEAD)
    [doc] = await stack.documents()
    code = doc["code"]
    [first] = (await version(stack, code, 1))["files"]  # type: ignore[misc]
    assert first["text"] == "\n".join([MOTTO, *PLAN])
    assert first["legacy_encoding"] == "tcvn3"

    revision = mails.draft(f"[{code}] {TITLE}", "Kế hoạch (sửa).docx", vni_docx(REVISED), DOCX)
    await stack.send(revision)
    review = (await task_mails(stack, HEAD, 2))[-1]
    [second] = (await version(stack, code, 2))["files"]  # type: ignore[misc]
    assert second["text"] == "\n".join([MOTTO, *REVISED])
    assert second["legacy_encoding"] == "vni"

    # TCVN3 and VNI read to the same Unicode: the diff is the one word the author changed
    status, diff = await stack.api(f"/api/v1/documents/{code}/diff?from=1&to=2")
    assert status == 200, diff
    assert (diff["words_added"], diff["words_removed"]) == (1, 1)
    pieces = [x for p in diff["paragraphs"] for x in p["pieces"]]
    assert [x["text"].strip() for x in pieces if x["op"] != "same"] == ["ba", "tư"]
    assert "Đại hội được tổ chức vào quý" in "".join(x["text"] for x in pieces)

    # while a draft, its text is searchable as Unicode; once issued, in the archive too
    assert "dân tộc thiểu số" in second["text"]
    assert (await submit(stack, links_of(review)["approve"], "approve"))[0] == 200
    signoff = (await task_mails(stack, SIGNER))[-1]
    assert (await submit(stack, links_of(signoff)["approve"], "approve"))[0] == 200
    await stack.settled()
    assert (await stack.document(code))["status"] == "issued"
    for words in ('"dân tộc thiểu số"', "quý tư", "dai hoi dai bieu", nfd("hội trường")):
        status, found = await stack.api(f"/api/v1/search?q={quote(words)}")
        assert status == 200 and [h["number"] for h in found["items"]] == ["01/KH-BDT"], words


def windows_1258_mail(title: str, filename: str) -> bytes:
    """A draft as an old Vietnamese Windows mail program sends it: subject, file name and
    body in Windows-1258 (base letters with combining tones)."""
    body = encode_cp1258("Kính gửi Lãnh đạo Ban.\r\n")

    def words(text: str) -> str:
        return quoprimime.header_encode(encode_cp1258(text), "windows-1258")

    head = (
        f"From: {words('Lê Thị Thu')} <{AUTHOR}>\r\nTo: {mails.INTAKE}\r\n"
        f"Subject: {words(title)}\r\n"
        "Message-ID: <cp1258-1@bandantoc.gov.vn>\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
        "--b\r\nContent-Type: text/plain; charset=windows-1258\r\n"
        "Content-Transfer-Encoding: 8bit\r\n\r\n"
    ).encode("ascii")
    attachment = (
        f"\r\n--b\r\nContent-Type: {DOCX}\r\nContent-Transfer-Encoding: base64\r\n"
        "Content-Disposition: attachment;\r\n"
        f" filename*=windows-1258''{quote(encode_cp1258(filename))}\r\n\r\n"
    ).encode("ascii")
    data = make_docx_python_docx(["Kế hoạch"])
    encoded = base64.encodebytes(data).replace(b"\n", b"\r\n")
    return head + body + attachment + encoded + b"\r\n--b--\r\n"


async def send_raw(stack: Stack, raw: bytes) -> None:
    async with aiosmtplib.SMTP(hostname="127.0.0.1", port=stack.settings.smtp.port) as client:
        await client.sendmail(AUTHOR, [stack.intake], raw)


async def test_windows_1258_subject_is_the_same_nfc_title_as_utf8_and_found_by_its_title(
    stack: Stack,
) -> None:
    await stack.add_user(AUTHOR, "Lê Thị Thu")
    raw = windows_1258_mail(TITLE, "Kế hoạch Đại hội.docx")
    assert encode_cp1258(TITLE) != TITLE.encode("cp1258", "replace")  # tones are combining
    await send_raw(stack, raw)
    await stack.send(mails.draft(TITLE, "Kế hoạch.docx", make_docx_python_docx(["Kế hoạch"])))
    docs = await wait_for(lambda: _at_least(stack, 2), what="two documents")
    assert [d["title"] for d in docs] == [TITLE, TITLE]
    assert all(unicodedata.is_normalized("NFC", d["title"]) for d in docs)
    names = {}  # the two mails are processed in either order: tell them by their file
    for d in docs:
        [f] = (await stack.document(d["code"]))["versions"][0]["files"]
        names[f["name"]] = d
    assert sorted(names) == ["Kế hoạch Đại hội.docx", "Kế hoạch.docx"]
    windows = names["Kế hoạch Đại hội.docx"]

    async with http_as(stack, AUTHOR) as http:
        for typed in (TITLE, nfd(TITLE)):  # as typed on Windows, as pasted from a Mac
            async with http.get(f"{stack.base}/documents", params={"q": typed}) as r:
                page = await r.text()
            assert r.status == 200 and all(d["code"] in page for d in docs), typed
        async with http.get(f"{stack.base}/documents", params={"q": TITLE + " khác"}) as r:
            assert windows["code"] not in await r.text()


async def test_names_and_uploaded_file_names_typed_decomposed_are_stored_composed(
    stack: Stack,
) -> None:
    await stack.add_user(AUTHOR, nfd("Lê Thị Thu"))
    await stack.add_user(REVIEWER, "Nguyễn Văn Hùng", ["chanh-van-phong"])
    await stack.add_user(SIGNER, "Trần Đức Minh", ["truong-ban"])
    assert (await stack.services.users.find(AUTHOR)).name == "Lê Thị Thu"
    await stack.services.users.set_name(AUTHOR, nfd("Lê Thị Thu Hà"))
    assert (await stack.services.users.find(AUTHOR)).name == "Lê Thị Thu Hà"
    await stack.send(mails.draft(TITLE, "Kế hoạch.docx", make_docx_python_docx(["Kế hoạch"])))
    [doc] = await wait_for(stack.documents, what="the document")
    assert doc["author_name"] == "Lê Thị Thu Hà"
    async with http_as(stack, AUTHOR) as http:  # a browser on a Mac: names decomposed
        form = aiohttp.FormData(quote_fields=False)  # as browsers send them: raw UTF-8
        form.add_field("csrf", await csrf_of(http, f"{stack.base}/documents/{doc['code']}"))
        form.add_field("note", nfd("Sửa theo ý kiến"))
        data = make_docx_python_docx(["Kế hoạch (sửa)"])
        form.add_field("file", data, filename=nfd("Kế hoạch (sửa).docx"))
        url = f"{stack.base}/documents/{doc['code']}/versions"
        async with http.post(url, data=form, allow_redirects=False) as r:
            assert r.status == 303, await r.text()

    async def second() -> list[dict[str, object]]:
        versions = (await stack.document(doc["code"]))["versions"]
        return versions if len(versions) == 2 else []

    versions = await wait_for(second, what="version 2")
    assert versions[1]["files"][0]["name"] == "Kế hoạch (sửa).docx"  # type: ignore[index]
    assert (await version(stack, doc["code"], 2))["body_text"] == "Sửa theo ý kiến"


async def _at_least(stack: Stack, n: int) -> list[dict[str, object]]:
    docs = await stack.documents()
    return docs if len(docs) >= n else []
