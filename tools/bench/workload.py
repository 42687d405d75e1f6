"""The benchmark's complaints: the realistic samples of every channel, each made a new complaint of its own.

Envelopes are serialised once, ahead of the run, with a placeholder ``received_at`` that is swapped for the
publish instant as each one is sent, so the latency clock starts when the adapter hands the record over.
"""

from __future__ import annotations

import base64
import quopri
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from domain.message_ids import social_message_id
from schemas import Channel, EventKind, complaint_id_for, event_id_for, stable_id
from services.intake import samples

# Pydantic writes this instant as "2000-01-01T00:00:00.123456Z": 27 bytes, the length of any UTC instant
# with microseconds, so it can be swapped in place.
PLACEHOLDER = datetime(2000, 1, 1, 0, 0, 0, 123456, tzinfo=UTC)
PLACEHOLDER_TEXT = b"2000-01-01T00:00:00.123456Z"
CUSTOMERS_PER_COMPLAINT = 0.5  # about two complaints per customer, as in a real queue


@dataclass(frozen=True)
class BenchComplaint:
    index: int
    channel: Channel
    key: bytes
    template: bytes  # RawEnvelope JSON with PLACEHOLDER_TEXT as received_at
    complaint_id: str
    ack_event_id: str

    def value_at(self, instant: float) -> bytes:
        stamp = datetime.fromtimestamp(instant, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ").encode()
        return self.template.replace(PLACEHOLDER_TEXT, stamp, 1)

    @property
    def sms_message_id(self) -> str:
        return stable_id("sms", self.ack_event_id)


def _mobile(customer: int) -> str:
    return f"139{10_000_000 + customer % 89_999_999:08d}"


def _fresh_email(raw: bytes, message_id: str, address: str) -> bytes:
    """The sample mail with a new Message-ID and sender address (only in the top-level header block)."""
    sep = b"\r\n\r\n" if b"\r\n\r\n" in raw else b"\n\n"
    head, _, body = raw.partition(sep)
    head = re.sub(rb"(?im)^Message-ID:.*(\r?\n[ \t].*)*(\r?\n|$)", b"", head + b"\r\n").rstrip(b"\r\n")
    head = re.sub(rb"(?im)^(From:.*<)[^>]+(>)", lambda m: m.group(1) + address.encode() + m.group(2), head, count=1)
    return f"Message-ID: {message_id}\r\n".encode() + head + sep + body


def _swap_phone(raw: bytes, old: bytes, new: bytes) -> bytes:
    """The mail with the phone number in its (base64 or quoted-printable) body replaced."""
    sep = b"\r\n\r\n"
    head, _, body = raw.partition(sep)
    if b"base64" in head.lower():
        body = base64.encodebytes(base64.b64decode(body).replace(old, new))
    else:
        body = quopri.encodestring(quopri.decodestring(body).replace(old, new))
    return head + sep + body


# The phone numbers written in the sample mails' bodies, and a distinct one of the same shape per customer.
BODY_PHONES: dict[str, tuple[bytes, Callable[[int], str]]] = {
    "gbk_email": (b"138 1234 5678", lambda c: f"138 {c // 10_000 % 10_000:04d} {c % 10_000:04d}"),
    "big5_email": (b"+852 9123 4567", lambda c: f"+852 9{c % 1000:03d} {c // 1000 % 10_000:04d}"),
    "html_only_email": (b"+86 139 1111 2222", lambda c: f"+86 139 {c // 10_000 % 10_000:04d} {c % 10_000:04d}"),
}


def _email(factory: Callable[[], bytes], domain: str) -> Callable[[str, int], tuple[str, bytes]]:
    raw = factory()
    phone = BODY_PHONES.get(factory.__name__)

    def make(run: str, i: int) -> tuple[str, bytes]:
        message_id = f"<bench-{run}-{i}@{domain}>"
        customer = int(i * CUSTOMERS_PER_COMPLAINT)
        mail = _swap_phone(raw, phone[0], phone[1](customer).encode()) if phone else raw
        fresh = _fresh_email(mail, message_id, f"customer{customer}@{domain}")
        return message_id, samples.envelope(Channel.email, message_id, raw_email=fresh, received_at=PLACEHOLDER)

    return make


def _json(
    channel: Channel, factory: Callable[[], dict[str, Any]], vary: Callable[[dict[str, Any], str, int, int], str]
) -> Callable[[str, int], tuple[str, bytes]]:
    base = factory()

    def make(run: str, i: int) -> tuple[str, bytes]:
        payload = dict(base)
        message_id = vary(payload, run, i, int(i * CUSTOMERS_PER_COMPLAINT))
        return message_id, samples.envelope(channel, message_id, payload=payload, received_at=PLACEHOLDER)

    return make


def _webform(payload: dict[str, Any], run: str, i: int, customer: int) -> str:
    payload["submission_id"] = f"bench-{run}-{i}"
    payload["phone"] = _mobile(customer) if payload.get("language") != "en" else f"+44 7911 {customer % 999_999:06d}"
    if payload.get("email"):
        payload["email"] = f"customer{customer}@example.co.uk"
    return str(payload["submission_id"])


def _hotline(payload: dict[str, Any], run: str, i: int, customer: int) -> str:
    payload["call_id"] = f"CALL-bench-{run}-{i}"
    payload["caller_number"] = _mobile(customer) if payload["language"] == "zh" else f"+1 415 823 {customer % 9999:04d}"
    return str(payload["call_id"])


def _social(payload: dict[str, Any], run: str, i: int, customer: int) -> str:
    payload["post_id"] = f"{run}{i:09d}"
    payload["author_handle"] = f"{payload['author_handle'].lstrip('@')}_{customer}"
    return social_message_id(payload["platform"], payload["post_id"])


# Four channels in equal parts; within a channel the samples take turns (Chinese and English, plain,
# HTML, multipart with an attachment, forwarded, mislabelled charsets; transcripts with several turns).
MIX: dict[Channel, list[Callable[[str, int], tuple[str, bytes]]]] = {
    Channel.email: [
        _email(samples.gbk_email, "163.example.cn"),
        _email(samples.html_only_email, "example.org"),
        _email(samples.big5_email, "example.com.hk"),
        _email(samples.multipart_with_attachment_email, "example.com"),
        _email(samples.mislabelled_utf8_email, "example.cn"),
        _email(samples.forwarded_email, "126.example.com"),
    ],
    Channel.webform: [
        _json(Channel.webform, samples.webform_payload_zh, _webform),
        _json(Channel.webform, samples.webform_payload_en, _webform),
    ],
    Channel.hotline: [
        _json(Channel.hotline, samples.hotline_payload_zh, _hotline),
        _json(Channel.hotline, samples.hotline_payload_en, _hotline),
    ],
    Channel.social: [
        _json(Channel.social, samples.social_payload_weibo, _social),
        _json(Channel.social, samples.social_payload_x, _social),
    ],
}
CHANNEL_ORDER = [Channel.webform, Channel.email, Channel.hotline, Channel.social]


def build_workload(count: int, run: str) -> list[BenchComplaint]:
    """``count`` new complaints of the realistic mix, in publishing order."""
    made = []
    for i in range(count):
        channel = CHANNEL_ORDER[i % len(CHANNEL_ORDER)]
        makers = MIX[channel]
        message_id, template = makers[(i // len(CHANNEL_ORDER)) % len(makers)](run, i)
        complaint_id = complaint_id_for(channel, message_id)
        made.append(
            BenchComplaint(
                index=i,
                channel=channel,
                key=message_id.encode(),
                template=template,
                complaint_id=complaint_id,
                ack_event_id=event_id_for(complaint_id, EventKind.acknowledged.value, "1"),
            )
        )
    return made


def mean_size(workload: list[BenchComplaint]) -> int:
    return int(sum(len(c.template) for c in workload) / max(1, len(workload)))
