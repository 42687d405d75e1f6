"""Stable identifiers. Pure functions: the same input always yields the same id, so redelivery is harmless."""

from __future__ import annotations

import hashlib
from datetime import date

from schemas.enums import Channel

# Crockford base32: no I, L, O or U, so a number read out over the phone is unambiguous.
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
NUMBER_SUFFIX_LENGTH = 6


def _digest(*parts: str) -> bytes:
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).digest()


def complaint_id_for(channel: Channel | str, channel_ref: str) -> str:
    """Complaint id from the channel and the channel's own message id (e-mail Message-ID, call id, post id...)."""
    return "cmp_" + _digest(str(channel), channel_ref.strip()).hex()[:24]


def _crockford(data: bytes, length: int) -> str:
    value = int.from_bytes(data, "big")
    chars = []
    for _ in range(length):
        value, rem = divmod(value, 32)
        chars.append(_CROCKFORD[rem])
    return "".join(chars)


def complaint_number_for(complaint_id: str, received_on: date, salt: int = 0) -> str:
    """Human complaint number such as ``CF-20261122-7K3Q9M``.

    ``salt`` picks another suffix in the rare case the first one is already taken that day.
    """
    seed = complaint_id if salt == 0 else f"{complaint_id}#{salt}"
    return f"CF-{received_on:%Y%m%d}-{_crockford(_digest(seed), NUMBER_SUFFIX_LENGTH)}"


def normalize_complaint_number(text: str) -> str:
    """Upper-case and map the look-alike letters a person may type (O→0, I/L→1) in the suffix."""
    text = text.strip().upper()
    parts = text.split("-")
    if len(parts) == 3:
        parts[2] = parts[2].replace("O", "0").replace("I", "1").replace("L", "1")
    return "-".join(parts)


def event_id_for(complaint_id: str, kind: str, discriminator: str = "") -> str:
    """Stable id of a lifecycle event: the same decision replayed yields the same id."""
    return "evt_" + _digest(complaint_id, kind, discriminator).hex()[:24]


def stable_id(prefix: str, *parts: str) -> str:
    return f"{prefix}_" + _digest(*parts).hex()[:24]
