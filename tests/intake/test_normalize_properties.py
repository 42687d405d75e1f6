"""Whatever the bytes, normalize() answers with a NormalizeResult and never raises."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.pii import redact
from schemas import Channel, Complaint
from services.intake import samples
from services.intake.channels.base import AutoReply, Normalized, Rejected
from services.intake.email_parser import parse_email
from services.intake.normalize import normalize
from services.intake.text import clean_text, detect_language, neutralise_markup

FAST = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
RESULT_TYPES = (Normalized, AutoReply, Rejected)

SAMPLE_ENVELOPES = list(samples.sample_envelopes().values())
SAMPLE_EMAILS = list(samples.sample_emails().values())
SAMPLE_PAYLOADS: dict[Channel, list[dict[str, Any]]] = {
    Channel.webform: [samples.webform_payload_en(), samples.webform_payload_zh()],
    Channel.hotline: [samples.hotline_payload_zh(), samples.hotline_payload_en()],
    Channel.social: [samples.social_payload_weibo(), samples.social_payload_x()],
}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=12), children, max_size=5),
    max_leaves=25,
)


def _check(result: object) -> None:
    assert isinstance(result, RESULT_TYPES)
    if isinstance(result, Normalized):
        assert isinstance(result.complaint, Complaint)
        assert result.complaint.text.strip()
        Complaint.model_validate_json(result.complaint.model_dump_json())  # publishable as is
    if isinstance(result, Rejected):
        assert result.reason and result.error_type


@FAST
@given(st.binary(max_size=2000))
def test_random_bytes(value: bytes) -> None:
    _check(normalize(value))


@FAST
@given(json_values)
def test_random_json(value: object) -> None:
    _check(normalize(json.dumps(value).encode()))


@FAST
@given(st.sampled_from(SAMPLE_ENVELOPES), st.data())
def test_truncated_envelopes(envelope: bytes, data: st.DataObject) -> None:
    cut = data.draw(st.integers(min_value=0, max_value=len(envelope)))
    _check(normalize(envelope[:cut]))


@FAST
@given(st.sampled_from(SAMPLE_EMAILS), st.data())
def test_truncated_and_corrupted_emails(raw: bytes, data: st.DataObject) -> None:
    cut = data.draw(st.integers(min_value=0, max_value=len(raw)))
    noise = data.draw(st.binary(max_size=50))
    position = data.draw(st.integers(min_value=0, max_value=cut))
    mangled = raw[:position] + noise + raw[position:cut]
    _check(normalize(samples.envelope(Channel.email, "<fuzz@x>", raw_email=mangled)))
    assert isinstance(parse_email(mangled).text, str)


@FAST
@given(st.sampled_from(list(SAMPLE_PAYLOADS)), st.data())
def test_json_channels_with_fields_replaced_or_dropped(channel: Channel, data: st.DataObject) -> None:
    payload = dict(data.draw(st.sampled_from(SAMPLE_PAYLOADS[channel])))
    key = data.draw(st.sampled_from(sorted(payload)))
    if data.draw(st.booleans()):
        payload.pop(key)
    else:
        payload[key] = data.draw(json_values)
    value = samples.envelope(channel, "fuzz-1", payload=payload, received_at=datetime(2026, 1, 1, tzinfo=UTC))
    _check(normalize(value))


@FAST
@given(st.text(max_size=300))
def test_email_bodies_of_any_text(body: str) -> None:
    raw = b"From: a@example.com\r\nMessage-ID: <p@x>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
    raw += body.encode("utf-8", "surrogatepass")
    value = json.dumps(
        {
            "channel": "email",
            "message_id": "<p@x>",
            "received_at": "2026-11-22T02:30:00Z",
            "source": "smtp",
            "payload_base64": base64.b64encode(raw).decode(),
        }
    ).encode()
    _check(normalize(value))


@FAST
@given(st.text(max_size=500))
def test_text_helpers_are_total(text: str) -> None:
    assert isinstance(clean_text(text), str)
    assert isinstance(neutralise_markup(text), str)
    assert isinstance(redact(text), str)
    detect_language(text)
    assert "<script" not in neutralise_markup(f"<script>{text}</script>").lower() or "<script" in text.lower()
