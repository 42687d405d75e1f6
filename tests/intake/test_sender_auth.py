"""Who sent a mail, as far as the receiving server's Authentication-Results and the envelope can tell."""

from __future__ import annotations

import pytest

from services.intake.sender_auth import parse_authentication_results, sender_verified, trusted_results, verdict

GMAIL_PASS = (
    "mx.bank.example;\r\n dkim=pass header.i=@163.com header.s=s110527 header.b=Zx1xYQ7a;\r\n"
    " spf=pass (bank.example: domain of wangzhe@163.com designates 220.181.12.15 as permitted sender)"
    " smtp.mailfrom=wangzhe@163.com;\r\n dmarc=pass (p=NONE sp=NONE dis=NONE) header.from=163.com"
)


def test_parses_methods_results_and_properties_without_comments() -> None:
    parsed = parse_authentication_results(GMAIL_PASS)
    assert parsed is not None and parsed.authserv_id == "mx.bank.example"
    assert [(r.method, r.result) for r in parsed.results] == [("dkim", "pass"), ("spf", "pass"), ("dmarc", "pass")]
    assert parsed.results[1].properties["smtp.mailfrom"] == "wangzhe@163.com"


@pytest.mark.parametrize(
    ("headers", "envelope", "expected"),
    [
        ([GMAIL_PASS], "wangzhe@163.com", "pass"),
        (["mx.bank.example; dmarc=fail (p=REJECT) header.from=163.com"], "wangzhe@163.com", "fail"),
        (["mx.bank.example; spf=softfail smtp.mailfrom=163.com"], "wangzhe@163.com", "fail"),
        (["mx.bank.example; dkim=fail header.d=163.com"], "wangzhe@163.com", "fail"),
        # SPF passes for the attacker's own domain: proves the envelope, not the From.
        (["mx.bank.example; spf=pass smtp.mailfrom=mallory@evil.example"], "mallory@evil.example", "fail"),
        # A DKIM signature of another domain proves nothing about the From.
        (["mx.bank.example; dkim=pass header.d=evil.example"], "wangzhe@163.com", "none"),
        ([], "wangzhe@163.com", "none"),
        ([], None, "none"),
        ([], "mallory@evil.example", "fail"),  # forged From: nothing vouches for it and the envelope differs
        (["mx.bank.example; spf=none; dkim=none"], "bounce@mail.163.com", "none"),  # subdomain aligns
    ],
)
def test_verdict(headers: list[str], envelope: str | None, expected: str) -> None:
    assert verdict(headers, "wangzhe@163.com", envelope, "mx.bank.example") == expected


def test_without_the_banks_server_named_a_header_can_disprove_but_never_prove() -> None:
    # No server of the bank before the intake: the forger writes the topmost header, and a "pass" of their own.
    forged = ["mx.bank.example; dmarc=pass header.from=163.com; dkim=pass header.d=163.com"]
    assert verdict(forged, "wangzhe@163.com", "mallory@evil.example", None) == "fail"
    assert verdict(forged, "wangzhe@163.com", "wangzhe@163.com", None) == "none"
    assert verdict(["mx; dmarc=fail header.from=163.com"], "wangzhe@163.com", "wangzhe@163.com", None) == "fail"
    assert verdict([GMAIL_PASS], "wangzhe@163.com", "wangzhe@163.com", "mx.bank.example") == "pass"


def test_only_the_receiving_servers_header_counts() -> None:
    # The sender wrote a "pass" of its own lower in the message; the bank's server (on top) saw a failure.
    headers = ["mx.bank.example; dmarc=fail header.from=163.com", "mx.bank.example; dmarc=pass header.from=163.com"]
    assert verdict(headers, "wangzhe@163.com", "wangzhe@163.com", None) == "fail"
    assert verdict(headers, "wangzhe@163.com", "wangzhe@163.com", "mx.bank.example") == "fail"
    forged_on_top = ["evil.example; dmarc=pass header.from=163.com", "mx.bank.example; dmarc=fail header.from=163.com"]
    assert verdict(forged_on_top, "wangzhe@163.com", "wangzhe@163.com", "mx.bank.example") == "fail"
    results = trusted_results(forged_on_top, "MX.bank.example")
    assert results is not None and results.results[0].result == "fail"


def test_a_pass_can_be_required() -> None:
    assert sender_verified("pass", require_pass=True) and sender_verified("pass", require_pass=False)
    assert sender_verified("none", require_pass=False) and not sender_verified("none", require_pass=True)
    assert not sender_verified("fail", require_pass=False)
