"""Tiny content-hash helper shared by the sinks and the dead-letter tools."""

from __future__ import annotations

import hashlib


def short_hash(data: bytes, length: int = 12) -> str:
    return hashlib.sha256(data).hexdigest()[:length]
