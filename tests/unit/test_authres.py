"""Reading Authentication-Results and verifying DKIM: who vouches for a From: address."""

from __future__ import annotations

import base64
import subprocess
from pathlib import Path

import dkim
import pytest

from docflow.config import PACKAGE_ROOT, load_settings
from docflow.errors import SettingsError
from docflow.intake.authres import aligned, judge, mta_results, parse, verify_dkim

TRUSTED = ("mx.bandantoc.gov.vn",)
FROM = "thu.lt@bandantoc.gov.vn"
RECEIVED = ("received", "from mail.evil.example by mx.bandantoc.gov.vn")


def ar(*values: str) -> list[tuple[str, str]]:
    """Authentication-Results headers as parse_message hands them on, topmost first."""
    return [("authentication-results", value) for value in values]


def test_parse_reads_id_methods_and_properties_ignoring_comments() -> None:
    value = (
        "mx.bandantoc.gov.vn 1; dkim=pass (2048-bit key; unprotected) header.d=bandantoc.gov.vn"
        ' header.s=sel header.b="AbC/1+2"; spf=softfail (domain of x) smtp.mailfrom=x@y.org;'
        ' dmarc/1=fail reason="no \\"policy\\"" header.from=y.org'
    )
    parsed = parse(value)
    assert parsed is not None
    assert parsed.authserv_id == "mx.bandantoc.gov.vn"
    assert [(r.method, r.result) for r in parsed.results] == [
        ("dkim", "pass"),
        ("spf", "softfail"),
        ("dmarc", "fail"),
    ]
    assert parsed.results[0].props == {
        "header.d": "bandantoc.gov.vn",
        "header.s": "sel",
        "header.b": "AbC/1+2",
    }
    assert parsed.results[1].props == {"smtp.mailfrom": "x@y.org"}
    assert parsed.results[2].props["header.from"] == "y.org"


def test_parse_of_none_and_garbage() -> None:
    none = parse("mx.bandantoc.gov.vn; none")
    assert none is not None and none.results == ()
    assert parse("") is None
    assert parse("   (only a comment)") is None


@pytest.mark.parametrize(
    ("domain", "from_domain", "expected"),
    [
        ("bandantoc.gov.vn", "bandantoc.gov.vn", True),
        ("gov.vn", "bandantoc.gov.vn", True),  # a parent domain: relaxed alignment
        ("BANDANTOC.gov.vn.", "bandantoc.gov.vn", True),
        ("mail.bandantoc.gov.vn", "bandantoc.gov.vn", False),
        ("ntoc.gov.vn", "bandantoc.gov.vn", False),  # a suffix, not a parent
        ("evil.example", "bandantoc.gov.vn", False),
        ("", "bandantoc.gov.vn", False),
    ],
)
def test_alignment(domain: str, from_domain: str, expected: bool) -> None:
    assert aligned(domain, from_domain) is expected


@pytest.mark.parametrize(
    "header",
    [
        "mx.bandantoc.gov.vn; dkim=pass header.d=bandantoc.gov.vn",
        "MX.bandantoc.gov.vn; dkim=pass header.i=@bandantoc.gov.vn",
        "mx.bandantoc.gov.vn; dkim=fail header.d=bandantoc.gov.vn; spf=pass"
        " smtp.mailfrom=thu.lt@bandantoc.gov.vn",
        "mx.bandantoc.gov.vn; spf=pass smtp.mailfrom=bandantoc.gov.vn",
        "mx.bandantoc.gov.vn; dmarc=pass header.from=bandantoc.gov.vn",
    ],
)
def test_trusted_aligned_pass_is_accepted(header: str) -> None:
    verdict = judge(FROM, ar(header), TRUSTED)
    assert verdict.passed and verdict.trusted_header


@pytest.mark.parametrize(
    ("headers", "words"),
    [
        ([], "no Authentication-Results from a trusted authserv-id"),
        (["mx.evil.example; dkim=pass header.d=bandantoc.gov.vn"], "no Authentication-Results"),
        (["mx.bandantoc.gov.vn; dkim=fail header.d=bandantoc.gov.vn"], "dkim=fail"),
        (["mx.bandantoc.gov.vn; dkim=pass header.d=evil.example"], "dkim=pass header.d=evil"),
        (["mx.bandantoc.gov.vn; spf=pass smtp.mailfrom=a@evil.example"], "spf=pass"),
        (["mx.bandantoc.gov.vn; spf=softfail smtp.mailfrom=thu.lt@bandantoc.gov.vn"], "softfail"),
        (["mx.bandantoc.gov.vn; dmarc=pass header.from=evil.example"], "dmarc=pass"),
        (["mx.bandantoc.gov.vn; none"], "no dkim, spf or dmarc result"),
    ],
)
def test_failing_or_untrusted_results_are_refused(headers: list[str], words: str) -> None:
    verdict = judge(FROM, ar(*headers), TRUSTED)
    assert not verdict.passed
    assert words in verdict.detail


