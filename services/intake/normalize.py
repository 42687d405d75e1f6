"""Entry point of the intake workers: one raw envelope in, one normalised complaint (or why not) out, through the
channel's normaliser (``services.intake.channels``). ``normalize`` never raises."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pydantic import ValidationError

from schemas import Channel, RawEnvelope, SourcePointer
from services.intake.channels import CHANNELS
from services.intake.channels.base import LOW_ASR_CONFIDENCE, Context, NormalizeResult, Rejected, zone
from services.intake.forms import describe_validation_error

MAX_ENVELOPE_BYTES = 40 * 1024 * 1024  # base64 of the largest mail the SMTP intake accepts, plus room


def normalize(
    raw_value: bytes,
    pointer: SourcePointer | None = None,
    *,
    bank_timezone: str = "Asia/Shanghai",
    low_confidence_threshold: float = LOW_ASR_CONFIDENCE,
    expected_channel: Channel | None = None,
    now: datetime | None = None,
) -> NormalizeResult:
    """Decode a ``complaints.raw.<channel>`` value and normalise it. Never raises.

    ``expected_channel``: the channel of the raw topic the value was read from; an envelope of another channel is
    refused. ``now``: the reader's clock; an envelope received later than ``now`` plus a day is refused (without
    it, only times that leave the calendar's range in the bank's zone are).
    """
    if not isinstance(raw_value, bytes | bytearray | memoryview | str):
        return Rejected("message value is not bytes", "invalid_envelope")
    if len(raw_value) > MAX_ENVELOPE_BYTES:
        return Rejected(f"envelope larger than {MAX_ENVELOPE_BYTES} bytes", "too_large")
    try:
        envelope = RawEnvelope.model_validate_json(bytes(raw_value) if not isinstance(raw_value, str) else raw_value)
    except ValidationError as error:
        if any(item.get("type") == "json_invalid" for item in error.errors(include_input=False)):
            return Rejected("envelope is not valid JSON", "invalid_json")
        return Rejected(f"envelope does not match RawEnvelope: {describe_validation_error(error)}", "invalid_envelope")
    except Exception as error:
        return Rejected(f"envelope could not be read ({type(error).__name__})", "invalid_envelope")
    if expected_channel is not None and envelope.channel != expected_channel:
        return Rejected(
            f"a {envelope.channel.value} envelope on the {expected_channel.value} raw topic: each channel's "
            f"envelopes belong on their own topic",
            "wrong_channel",
        )
    problem = received_at_problem(envelope.received_at, now)
    if problem:
        return Rejected(problem, "validation_error")
    try:
        spec = CHANNELS.get(envelope.channel.value)
        if spec is None:
            return Rejected(f"no intake for the {envelope.channel.value} channel on this worker", "invalid_envelope")
        return spec.normalize(Context(envelope, pointer, zone(bank_timezone), low_confidence_threshold))
    except Exception as error:  # a bug here must dead-letter one message, not stop the worker
        return Rejected(f"unexpected {type(error).__name__} while normalising {envelope.channel}", "internal_error")


EARLIEST_RECEIVED_AT = datetime(1970, 1, 1, tzinfo=UTC)
LATEST_RECEIVED_AT = datetime(9000, 1, 1, tzinfo=UTC)  # far from the calendar's end, where deadlines overflow
MAX_CLOCK_AHEAD = timedelta(days=1)  # a sender's clock may run ahead; a received time further ahead is wrong


def received_at_problem(received_at: datetime, now: datetime | None = None) -> str | None:
    """Why an envelope's ``received_at`` cannot be taken (a clear refusal instead of an overflow later on)."""
    if received_at < EARLIEST_RECEIVED_AT:
        return f"received_at {received_at.isoformat()} is before {EARLIEST_RECEIVED_AT.year}"
    if received_at >= LATEST_RECEIVED_AT or (now is not None and received_at > now + MAX_CLOCK_AHEAD):
        return f"received_at {received_at.isoformat()} is in the future"
    return None
