from __future__ import annotations

import random

import aiohttp
import aiosmtplib
import pytest

from services.notifier.render import InvalidRecipient
from services.notifier.retry import backoff_delay, classify_failure
from services.notifier.sms_providers import SmsDeliveryError


def refused(code: int) -> aiosmtplib.SMTPRecipientsRefused:
    return aiosmtplib.SMTPRecipientsRefused(
        [aiosmtplib.SMTPRecipientRefused(code, "mailbox unavailable", "zhang.wei@example.cn")]
    )


@pytest.mark.parametrize(
    ("failure", "expected"),
    [
        (refused(550), "permanent"),
        (refused(553), "permanent"),
        (refused(450), "transient"),
        (refused(452), "transient"),
        (aiosmtplib.SMTPResponseException(421, "closing channel"), "transient"),
        (aiosmtplib.SMTPDataError(554, "message rejected"), "permanent"),
        (aiosmtplib.SMTPDataError(451, "local error, try later"), "transient"),
        (aiosmtplib.SMTPServerDisconnected("lost"), "transient"),
        (aiosmtplib.SMTPConnectError("refused"), "transient"),
        (aiosmtplib.SMTPConnectTimeoutError("slow"), "transient"),
        (aiosmtplib.SMTPReadTimeoutError("slow"), "transient"),
        (aiosmtplib.SMTPAuthenticationError(535, "bad credentials"), "transient"),
        (aiosmtplib.SMTPSenderRefused(550, "sender refused", "complaints@bank.example"), "transient"),
        (ConnectionRefusedError(111, "Connection refused"), "transient"),
        (TimeoutError(), "transient"),
        (OSError(113, "No route to host"), "transient"),
        (SmsDeliveryError(429, True, "slow down"), "transient"),
        (SmsDeliveryError(400, False, "bad number"), "permanent"),
        (aiohttp.ClientConnectionError("reset"), "transient"),
        (aiohttp.ServerTimeoutError("timeout"), "transient"),
        (InvalidRecipient("no address"), "permanent"),
        (KeyError("template"), "permanent"),
    ],
)
def test_classify_exceptions(failure: BaseException, expected: str) -> None:
    assert classify_failure(failure) == expected


def test_classify_http_response_errors() -> None:
    def error(status: int) -> aiohttp.ClientResponseError:
        return aiohttp.ClientResponseError(None, (), status=status)  # type: ignore[arg-type]

    assert classify_failure(error(503)) == "transient"
    assert classify_failure(error(429)) == "transient"
    assert classify_failure(error(401)) == "permanent"


@pytest.mark.parametrize(
    ("status", "protocol", "expected"),
    [
        (429, "http", "transient"),
        (408, "http", "transient"),
        (500, "http", "transient"),
        (503, "http", "transient"),
        (400, "http", "permanent"),
        (404, "http", "permanent"),
        (422, "http", "permanent"),
        (421, "smtp", "transient"),
        (450, "smtp", "transient"),
        (550, "smtp", "permanent"),
        (554, "smtp", "permanent"),
    ],
)
def test_classify_status_codes(status: int, protocol: str, expected: str) -> None:
    assert classify_failure(status, protocol=protocol) == expected  # type: ignore[arg-type]


def test_backoff_grows_exponentially_with_full_jitter() -> None:
    rng = random.Random(7)
    for attempt in range(12):
        ceiling = min(300.0, 1.0 * 2**attempt)
        samples = [backoff_delay(attempt, rng=rng) for _ in range(200)]
        assert all(0 <= s <= ceiling for s in samples)
        assert max(samples) > ceiling * 0.8  # jitter spans the whole range
    assert backoff_delay(10_000, base=2.0, cap=60.0, rng=rng) <= 60.0


def test_backoff_is_reproducible_and_validated() -> None:
    first = [backoff_delay(n, base=0.5, rng=random.Random(42)) for n in range(5)]
    second = [backoff_delay(n, base=0.5, rng=random.Random(42)) for n in range(5)]
    assert first == second
    with pytest.raises(ValueError):
        backoff_delay(-1)
