"""Contact details in canonical form: phone numbers in E.164, e-mail addresses lower-cased and checked."""

from __future__ import annotations

import functools
import re
from email.utils import parseaddr

import phonenumbers

MAX_PHONE_INPUT = 40
MAX_EMAIL_LENGTH = 254

_LOCAL_PART_RE = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}$")
_DOMAIN_LABEL_RE = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_FULLWIDTH_DIGITS = {cp: cp - 0xFEE0 for cp in range(0xFF10, 0xFF1A)} | {0xFF0B: ord("+"), 0xFF0D: ord("-")}
_PHONE_NOISE_RE = re.compile(r"(?:tel:|电话|手机|phone|mobile|[:：])", re.I)


def to_e164(raw: str | None, default_region: str = "CN") -> str | None:
    """``+8613812345678`` for a valid number written in any common form, else None. Never raises.

    Numbers without a country code are read in ``default_region``; a leading ``00`` is the
    international prefix in most of the world (and in China).
    """
    if not raw or not isinstance(raw, str):
        return None
    return _e164(raw, default_region)


@functools.lru_cache(maxsize=4096)  # a complaint's number is read more than once (contact, usable-contact check)
def _e164(raw: str, default_region: str) -> str | None:
    candidate = _PHONE_NOISE_RE.sub("", raw.strip())[:MAX_PHONE_INPUT].translate(_FULLWIDTH_DIGITS).strip()
    if candidate.startswith("00"):
        candidate = "+" + candidate[2:]
    try:
        number = phonenumbers.parse(candidate, default_region)
    except Exception:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalize_email_address(raw: str | None) -> str | None:
    """``name@example.com`` for an address written in any common form (``"Name" <Name@Example.COM>``,
    ``mailto:``), lower-cased so the same customer is recognised again; None when it is not an address.

    Internationalised domains are kept in their ASCII (punycode) form.
    """
    if not raw or not isinstance(raw, str) or len(raw) > 4 * MAX_EMAIL_LENGTH:
        return None
    try:
        text = raw.strip()
        if text.lower().startswith("mailto:"):
            text = text[7:]
        _, address = parseaddr(text)
        address = (address or text).strip().strip("<>").strip()
        if address.count("@") != 1:
            return None
        local, domain = address.rsplit("@", 1)
        domain = domain.rstrip(".").lower()
        if not domain.isascii():
            domain = domain.encode("idna").decode("ascii")
        labels = domain.split(".")
        if len(labels) < 2 or not all(_DOMAIN_LABEL_RE.match(label) for label in labels):
            return None
        if not labels[-1].isalpha() and not labels[-1].startswith("xn--"):
            return None
        if not _LOCAL_PART_RE.match(local) or local.startswith(".") or local.endswith(".") or ".." in local:
            return None
        normalized = f"{local.lower()}@{domain}"
        return normalized if len(normalized) <= MAX_EMAIL_LENGTH else None
    except Exception:
        return None
