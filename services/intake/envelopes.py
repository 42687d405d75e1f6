"""Raw envelopes: how every entry point (HTTP, SMTP, import, kafka-python publisher) wraps a message."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime
from email.parser import BytesHeaderParser
from email.policy import compat32
from typing import Any

from schemas import Channel, RawEnvelope


def email_message_id(raw: bytes) -> str:
    """The mail's Message-ID, or a content hash when it has none, so a resent copy maps to one complaint."""
    try:
        headers = BytesHeaderParser(policy=compat32).parsebytes(raw[:65536])
        value = str(headers.get("Message-ID") or "").strip()
    except Exception:
        value = ""
    if value and len(value) <= 998 and "\n" not in value:
        return value
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def email_envelope(
    raw: bytes,
    source: str,
    mail_from: str | None = None,
    rcpt_to: list[str] | None = None,
    received_at: datetime | None = None,
) -> RawEnvelope:
    return RawEnvelope(
        channel=Channel.email,
        message_id=email_message_id(raw),
        received_at=received_at or datetime.now(UTC),
        source=source,
        payload_base64=base64.b64encode(raw).decode("ascii"),
        envelope_from=mail_from,
        envelope_to=rcpt_to or [],
    )


def json_envelope(
    channel: Channel,
    message_id: str,
    payload: dict[str, Any],
    source: str,
    received_at: datetime | None = None,
) -> RawEnvelope:
    return RawEnvelope(
        channel=channel,
        message_id=message_id,
        received_at=received_at or datetime.now(UTC),
        source=source,
        payload=payload,
    )


def encode(envelope: RawEnvelope) -> bytes:
    return envelope.model_dump_json(exclude_none=True).encode("utf-8")