@pytest.mark.parametrize(
    "header",
    [  # a quoted local part that looks like the From domain, of an address elsewhere
        'mx.bandantoc.gov.vn; spf=pass smtp.mailfrom="bandantoc.gov.vn"@evil.example',
        'mx.bandantoc.gov.vn; spf=pass smtp.mailfrom="thu.lt@bandantoc.gov.vn"@evil.example',
        'mx.bandantoc.gov.vn; spf=pass smtp.mailfrom=bandantoc.gov.vn"@evil.example',
        'mx.bandantoc.gov.vn; spf=pass smtp.helo="bandantoc.gov.vn"@evil.example',
        'mx.bandantoc.gov.vn; dkim=pass header.i="bandantoc.gov.vn"@evil.example',
        'mx.bandantoc.gov.vn; dkim=pass header.d="bandantoc.gov.vn"evil.example',
        'mx.bandantoc.gov.vn; dmarc=pass header.from="bandantoc.gov.vn"@evil.example',
    ],
)
def test_a_quoted_local_part_does_not_pass_for_the_domain(header: str) -> None:
    verdict = judge(FROM, ar(header), TRUSTED)
    assert not verdict.passed
    assert verdict.trusted_header


def test_quoted_values_are_read_whole() -> None:
    headers = [
        'mx.bandantoc.gov.vn; spf=pass smtp.mailfrom="thu lt"@bandantoc.gov.vn',
        'mx.bandantoc.gov.vn; dkim=pass header.d="bandantoc.gov.vn"',
    ]
    for header in headers:
        assert judge(FROM, ar(header), TRUSTED).passed, header


def test_a_sender_written_header_does_not_outweigh_the_trusted_one() -> None:
    headers = [
        "mx.bandantoc.gov.vn; dkim=none; spf=fail smtp.mailfrom=x@evil.example",
        "evil.example; dkim=pass header.d=bandantoc.gov.vn",  # written by the sender
    ]
    assert not judge(FROM, ar(*headers), TRUSTED).passed


def test_a_trusted_fail_outweighs_a_trusted_pass_below_it() -> None:
    headers = ar(
        "mx.bandantoc.gov.vn; dkim=fail header.d=bandantoc.gov.vn",
        "mx.bandantoc.gov.vn; dkim=pass header.d=bandantoc.gov.vn",  # the sender's
    )
    verdict = judge(FROM, headers, TRUSTED)
    assert not verdict.passed
    assert verdict.detail.endswith(": dkim=fail header.d=bandantoc.gov.vn")


@pytest.mark.parametrize(
    "between",
    [RECEIVED, ("authentication-results", "other.example; dkim=none")],
)
def test_trusted_headers_below_the_mta_own_run_are_ignored(between: tuple[str, str]) -> None:
    """Below a Received, or a header of another id, a trusted id came with the message."""
    trace = [
        *ar("mx.bandantoc.gov.vn; dkim=none"),
        between,
        *ar("mx.bandantoc.gov.vn; spf=pass smtp.mailfrom=thu.lt@bandantoc.gov.vn"),
    ]
    verdict = judge(FROM, trace, TRUSTED)
    assert not verdict.passed
    assert verdict.detail == "not aligned with bandantoc.gov.vn: dkim=none"


def test_the_mta_run_may_follow_later_hops_and_hold_one_header_per_milter() -> None:
    trace = [
        ("received", "from localhost by mx.bandantoc.gov.vn"),  # a content filter's hop
        *ar("relay.example; dkim=none"),  # above the MTA's run: added after it
        RECEIVED,  # the MTA's own, above its milters' headers (Postfix) or below them
        *ar(
            "mx.bandantoc.gov.vn; dkim=none",  # OpenDKIM
            "mx.bandantoc.gov.vn; spf=pass smtp.mailfrom=thu.lt@bandantoc.gov.vn",  # SPF
        ),
        ("received", "from mail.bandantoc.gov.vn by laptop"),
    ]
    assert [(r.method, r.result) for r in mta_results(trace, TRUSTED) or []] == [
        ("dkim", "none"),
        ("spf", "pass"),
    ]
    assert judge(FROM, trace, TRUSTED).passed
    assert mta_results([RECEIVED, *ar("other.example; dkim=pass")], TRUSTED) is None


