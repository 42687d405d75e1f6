"""What every intake channel module shares: the spec a channel registers, the three answers a normaliser gives,
and the pieces of the normalisation they all use (the context, building the ``Complaint``, contact and text
helpers).

A normalizer never raises. Whatever the bytes, the answer is one of:

* :class:`Normalized`: a complaint, with the threading hints of a follow-up (message ids it replies to,
  a complaint number in the subject, a satisfaction score);
* :class:`AutoReply`: an out-of-office answer, bounce or other machine mail, to be recorded, not handled;
* :class:`Rejected`: a reason for the dead-letter record, which names fields and rules but no personal data.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from functools import lru_cache
from typing import Any, Literal, Protocol, TypeVar
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ValidationError

from domain import pii
from schemas import (
    Attachment,
    Channel,
    ChannelInfo,
    Complaint,
    Customer,
    Language,
    Money,
    RawEnvelope,
    SourcePointer,
    complaint_id_for,
    complaint_number_for,
)
from services.intake.contacts import normalize_email_address, to_e164
from services.intake.forms import describe_validation_error
from services.intake.text import MAX_TEXT_CHARS, clean_text, detect_language

LOW_ASR_CONFIDENCE = 0.6
MAX_LISTED_ATTACHMENTS = 20
NO_CONTACT = "no_contact"  # flag: no phone, e-mail or social account to answer on
ATTACHMENT_ONLY = "attachment_only"  # flag: a mail without text; the complaint is in its attachments
_CJK_RE = re.compile(r"[\u3400-\u9fff]")

COMPLAINT_NUMBER_RE = re.compile(r"(?<![A-Za-z0-9])CF-\d{8}-[0-9A-Za-z]{6}(?![A-Za-z0-9])", re.I)
_SCORE_RE = re.compile(
    r"^(?:(?:满意度?|评分|打分|分数|score|rating)\s*[:：]?\s*)?([1-5一二三四五])\s*"
    r"(?:分|星|颗星|/\s*5|out of 5|stars?)?\s*[。.!！]?$",
    re.I,
)
_CN_SCORE = {"一": 1, "二": 2, "三": 3, "四": 4, "五": 5}
_CONTACT_PHONE_RE = re.compile(
    r"(?:电话|手机|手机号|联系方式|联系电话|電話|tel|phone|mobile|call me on|reach me on|reach me at)"
    r"[^\d+\n]{0,12}(\+?\d[\d ()\-]{6,20}\d)",
    re.I,
)


@dataclass(frozen=True)
class Normalized:
    """A complaint, possibly a reply to an earlier one."""

    complaint: Complaint
    reply_to_message_ids: tuple[str, ...] = ()  # In-Reply-To + References message ids (email)
    subject_complaint_number: str | None = None  # complaint number found in the SUBJECT only
    satisfaction_score: int | None = None  # reply whose new text is just a number 1..5
    text_complaint_number: str | None = None  # complaint number named in the text of an SMS
    thread_by_sender: bool = False  # an SMS: a reply to the sender's open complaint, if they have one
    # What proves who sent a mail (see services.intake.sender_auth): From, MAIL FROM, Authentication-Results.
    sender_address: str | None = None
    envelope_from: str | None = None
    authentication_results: tuple[str, ...] = ()


@dataclass(frozen=True)
class AutoReply:
    channel_ref: str
    reason: str
    sender_domain: str | None
    reply_to_message_ids: tuple[str, ...] = ()  # our notification it answers, when it says so


@dataclass(frozen=True)
class Rejected:
    reason: str  # readable, for the dead-letter record; no personal data
    error_type: str


NormalizeResult = Normalized | AutoReply | Rejected


@lru_cache(maxsize=16)
def zone(name: str) -> tzinfo:
    try:
        return ZoneInfo(name)
    except Exception:
        return timezone(timedelta(hours=8), "UTC+08:00")  # the bank's home zone when the name is unusable


def offset_name(moment: datetime | None) -> str | None:
    offset = moment.utcoffset() if moment is not None else None
    if offset is None:
        return None
    minutes = int(offset.total_seconds() // 60)
    return f"{'+' if minutes >= 0 else '-'}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


@dataclass(frozen=True)
class Context:
    envelope: RawEnvelope
    pointer: SourcePointer | None
    bank_zone: tzinfo
    low_confidence_threshold: float = LOW_ASR_CONFIDENCE

    @property
    def channel(self) -> Channel:
        return self.envelope.channel


def clean(text: str | None, max_chars: int = MAX_TEXT_CHARS) -> str:
    return clean_text(text or "", max_chars)


_Payload = TypeVar("_Payload", bound=BaseModel)


def validated_payload(context: Context, model: type[_Payload], what: str) -> _Payload | Rejected:
    """The envelope's JSON payload as ``model``, or a rejection naming the fields at fault (never their values)."""
    if context.envelope.payload is None:
        return Rejected(f"{context.envelope.channel.value} envelope has no payload", "invalid_payload")
    try:
        return model.model_validate(context.envelope.payload)
    except ValidationError as error:
        return Rejected(f"{what} rejected: {describe_validation_error(error)}", "validation_error")


