"""Hotline calls after speech recognition: ``POST /api/v1/intake/hotline``, keyed by the call id. Answered by SMS."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, Field, field_validator, model_validator

from domain import pii
from domain.amounts import extract_amount
from schemas import (
    ContactChannel,
    Customer,
    HotlineDetails,
    Language,
    shipped_channel,
)
from services.intake.channels.base import (
    ChannelSpec,
    Context,
    HttpDoor,
    Normalized,
    NormalizeResult,
    Rejected,
    build_complaint,
    clean,
    last4_found,
    offset_name,
    validated_payload,
)
from services.intake.contacts import to_e164
from services.intake.forms import ID_PATTERN, Request, plausible_time

_TIMESTAMP_RE = re.compile(r"^(?:(\d{1,2}):)?(\d{1,2}):(\d{1,2}(?:\.\d+)?)$")


def _seconds(value: Any) -> Any:
    """Accept 12.5, "12.5", "01:02" (mm:ss) or "00:01:02.5" (hh:mm:ss) for turn offsets."""
    if isinstance(value, str):
        match = _TIMESTAMP_RE.match(value.strip())
        if match:
            hours, minutes, seconds = match.groups()
            return int(hours or 0) * 3600 + int(minutes) * 60 + float(seconds)
    return value


_SPEAKERS = {
    "customer": "customer", "caller": "customer", "client": "customer",
    "客户": "customer", "来电人": "customer",
    "agent": "agent", "staff": "agent", "operator": "agent", "坐席": "agent", "客服": "agent",
}  # fmt: skip


class TranscriptTurn(Request):
    speaker: Literal["customer", "agent"]
    text: str = Field(default="", max_length=5000)
    start_s: Annotated[float, Field(ge=0, le=86_400)] | None = None
    end_s: Annotated[float, Field(ge=0, le=86_400)] | None = None
    at: AwareDatetime | None = Field(default=None, description="Absolute time of the turn, when offsets are absent")
    confidence: float | None = Field(default=None, ge=0, le=1, description="ASR confidence")

    @field_validator("speaker", mode="before")
    @classmethod
    def _speaker(cls, value: Any) -> Any:
        if isinstance(value, str):
            return _SPEAKERS.get(value.strip().lower(), value)
        return value

    @field_validator("at")
    @classmethod
    def _at(cls, value: datetime | None) -> datetime | None:
        return plausible_time(value)

    @field_validator("start_s", "end_s", mode="before")
    @classmethod
    def _offset(cls, value: Any) -> Any:
        return _seconds(value)

    @model_validator(mode="after")
    def _ordered(self) -> TranscriptTurn:
        if self.start_s is not None and self.end_s is not None and self.end_s < self.start_s:
            raise ValueError("end_s is before start_s")
        return self


class HotlineTranscript(Request):
    """A hotline call after speech recognition, as the contact-centre system exports it."""

    call_id: str = Field(pattern=ID_PATTERN)
    caller_number: str | None = Field(default=None, max_length=40, description="None or withheld for hidden ids")
    agent_id: str | None = Field(default=None, max_length=64)
    started_at: AwareDatetime
    duration_s: float | None = Field(default=None, ge=0, le=86_400)
    turns: list[TranscriptTurn] = Field(min_length=1, max_length=2000)
    agent_summary: str | None = Field(default=None, max_length=5000)
    disposition: str | None = Field(default=None, max_length=100)
    language: Literal["zh", "en"] | None = None
    customer_name: str | None = Field(default=None, max_length=100)
    customer_id: str | None = Field(default=None, max_length=64, pattern=r"^[A-Za-z0-9_\-]+$")

    @field_validator("started_at")
    @classmethod
    def _started_at(cls, value: datetime) -> datetime | None:
        return plausible_time(value)


def normalize(context: Context) -> NormalizeResult:
    call = validated_payload(context, HotlineTranscript, "hotline transcript")
    if isinstance(call, Rejected):
        return call
    customer_turns = [turn for turn in call.turns if turn.speaker == "customer"]
    text = clean("\n".join(clean(turn.text, 5000) for turn in customer_turns if turn.text))
    if not text:
        return Rejected("empty complaint text", "empty_text")
    confidences = [turn.confidence for turn in customer_turns if turn.confidence is not None]
    mean_confidence = round(sum(confidences) / len(confidences), 3) if confidences else None
    low_confidence = mean_confidence is not None and mean_confidence < context.low_confidence_threshold
    phone = to_e164(call.caller_number)
    redacted_text, findings = pii.redact_with_findings(text)
    card_last4, account_last4 = last4_found(findings)
    customer = Customer(
        name=clean(call.customer_name, 100) or None,
        phone=phone,
        customer_id=call.customer_id,
        card_last4=card_last4,
        account_last4=account_last4,
        preferred_contact=ContactChannel.sms if phone else None,
    )
    summary = clean(call.agent_summary, 5000) or None
    complaint = build_complaint(
        context,
        text=text,
        redacted_text=redacted_text,
        language=Language(call.language) if call.language else None,
        customer=customer,
        amount=extract_amount(text) or (extract_amount(summary) if summary else None),
        flags=["low_asr_confidence"] if low_confidence else [],
        source_timezone=offset_name(call.started_at),
        hotline=HotlineDetails(
            call_id=call.call_id,
            agent_id=call.agent_id,
            started_at=call.started_at,
            duration_s=call.duration_s,
            agent_summary=summary,
            disposition=call.disposition,
            asr_confidence=mean_confidence,
            low_confidence=low_confidence,
        ),
    )
    return Normalized(complaint=complaint)


SPEC = ChannelSpec(
    info=shipped_channel("hotline"),
    normalize=normalize,
    payload_model=HotlineTranscript,
    message_id=lambda call, _: call.call_id,
    http=HttpDoor("/api/v1/intake/hotline"),
)