# --- DKIM verified by docflow (dkimpy, real RSA keys; DNS answered from a table) ----------


@pytest.fixture(scope="module")
def rsa_key(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, bytes]:
    """(PKCS#1 private key PEM, the DNS TXT record publishing its public half)."""
    folder = tmp_path_factory.mktemp("dkim")
    key = folder / "key.pem"
    subprocess.run(
        ["openssl", "genrsa", "-traditional", "-out", str(key), "1024"],
        check=True,
        capture_output=True,
    )
    public = subprocess.run(
        ["openssl", "rsa", "-in", str(key), "-pubout", "-outform", "DER"],
        check=True,
        capture_output=True,
    ).stdout
    return Path(key).read_bytes(), b"v=DKIM1; k=rsa; p=" + base64.b64encode(public)


def signed(private: bytes, domain: str, body: bytes = b"Kinh gui.\r\n") -> bytes:
    raw = (
        f"From: Le Thi Thu <{FROM}>\r\nTo: vanban@docflow.localhost\r\n"
        "Subject: draft\r\nMessage-ID: <1@bandantoc.gov.vn>\r\n\r\n"
    ).encode() + body
    return dkim.sign(raw, b"sel", domain.encode(), private) + raw


def test_verify_dkim_accepts_an_aligned_valid_signature(rsa_key: tuple[bytes, bytes]) -> None:
    private, record = rsa_key
    asked: list[bytes] = []

    def dns(name: bytes, timeout: int = 5) -> bytes | None:
        asked.append(name)
        return record if name == b"sel._domainkey.bandantoc.gov.vn." else None

    verdict = verify_dkim(signed(private, "bandantoc.gov.vn"), FROM, dns)
    assert verdict.passed, verdict.detail
    assert asked == [b"sel._domainkey.bandantoc.gov.vn."]


def test_verify_dkim_refuses_altered_unaligned_and_unsigned_mail(
    rsa_key: tuple[bytes, bytes],
) -> None:
    private, record = rsa_key

    def dns(name: bytes, timeout: int = 5) -> bytes | None:
        return record

    altered = signed(private, "bandantoc.gov.vn").replace(b"Kinh gui.", b"Kinh gui!")
    assert "dkim=fail (body hash mismatch" in verify_dkim(altered, FROM, dns).detail
    unaligned = verify_dkim(signed(private, "evil.example"), FROM, dns)
    assert not unaligned.passed and "dkim=pass header.d=evil.example" in unaligned.detail
    unsigned = signed(private, "bandantoc.gov.vn").split(b"\r\nFrom:", 1)[1]
    assert verify_dkim(b"From:" + unsigned, FROM, dns).detail == "no DKIM signature"
    missing_key = verify_dkim(signed(private, "bandantoc.gov.vn"), FROM, lambda n, timeout=5: None)
    assert not missing_key.passed


# --- the settings ----------------------------------------------------------------------------


CONFIG = {"DOCFLOW_CONFIG": str(PACKAGE_ROOT / "config" / "docflow.toml")}


def test_settings_of_sender_checks_and_limits_come_from_docflow_variables() -> None:
    settings = load_settings(
        {
            **CONFIG,
            "DOCFLOW_REQUIRE_AUTHENTICATED_SENDER": "1",
            "DOCFLOW_TRUSTED_AUTHSERV_ID": "mx.bandantoc.gov.vn, MX2.bandantoc.gov.vn",
            "DOCFLOW_RATE_LIMIT": "0",
            "DOCFLOW_RATE_WINDOW_SECONDS": "60",
        }
    )
    assert settings.intake.require_authenticated_sender
    assert settings.intake.trusted_authserv_ids == ("mx.bandantoc.gov.vn", "mx2.bandantoc.gov.vn")
    assert not settings.intake.verify_dkim
    assert (settings.intake.rate_limit, settings.intake.rate_window_seconds) == (0, 60)
    defaults = load_settings(CONFIG)
    assert not defaults.intake.require_authenticated_sender
    assert (defaults.intake.rate_limit, defaults.intake.rate_window_seconds) == (30, 3600)


def test_requiring_authentication_with_nothing_to_check_it_stops_start_up() -> None:
    with pytest.raises(SettingsError) as e:
        load_settings({**CONFIG, "DOCFLOW_REQUIRE_AUTHENTICATED_SENDER": "yes"})
    assert e.value.key == "intake.require_authenticated_sender"
    assert load_settings(
        {**CONFIG, "DOCFLOW_REQUIRE_AUTHENTICATED_SENDER": "yes", "DOCFLOW_VERIFY_DKIM": "1"}
    ).intake.verify_dkim