def build_complaint(
    context: Context,
    *,
    text: str,
    redacted_text: str,
    language: Language | None = None,
    subject: str | None = None,
    customer: Customer,
    product: str | None = None,
    amount: Money | None = None,
    flags: list[str],
    source_timezone: str | None = None,
    **details: object,
) -> Complaint:
    envelope = context.envelope
    channel_ref = envelope.message_id
    complaint_id = complaint_id_for(envelope.channel, channel_ref)
    received_at = envelope.received_at.astimezone(UTC)
    if len(text) >= MAX_TEXT_CHARS:
        flags.append("text_truncated")
    if not has_usable_contact(customer):
        flags.append(NO_CONTACT)
    return Complaint(
        complaint_id=complaint_id,
        complaint_number=complaint_number_for(complaint_id, received_at.astimezone(context.bank_zone).date()),
        channel=envelope.channel,
        channel_ref=channel_ref,
        received_at=received_at,
        source_timezone=source_timezone,
        language=language or detect_language(text),
        subject=subject,
        redacted_subject=pii.redact(subject) if subject else None,
        text=text,
        redacted_text=redacted_text,
        customer=customer,
        product=product,
        amount=amount,
        flags=list(dict.fromkeys(flags)),
        raw=context.pointer,
        **details,  # type: ignore[arg-type]
    )


def has_usable_contact(customer: Customer) -> bool:
    """Whether any notification can reach the customer: a valid phone number, an e-mail address or a
    social account to message. Without one, the department must reach them another way."""
    return bool(
        to_e164(customer.phone)
        or normalize_email_address(customer.email)
        or (customer.social_platform and customer.social_handle)
    )


def _size_text(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KB"
    return f"{size / (1024 * 1024):.1f} MB"


def describe_attachments(attachments: list[Attachment], subject: str | None = None) -> str:
    """One line naming what a mail without text carried: names, types, sizes. Chinese when the subject or a
    file name is Chinese, else English."""
    items = [(a.filename or "-", a.content_type, _size_text(a.size)) for a in attachments[:MAX_LISTED_ATTACHMENTS]]
    more = len(attachments) - len(items)
    chinese = _CJK_RE.search(" ".join([subject or "", *(name for name, _, _ in items)])) is not None
    if chinese:
        listed = "；".join(f"{name}（{kind}，{size}）" for name, kind, size in items)
        tail = f"；另有 {more} 个附件" if more > 0 else ""
        return f"（邮件无正文，仅有附件）附件：{listed}{tail}"
    listed = "; ".join(f"{name} ({kind}, {size})" for name, kind, size in items)
    tail = f"; and {more} more" if more > 0 else ""
    return f"(No message text, attachments only) Attachments: {listed}{tail}"


def last4_found(findings: list[pii.Finding]) -> tuple[str | None, str | None]:
    """Card and account last four named in the text, so the department can find them."""
    card = next((f.last4 for f in findings if f.kind == "card"), None)
    account = next((f.last4 for f in findings if f.kind == "account"), None)
    return card, account


def phone_from_text(text: str) -> str | None:
    for match in _CONTACT_PHONE_RE.finditer(text[:MAX_TEXT_CHARS]):
        phone = to_e164(match.group(1))
        if phone:
            return phone
    return None


def satisfaction_score_of(new_text: str) -> int | None:
    """1..5 when a reply says nothing but a score: "5", "5分", "满意 5", "4/5", "五星"."""
    compact = " ".join(new_text.split())
    if not compact or len(compact) > 20:
        return None
    match = _SCORE_RE.match(compact)
    if not match:
        return None
    value = match.group(1)
    return _CN_SCORE.get(value) or int(value)


# --- the spec of a channel ------------------------------------------------------------------------


class Normalizer(Protocol):
    """Turns one envelope of the channel (in its context: source pointer, bank's zone, thresholds) into a
    complaint, an auto-reply or a rejection."""

    def __call__(self, context: Context) -> NormalizeResult: ...


@dataclass(frozen=True)
class HttpDoor:
    """The channel's HTTP entry point (``POST path``, JSON)."""

    path: str
    # "complaint": the answer carries the complaint number and status URL (a reused id with other content is
    # refused with 409). "message": the answer only says the message was accepted, because it may become a
    # follow-up of an existing complaint (an inbound SMS); form posts are taken too, as SMS gateways send them.
    answer: Literal["complaint", "message"] = "complaint"
    idempotency_header: bool = False  # the client's Idempotency-Key header is checked and handed to message_id


@dataclass(frozen=True)
class ChannelSpec:
    """Everything the intake knows about one channel; registered in ``services.intake.channels.CHANNELS``."""

    info: ChannelInfo  # the name and the default reply media: what the lower layers see (``schemas.channels``)
    normalize: Normalizer
    # The JSON payload's model, None when the payload is not JSON (e-mail carries RFC 5322 bytes).
    payload_model: type[BaseModel] | None = None
    # The raw message id (``domain.message_ids``) of a validated payload, given the client's Idempotency-Key.
    message_id: Callable[[Any, str | None], str] | None = None
    http: HttpDoor | None = None

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def channel(self) -> Channel:
        return Channel(self.info.name)
