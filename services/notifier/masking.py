"""Defensive masking of free text a department wrote before it reaches a customer message.

Intake's ``services.intake.pii.redact`` is used when it is importable; this module's own pass runs
after it in every case, so a notice never carries a full card, account, ID or phone number even if
the shared redactor is missing or misses one.
"""

from __future__ import annotations

import importlib
import re
import unicodedata
from collections.abc import Callable
from functools import lru_cache

# Grouped numbers (cards "6222 0212 3456 7890", accounts "6217-0000-1234-5678") of 12+ digits, and
# unbroken runs of 11+ digits (mobile numbers, ID numbers with an optional X check digit, accounts).
# Groups of at least three digits keep dates ("2026-11-22 18:00") and hotlines ("95588") intact.
_LONG_NUMBER = re.compile(r"(?<![0-9A-Za-z])\d{3,}(?:[ \-]\d{3,})*[Xx]?(?![0-9A-Za-z])")
_GROUPED_MIN_DIGITS = 12
_UNBROKEN_MIN_DIGITS = 11
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u200b-\u200f\u202a-\u202e\u2066-\u2069]")


def _mask_number(match: re.Match[str]) -> str:
    token = match.group(0)
    digits = re.sub(r"\D", "", token)
    grouped = bool(re.search(r"[ \-]", token))
    if len(digits) < (_GROUPED_MIN_DIGITS if grouped else _UNBROKEN_MIN_DIGITS):
        return token
    return "****" + digits[-4:]


def mask_numbers(text: str) -> str:
    return _LONG_NUMBER.sub(_mask_number, text)


@lru_cache(maxsize=1)
def _shared_redactor() -> Callable[[str], object] | None:
    try:
        module = importlib.import_module("services.intake.pii")
    except ImportError:
        return None
    redact = getattr(module, "redact", None)
    return redact if callable(redact) else None


def _shared_redact(text: str) -> str:
    redact = _shared_redactor()
    if redact is None:
        return text
    try:
        result = redact(text)
    except Exception:
        return text  # the local pass below still masks; a broken redactor must not block notices
    if isinstance(result, str):
        return result
    first = result[0] if isinstance(result, tuple) and result else getattr(result, "text", None)
    return first if isinstance(first, str) else text


def strip_controls(text: str) -> str:
    """Drop control and bidi-override characters; keep tabs and line breaks for bodies."""
    return _CONTROL.sub("", unicodedata.normalize("NFC", text))


def mask_free_text(text: str | None) -> str | None:
    """Safe-to-show version of a department's note, reason or outcome (None stays None)."""
    if text is None:
        return None
    cleaned = strip_controls(text).strip()
    if not cleaned:
        return None
    return mask_numbers(_shared_redact(cleaned))
