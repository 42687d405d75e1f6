"""Whether a mail's From address can be believed: the receiving server's ``Authentication-Results`` (RFC 8601).

Pure functions. The bank's mail server checks SPF, DKIM and DMARC and writes one ``Authentication-Results``
header on top of the message; headers further down came with the message and are the sender's word. With
``COMPLAINTFLOW_MAIL_AUTHSERV_ID`` set, the first header naming that server counts, for passes and failures.
Without it, the topmost header counts for failures only: when no server of the bank stands before the
intake (``complaintflow run``), the topmost header is whatever the sender wrote, and a forger writes "pass".

A result proves the From address only when it is aligned with the From domain: DMARC, DKIM whose signing
domain (``header.d``/``header.i``) is the From domain or a parent of it, SPF whose checked envelope domain
(``smtp.mailfrom``) is. SPF alone proves the envelope sender, which an attacker chooses freely.

The verdict:

* ``fail``: DMARC fails, or, without DMARC, SPF fails/softfails or DKIM fails for the From domain (and
  nothing aligned passes); also when the envelope sender (MAIL FROM) is of another domain than the From
  header and no aligned result passes: the forged-From case;
* ``pass``: an aligned DMARC, DKIM or SPF pass in the header of the configured ``authserv-id``;
* ``none``: nothing to go on (no header, neutral or none results), e.g. mail handed straight to the intake.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

Verdict = Literal["pass", "fail", "none"]

_COMMENT_RE = re.compile(r"\([^()]*\)")
_RESULT_RE = re.compile(r"^\s*([a-z0-9-]+)\s*=\s*([a-z]+)", re.I)
_PROPERTY_RE = re.compile(r"([a-z0-9-]+\.[a-z0-9_.-]+)\s*=\s*(\"[^\"]*\"|[^\s;]+)", re.I)
_MAX_HEADER_CHARS = 4000


@dataclass(frozen=True)
class MethodResult:
    method: str  # spf, dkim, dmarc, ...
    result: str  # pass, fail, softfail, neutral, none, temperror, permerror, policy
    properties: dict[str, str] = field(default_factory=dict)  # e.g. header.d, smtp.mailfrom, header.from


@dataclass(frozen=True)
class AuthenticationResults:
    authserv_id: str
    results: tuple[MethodResult, ...]


def parse_authentication_results(value: str) -> AuthenticationResults | None:
    """One ``Authentication-Results`` header value; None when it has no authserv-id."""
    text = " ".join(value[:_MAX_HEADER_CHARS].split())
    for _ in range(3):  # comments may nest a little
        text = _COMMENT_RE.sub(" ", text)
    parts = [p.strip() for p in text.split(";")]
    head = parts[0].split()
    if not head:
        return None
    results: list[MethodResult] = []
    for part in parts[1:]:
        match = _RESULT_RE.match(part)
        if not match:
            continue
        properties = {k.lower(): v.strip('"').lower() for k, v in _PROPERTY_RE.findall(part[match.end() :])}
        results.append(MethodResult(match.group(1).lower(), match.group(2).lower(), properties))
    return AuthenticationResults(head[0].lower(), tuple(results))


def trusted_results(headers: list[str], authserv_id: str | None = None) -> AuthenticationResults | None:
    """The header the receiving server wrote: the first naming ``authserv_id``, else the topmost one."""
    for value in headers:
        parsed = parse_authentication_results(value)
        if parsed is None:
            continue
        if authserv_id is None or parsed.authserv_id == authserv_id.lower():
            return parsed
        # With an id configured, headers of other servers are skipped (they may have been added by the sender).
    return None


def _domain(address_or_domain: str | None) -> str:
    value = (address_or_domain or "").strip().strip("<>").lower()
    return value.rsplit("@", 1)[-1].rstrip(".")


def aligned(domain: str, from_domain: str) -> bool:
    """Relaxed alignment: the same domain, or one a subdomain of the other (mail.bank.cn and bank.cn)."""
    if not domain or not from_domain:
        return False
    return domain == from_domain or domain.endswith("." + from_domain) or from_domain.endswith("." + domain)


def verdict(
    headers: list[str], from_address: str | None, envelope_from: str | None, authserv_id: str | None
) -> Verdict:
    """Whether the From address is proven (``pass``), disproven (``fail``) or neither (``none``); see the module doc."""
    from_domain = _domain(from_address)
    if not from_domain:
        return "fail"
    results = trusted_results(headers, authserv_id)
    passed = failed = False
    if results is not None:
        for item in results.results:
            props = item.properties
            if item.method == "dmarc":
                header_from = _domain(props.get("header.from")) or from_domain
                if aligned(header_from, from_domain):
                    passed |= item.result == "pass"
                    failed |= item.result == "fail"
            elif item.method == "dkim":
                signer = _domain(props.get("header.d") or props.get("header.i"))
                if aligned(signer, from_domain) or not signer:
                    passed |= item.result == "pass" and bool(signer)
                    failed |= item.result == "fail"
            elif item.method == "spf":
                checked = _domain(props.get("smtp.mailfrom") or props.get("smtp.helo") or envelope_from)
                if aligned(checked, from_domain):
                    passed |= item.result == "pass"
                    failed |= item.result in ("fail", "softfail")
        if authserv_id is None:
            # Without the bank's server named, the topmost header may be the sender's own: it can only
            # disprove the From (no sender adds a failure against itself), never prove it.
            passed = False
        dmarc = [item.result for item in results.results if item.method == "dmarc"]
        if "fail" in dmarc:
            return "fail"
        if "pass" in dmarc and passed:
            return "pass"
    if passed:
        return "pass"
    if failed:
        return "fail"
    envelope_domain = _domain(envelope_from)
    if envelope_domain and not aligned(envelope_domain, from_domain):
        return "fail"  # MAIL FROM of one domain, From: of another, and nothing vouches for the From
    return "none"


def sender_verified(result: Verdict, require_pass: bool) -> bool:
    """A verdict good enough to act on the sender's behalf: ``pass``, or also ``none`` unless a pass is required."""
    return result == "pass" or (result == "none" and not require_pass)
