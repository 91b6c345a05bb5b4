"""Lifting long base64 runs out of a message changes what the parser costs, not what it finds."""

from __future__ import annotations

import email
import random
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path

import pytest

from docflow.intake import parse as parse_module
from docflow.intake.lift import MIN_RUN, lift
from docflow.intake.parse import parse_message
from tests.filebuilders import make_docx_foreign

CORPUS = sorted(
    (Path(email.__file__).parent.parent / "test" / "test_email" / "data").glob("msg_*.txt")
)


def parse_without_lifting(raw: bytes, monkeypatch: pytest.MonkeyPatch) -> object:
    with monkeypatch.context() as m:
        m.setattr(parse_module, "lift", lambda data: parse_module.Lifted(raw=data, slim=data))
        return parse_message(raw)


def big_message(size: int, cte_base64: bool = True, nested: bool = False) -> bytes:
    m = EmailMessage(policy=SMTP)
    m["From"] = "Lê Thị Thu <thu.lt@bandantoc.gov.vn>"
    m["To"] = "vanban@docflow.localhost"
    m["Subject"] = "Kế hoạch"
    m.set_content("Kính gửi.")
    m.add_attachment(
        make_docx_foreign(["Đổi mới"], padding_bytes=size),
        maintype="application",
        subtype="octet-stream",
        filename="Kế hoạch.docx",
    )
    m.add_attachment(
        random.Random(1).randbytes(size // 3),
        maintype="application",
        subtype="pdf",
        filename="phụ lục.pdf",
    )
    if nested:
        outer = EmailMessage(policy=SMTP)
        outer["From"] = m["From"]
        outer["Subject"] = "Fwd: Kế hoạch"
        outer.set_content("Chuyển tiếp.")
        outer.add_attachment(m)
        return outer.as_bytes()
    return m.as_bytes()


@pytest.mark.parametrize("size", [MIN_RUN, 200_000, 1_000_000])
def test_lifted_parse_equals_plain_parse_for_large_attachments(
    size: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = big_message(size)
    assert lift(raw).spans, "the attachment should have been lifted"
    assert parse_message(raw) == parse_without_lifting(raw, monkeypatch)


def test_embedded_message_keeps_its_lifted_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    raw = big_message(200_000, nested=True)
    lifted = parse_message(raw)
    assert lifted == parse_without_lifting(raw, monkeypatch)
    assert b"DOCFLOWLIFT" not in lifted.attachments[0].data


def test_long_letter_run_in_a_plain_text_body_is_put_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    text = ("A" * 76 + "\r\n") * 2000
    raw = (
        "From: a@b.vn\r\nSubject: x\r\nContent-Type: text/plain\r\n"
        "Content-Transfer-Encoding: 7bit\r\n\r\n" + text
    ).encode()
    assert lift(raw).spans
    parsed = parse_message(raw)
    assert parsed == parse_without_lifting(raw, monkeypatch)
    assert parsed.body_text.replace("\r\n", "\n").startswith("A" * 76 + "\n")


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.name)
def test_cpython_corpus_parses_the_same_with_lifting(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = path.read_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    assert parse_message(raw) == parse_without_lifting(raw, monkeypatch)


def test_token_lookalike_text_in_a_message_stays_as_sent() -> None:
    fake = "DOCFLOWLIFT0123456789abcdef00000"
    raw = big_message(200_000).replace("Kính gửi.".encode(), fake.encode())
    parsed = parse_message(raw)
    assert len(parsed.attachments) == 2
    assert parsed.body_text.strip() == fake
