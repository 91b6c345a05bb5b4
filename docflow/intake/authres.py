"""Whether a message's `From:` is vouched for: `Authentication-Results` of a trusted MTA.

The header (RFC 8601) is added by the receiving MTA (or its milters: OpenDKIM, OpenDMARC,
rspamd) after checking SPF and DKIM. Anyone can write one into a message they send, so
only those carrying the authserv-id of the office's own MTA count, and that MTA must
remove such headers from incoming mail (RFC 8601 section 5; docs/operations.md). A pass
counts only when aligned with the `From:` domain, as DMARC does: a valid signature of
some other domain says nothing about who wrote the mail.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from docflow.mime import strip_comments

# tokens of the header: `;`, `=`, `/` and runs of anything else, where a quoted string
# (or a stray `"`) stays joined to what touches it: `"office.gov"@evil.example` is one
# value, of evil.example; splitting it let the quoted part pass for the domain
_QUOTED = r'"(?:[^"\\]|\\.)*"'
_TOKEN = re.compile(rf"[;=/]|(?:{_QUOTED}|[^\s;=/()])+")
_ENTIRELY_QUOTED = re.compile(_QUOTED)


@dataclass(frozen=True)
class MethodResult:
    """One `method=result` with its properties (`header.d`, `smtp.mailfrom`, …)."""

    method: str
    result: str
    props: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class AuthResults:
    """One `Authentication-Results` header."""

    authserv_id: str
    results: tuple[MethodResult, ...]


@dataclass(frozen=True)
class Verdict:
    """The outcome of checking a sender: `passed`, and the evidence in words."""

    passed: bool
    detail: str
    trusted_header: bool  # a header of a trusted authserv-id was there (decided by it)


def _unquote(token: str) -> str:
    """The content of a token that is one quoted string; any other token as it is."""
    if _ENTIRELY_QUOTED.fullmatch(token):
        return re.sub(r"\\(.)", r"\1", token[1:-1])
    return token


def parse(value: str) -> AuthResults | None:
    """Parse one header value; None when it has no authserv-id."""
    statements = _split(_TOKEN.findall(strip_comments(value)))
    if not statements or not statements[0]:
        return None
    authserv_id = _unquote(statements[0][0]).lower()  # a version number may follow; ignored
    results = []
    for tokens in statements[1:]:
        result = _method_result(tokens)
        if result is not None:
            results.append(result)
    return AuthResults(authserv_id, tuple(results))


def _split(tokens: list[str]) -> list[list[str]]:
    out: list[list[str]] = [[]]
    for token in tokens:
        if token == ";":
            out.append([])
        else:
            out[-1].append(token)
    return out


def _method_result(tokens: list[str]) -> MethodResult | None:
    """`dkim=pass header.d=example.org header.s=sel` (a `/version` after the method too)."""
    if len(tokens) < 3 or tokens[1] not in ("=", "/"):
        return None
    method = tokens[0].lower()
    rest = tokens[1:]
    if rest[0] == "/":  # method/version
        rest = rest[2:]
    if len(rest) < 2 or rest[0] != "=":
        return None
    result = _unquote(rest[1]).lower()
    props: dict[str, str] = {}
    items = rest[2:]
    i = 0
    while i + 2 < len(items):
        if items[i + 1] != "=":  # something else (a stray word): skip it
            i += 1
            continue
        props.setdefault(items[i].lower(), _unquote(items[i + 2]))
        i += 3
    return MethodResult(method, result, props)


def aligned(domain: str, from_domain: str) -> bool:
    """Relaxed alignment: the domain is the From domain or one of its parents."""
    domain = domain.strip().strip(".").lower()
    from_domain = from_domain.strip().strip(".").lower()
    return bool(domain) and (from_domain == domain or from_domain.endswith("." + domain))


def _domain_of(value: str) -> str:
    """`user@example.org` or `example.org` → `example.org`.

    The last `@` of the whole value: a quoted local part may hold a domain-like string.
    """
    return value.rpartition("@")[2].strip().strip("<>").lower()


def mta_results(
    trace: Iterable[tuple[str, str]], trusted_ids: Iterable[str]
) -> list[MethodResult] | None:
    """The results the trusted MTA wrote itself; None when it wrote no header.

    `trace`: Received and Authentication-Results headers, (lowercase name, value), topmost
    first. The MTA prepends its headers, so only the topmost run of trusted-id headers is
    its own; the run ends at a Received or at a header of another id (or of none), and a
    trusted-id header below came with the message, written by anyone. Within the run a
    method counts from the topmost header reporting it: one lower down that says otherwise
    may be the sender's, directly below when the MTA's header follows its Received.
    """
    trusted = {t.lower() for t in trusted_ids}
    results: list[MethodResult] = []
    reported: set[str] = set()
    in_run = False
    for name, value in trace:
        parsed = parse(value) if name == "authentication-results" else None
        if parsed is None or parsed.authserv_id not in trusted:
            if in_run:
                break
            continue
        in_run = True
        results.extend(r for r in parsed.results if r.method not in reported)
        reported.update(r.method for r in parsed.results)
    return results if in_run else None


def judge(from_addr: str, trace: Iterable[tuple[str, str]], trusted_ids: Iterable[str]) -> Verdict:
    """Whether the trusted MTA's results show an aligned DKIM, SPF or DMARC pass.

    Only the MTA's own headers count (`mta_results`): others may have been written by the
    sender.
    """
    results = mta_results(trace, trusted_ids)
    if results is None:
        return Verdict(False, "no Authentication-Results from a trusted authserv-id", False)
    from_domain = _domain_of(from_addr) if "@" in from_addr else ""
    seen: list[str] = []
    for r in results:
        if r.method == "dkim":
            d = r.props.get("header.d") or _domain_of(r.props.get("header.i", ""))
            if r.result == "pass" and from_domain and aligned(d, from_domain):
                return Verdict(True, f"dkim=pass header.d={d}", True)
            seen.append(f"dkim={r.result}" + (f" header.d={d}" if d else ""))
        elif r.method == "spf":
            mailfrom = r.props.get("smtp.mailfrom") or r.props.get("smtp.helo", "")
            d = _domain_of(mailfrom)
            if r.result == "pass" and from_domain and aligned(d, from_domain):
                return Verdict(True, f"spf=pass smtp.mailfrom={d}", True)
            seen.append(f"spf={r.result}" + (f" smtp.mailfrom={d}" if d else ""))
        elif r.method == "dmarc":
            d = r.props.get("header.from", "").lower()
            if r.result == "pass" and from_domain and d == from_domain:
                return Verdict(True, f"dmarc=pass header.from={d}", True)
            seen.append(f"dmarc={r.result}")
    evidence = "; ".join(seen) or "no dkim, spf or dmarc result"
    return Verdict(False, f"not aligned with {from_domain or '(no From)'}: {evidence}", True)


DnsTxt = Callable[..., bytes | None]


def verify_dkim(raw: bytes, from_addr: str, dns: DnsTxt | None = None) -> Verdict:
    """Verify the message's DKIM signatures with dkimpy (blocking: DNS, hashing).

    A verified signature counts only when its `d=` is aligned with the From domain.
    `dns` answers TXT queries (dkimpy's `dnsfunc`); the default asks the resolver.
    """
    import dkim  # only offices that turn `intake.verify_dkim` on pay for the import

    from_domain = _domain_of(from_addr) if "@" in from_addr else ""
    try:
        checker = dkim.DKIM(raw)
    except dkim.DKIMException as e:  # a message dkimpy cannot read
        return Verdict(False, f"dkim=permerror ({e})"[:200], False)
    count = sum(1 for name, _ in checker.headers if name.lower() == b"dkim-signature")
    if count == 0:
        return Verdict(False, "no DKIM signature", False)
    seen: list[str] = []
    for idx in range(count):
        try:
            ok = checker.verify(idx=idx, dnsfunc=dns) if dns else checker.verify(idx=idx)
        except dkim.DKIMException as e:  # altered body, malformed signature or key, no DNS
            seen.append(f"dkim=fail ({e})"[:200])
            continue
        domain = (checker.domain or b"").decode("ascii", "replace")
        if ok and from_domain and aligned(domain, from_domain):
            return Verdict(True, f"dkim=pass header.d={domain} (verified by docflow)", False)
        seen.append(f"dkim={'pass' if ok else 'fail'} header.d={domain}")
    evidence = "; ".join(seen)
    return Verdict(False, f"not aligned with {from_domain or '(no From)'}: {evidence}", False)
