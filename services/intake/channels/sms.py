"""Inbound SMS, a customer's text to the bank's number: an SMS gateway's webhook ``POST /api/v1/intake/sms``, keyed
by the gateway's message id. Usually a reply to one of our messages. Answered by SMS."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator

from domain import pii
from domain.amounts import extract_amount
from domain.message_ids import sms_message_id
from schemas import (
    ContactChannel,
    Customer,
    normalize_complaint_number,
    shipped_channel,
)
from services.intake.channels.base import (
    COMPLAINT_NUMBER_RE,
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
    satisfaction_score_of,
    validated_payload,
)
from services.intake.contacts import to_e164
from services.intake.forms import ID_PATTERN


class InboundSms(BaseModel):
    """An SMS a customer sent to the bank's number, as an SMS gateway's inbound (MO) webhook posts it.

    The field names of the common gateways are all accepted (``from``/``From``/``msisdn``/``phone_number``,
    ``text``/``Body``/``content``, ``message_id``/``MessageSid``/``sequence_id``, ``received_at``/``timestamp``/
    ``send_time``). Other fields a gateway adds (account ids, segment counts, signatures) are ignored: unlike the
    bank's own forms, the shape is the gateway's, not ours to police. A received time without a zone is the
    bank's local time; the accepting moment is used when none is given.
    """

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True, frozen=True)

    message_id: str = Field(
        pattern=ID_PATTERN,
        validation_alias=AliasChoices("message_id", "messageId", "id", "MessageSid", "SmsSid", "sequence_id"),
    )
    sender: str = Field(
        min_length=1,
        max_length=40,
        validation_alias=AliasChoices("sender", "from", "From", "msisdn", "phone_number", "mobile"),
    )
    text: str = Field(min_length=1, max_length=2000, validation_alias=AliasChoices("text", "Body", "body", "content"))
    received_at: datetime | None = Field(
        default=None, validation_alias=AliasChoices("received_at", "receivedAt", "timestamp", "send_time")
    )
    to: str | None = Field(default=None, max_length=40, validation_alias=AliasChoices("to", "To", "dest_code"))

    @field_validator("message_id", "sender", "to", mode="before")
    @classmethod
    def _as_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


def normalize(context: Context) -> NormalizeResult:
    """An inbound SMS: usually a reply to one of our messages (threaded by the worker onto the complaint it
    names, else onto the sender's open complaint), otherwise a new complaint by SMS."""
    sms = validated_payload(context, InboundSms, "inbound SMS")
    if isinstance(sms, Rejected):
        return sms
    text = clean(sms.text)
    if not text:
        return Rejected("empty complaint text", "empty_text")
    phone = to_e164(sms.sender)
    redacted_text, findings = pii.redact_with_findings(text)
    card_last4, account_last4 = last4_found(findings)
    customer = Customer(
        phone=phone,
        card_last4=card_last4,
        account_last4=account_last4,
        preferred_contact=ContactChannel.sms if phone else None,
    )
    sent_at = sms.received_at
    if sent_at is not None and sent_at.utcoffset() is None:
        sent_at = sent_at.replace(tzinfo=context.bank_zone)
    complaint = build_complaint(
        context,
        text=text,
        redacted_text=redacted_text,
        customer=customer,
        amount=extract_amount(text),
        flags=[],
        source_timezone=offset_name(sent_at),
    )
    number_match = COMPLAINT_NUMBER_RE.search(text)
    return Normalized(
        complaint=complaint,
        text_complaint_number=normalize_complaint_number(number_match.group(0)) if number_match else None,
        thread_by_sender=True,
        satisfaction_score=satisfaction_score_of(text),
    )


SPEC = ChannelSpec(
    info=shipped_channel("sms"),
    normalize=normalize,
    payload_model=InboundSms,
    message_id=lambda sms, _: sms_message_id(sms.message_id),
    http=HttpDoor("/api/v1/intake/sms", answer="message"),
)
