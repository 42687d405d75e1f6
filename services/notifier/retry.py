"""Which delivery failures are worth retrying, and how long to wait before the next attempt."""

from __future__ import annotations

import random
from typing import Literal

import aiohttp
import aiosmtplib

FailureClass = Literal["transient", "permanent"]

# HTTP 4xx answers that mean "not now" rather than "never".
_HTTP_TRANSIENT_4XX = frozenset({408, 425, 429})
_MAX_EXPONENT = 32
_OUR_SIDE = (
    aiosmtplib.SMTPAuthenticationError,
    aiosmtplib.SMTPSenderRefused,
    aiosmtplib.SMTPHeloError,
    aiosmtplib.SMTPConnectError,
)


def _classify_code(code: int, protocol: Literal["smtp", "http"]) -> FailureClass:
    if protocol == "smtp":
        return "transient" if 400 <= code < 500 else "permanent"
    if code in _HTTP_TRANSIENT_4XX or code >= 500:
        return "transient"
    return "permanent"


def _classify_smtp(exc: aiosmtplib.SMTPException) -> FailureClass:
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        codes = [refusal.code for refusal in exc.recipients]
        return "transient" if any(400 <= code < 500 for code in codes) else "permanent"
    if isinstance(exc, _OUR_SIDE):
        # Our credentials, sender, greeting or a server refusing the connection: a fault an operator
        # fixes, not proof the customer cannot be reached. Retried until the attempt budget runs out.
        return "transient"
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return _classify_code(exc.code, "smtp")
    if isinstance(exc, aiosmtplib.SMTPNotSupported):
        return "transient"  # e.g. STARTTLS required but not offered: configuration, not the address
    # Disconnected, connect errors and timeouts.
    return "transient"


def classify_failure(exc_or_status: BaseException | int, *, protocol: Literal["smtp", "http"] = "http") -> FailureClass:
    """``"transient"`` (retry with backoff) or ``"permanent"`` (record, tell the department, stop).

    A bare status code needs ``protocol`` because 4xx means "try later" in SMTP and "your request is
    wrong" in HTTP. Exceptions carrying a boolean ``transient`` attribute (``SmsDeliveryError``) are
    taken at their word. Anything unrecognised is permanent: retrying a bug does not fix it, and the
    message then reaches the dead-letter topic with its reason.
    """
    if isinstance(exc_or_status, int):
        return _classify_code(exc_or_status, protocol)
    exc = exc_or_status
    transient = getattr(exc, "transient", None)
    if isinstance(transient, bool):
        return "transient" if transient else "permanent"
    if isinstance(exc, aiosmtplib.SMTPException):
        return _classify_smtp(exc)
    if isinstance(exc, aiohttp.ClientResponseError):
        return _classify_code(exc.status, "http")
    if isinstance(exc, aiohttp.ClientConnectionError | aiohttp.ServerTimeoutError):
        return "transient"
    if isinstance(exc, TimeoutError | ConnectionError):  # asyncio.TimeoutError is TimeoutError on 3.11
        return "transient"
    if isinstance(exc, OSError) and not isinstance(exc, FileNotFoundError | PermissionError):
        return "transient"  # network-level errors: unreachable host, reset, DNS hiccups
    return "permanent"


def backoff_delay(attempt: int, base: float = 1.0, cap: float = 300.0, rng: random.Random | None = None) -> float:
    """Seconds to wait before retry number ``attempt`` (0 for the first retry).

    Exponential with full jitter: uniform in [0, min(cap, base * 2**attempt)], so a burst of
    failures against the same server does not come back as a synchronised burst.
    """
    if attempt < 0:
        raise ValueError("attempt must be >= 0")
    ceiling = min(cap, base * (2 ** min(attempt, _MAX_EXPONENT)))
    return (rng or random).uniform(0, ceiling)
