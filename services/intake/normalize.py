"""Entry point of the intake workers: one raw envelope in, one normalised complaint (or why not) out.

``normalize`` never raises. Whatever the bytes, the answer is one of:

* :class:`Normalized`: a complaint, with the threading hints of a follow-up (message ids it replies to,
  a complaint number in the subject, a satisfaction score);
* :class:`AutoReply`: an out-of-office answer, bounce or other machine mail, to be recorded, not handled;
* :class:`Rejected`: a reason for the dead-letter record, which names fields and rules but no personal data.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from decimal import Decimal
from functools import lru_cache
from typing import TypeVar
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ValidationError

from domain import pii
from domain.amounts import extract_amount
from schemas import (
    Attachment,
    Channel,
    Complaint,
    ContactChannel,
    Customer,
    EmailDetails,
    HotlineDetails,
    Language,
    Money,
    RawEnvelope,
    SocialDetails,
    SourcePointer,
    complaint_id_for,
    complaint_number_for,
    normalize_complaint_number,
)
from services.intake.contacts import normalize_email_address, to_e164
from services.intake.email_parser import parse_email, strip_subject_prefixes
from services.intake.forms import (
    HotlineTranscript,
    InboundSms,
    SocialPost,
    WebformSubmission,
    describe_validation_error,
)
from services.intake.text import MAX_TEXT_CHARS, clean_text, detect_language, neutralise_markup

MAX_ENVELOPE_BYTES = 40 * 1024 * 1024  # base64 of the largest mail the SMTP intake accepts, plus room
MAX_EMAIL_BYTES = 25 * 1024 * 1024
LOW_ASR_CONFIDENCE = 0.6
MAX_LISTED_ATTACHMENTS = 20
NO_CONTACT = "no_contact"  # flag: no phone, e-mail or social account to answer on
ATTACHMENT_ONLY = "attachment_only"  # flag: a mail without text; the complaint is in its attachments
_CJK_RE = re.compile(r"[\u3400-\u9fff]")

_COMPLAINT_NUMBER_RE = re.compile(r"(?<![A-Za-z0-9])CF-\d{8}-[0-9A-Za-z]{6}(?![A-Za-z0-9])", re.I)
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
def _zone(name: str) -> tzinfo:
    try:
        return ZoneInfo(name)
    except Exception:
        return timezone(timedelta(hours=8), "UTC+08:00")  # the bank's home zone when the name is unusable


def _offset_name(moment: datetime | None) -> str | None:
    offset = moment.utcoffset() if moment is not None else None
    if offset is None:
        return None
    minutes = int(offset.total_seconds() // 60)
    return f"{'+' if minutes >= 0 else '-'}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


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
        handler = {
            Channel.email: normalize_email,
            Channel.webform: normalize_webform,
            Channel.hotline: normalize_hotline,
            Channel.social: normalize_social,
            Channel.sms: normalize_sms,
        }[envelope.channel]
        return handler(
            envelope, pointer, bank_timezone=bank_timezone, low_confidence_threshold=low_confidence_threshold
        )
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


@dataclass(frozen=True)
class _Context:
    envelope: RawEnvelope
    pointer: SourcePointer | None
    bank_zone: tzinfo
    low_confidence_threshold: float = LOW_ASR_CONFIDENCE

    @property
    def channel(self) -> Channel:
        return self.envelope.channel


def _clean(text: str | None, max_chars: int = MAX_TEXT_CHARS) -> str:
    return clean_text(text or "", max_chars)


_Payload = TypeVar("_Payload", bound=BaseModel)


def _validated_payload(context: _Context, model: type[_Payload], what: str) -> _Payload | Rejected:
    """The envelope's JSON payload as ``model``, or a rejection naming the fields at fault (never their values)."""
    if context.envelope.payload is None:
        return Rejected(f"{context.envelope.channel.value} envelope has no payload", "invalid_payload")
    try:
        return model.model_validate(context.envelope.payload)
    except ValidationError as error:
        return Rejected(f"{what} rejected: {describe_validation_error(error)}", "validation_error")


def _build(
    context: _Context,
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


def _last4_found(findings: list[pii.Finding]) -> tuple[str | None, str | None]:
    """Card and account last four named in the text, so the department can find them."""
    card = next((f.last4 for f in findings if f.kind == "card"), None)
    account = next((f.last4 for f in findings if f.kind == "account"), None)
    return card, account


def _phone_from_text(text: str) -> str | None:
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


# --- channels -------------------------------------------------------------------------------------


def normalize_email(
    envelope: RawEnvelope,
    pointer: SourcePointer | None = None,
    *,
    bank_timezone: str = "Asia/Shanghai",
    low_confidence_threshold: float = LOW_ASR_CONFIDENCE,
) -> NormalizeResult:
    context = _Context(envelope, pointer, _zone(bank_timezone), low_confidence_threshold)
    if not envelope.payload_base64:
        return Rejected("email envelope has no payload_base64", "invalid_payload")
    if len(envelope.payload_base64) > MAX_EMAIL_BYTES * 4 // 3 + 4096:
        return Rejected(f"email larger than {MAX_EMAIL_BYTES} bytes", "too_large")
    try:
        raw = base64.b64decode(envelope.payload_base64)
    except (binascii.Error, ValueError):
        return Rejected("payload_base64 is not valid base64", "invalid_payload")
    parsed = parse_email(raw, envelope.received_at)
    sender = parsed.from_address or envelope.envelope_from
    reply_ids = tuple(dict.fromkeys([*([parsed.in_reply_to] if parsed.in_reply_to else []), *parsed.references]))
    if parsed.auto_reply:
        domain = sender.rsplit("@", 1)[1].lower()[:253] if sender and "@" in sender else None
        return AutoReply(
            channel_ref=envelope.message_id,
            reason=parsed.auto_reply,
            sender_domain=domain,
            reply_to_message_ids=reply_ids,
        )

    subject = parsed.subject
    attachment_only = not _clean(parsed.text) and bool(parsed.attachments)
    if attachment_only:
        # The complaint is in the attachments (a scanned letter, a photo): say what came, so it is answered
        # and the department knows to open them.
        text = _clean(
            f"{_clean(strip_subject_prefixes(subject or ''))}\n{describe_attachments(parsed.attachments, subject)}"
        )
    else:
        text = _clean(parsed.text) or _clean(strip_subject_prefixes(subject or ""))
    if not text:
        return Rejected("empty complaint text", "empty_text")
    email = normalize_email_address(parsed.from_address) or normalize_email_address(envelope.envelope_from)
    redacted_text, findings = pii.redact_with_findings(text)
    card_last4, account_last4 = _last4_found(findings)
    customer = Customer(
        name=_clean(parsed.from_name, 100) or None,
        email=email,
        phone=_phone_from_text(text),
        card_last4=card_last4,
        account_last4=account_last4,
        preferred_contact=ContactChannel.email if email else None,
    )
    flags = [
        flag
        for flag, present in (
            ("forwarded", parsed.forwarded),
            ("html_only", parsed.html_only),
            ("charset_mismatch", parsed.charset_mismatch),
            ("text_truncated", parsed.truncated),
            ("has_attachments", bool(parsed.attachments)),
            (ATTACHMENT_ONLY, attachment_only),
        )
        if present
    ]
    complaint = _build(
        context,
        text=text,
        redacted_text=redacted_text,
        subject=subject,
        customer=customer,
        amount=None if attachment_only else extract_amount(f"{subject or ''}\n{text}"),
        flags=flags,
        source_timezone=parsed.utc_offset,
        attachments=parsed.attachments,
        email=EmailDetails(
            message_id=parsed.message_id or envelope.message_id,
            in_reply_to=parsed.in_reply_to,
            references=parsed.references,
            forwarded=parsed.forwarded,
        ),
    )
    number_match = _COMPLAINT_NUMBER_RE.search(subject or "")
    subject_number = normalize_complaint_number(number_match.group(0)) if number_match else None
    is_reply = bool(reply_ids or subject_number)
    return Normalized(
        complaint=complaint,
        reply_to_message_ids=reply_ids,
        subject_complaint_number=subject_number,
        satisfaction_score=satisfaction_score_of(parsed.new_text) if is_reply else None,
        sender_address=parsed.from_address or envelope.envelope_from,
        envelope_from=envelope.envelope_from,
        authentication_results=tuple(parsed.authentication_results),
    )


def normalize_webform(
    envelope: RawEnvelope,
    pointer: SourcePointer | None = None,
    *,
    bank_timezone: str = "Asia/Shanghai",
    low_confidence_threshold: float = LOW_ASR_CONFIDENCE,
) -> NormalizeResult:
    context = _Context(envelope, pointer, _zone(bank_timezone), low_confidence_threshold)
    form = _validated_payload(context, WebformSubmission, "webform payload")
    if isinstance(form, Rejected):
        return form
    description = neutralise_markup(form.description)
    text = _clean(description)
    if not text:
        return Rejected("empty complaint text", "empty_text")
    redacted_text, findings = pii.redact_with_findings(text)
    card_last4, account_last4 = _last4_found(findings)
    customer = Customer(
        name=_clean(neutralise_markup(form.name), 100) or None,
        phone=form.phone,
        email=form.email,
        customer_id=form.customer_id,
        card_last4=form.card_last4 or card_last4,
        account_last4=form.account_last4 or account_last4,
        preferred_contact=ContactChannel(form.preferred_contact or ("email" if form.email else "sms")),
        timezone=form.timezone,
    )
    amount = (
        Money(amount=form.amount.quantize(Decimal("0.01")), currency=form.currency)
        if form.amount is not None
        else extract_amount(text)
    )
    flags = ["markup_removed"] if description != form.description else []
    complaint = _build(
        context,
        text=text,
        redacted_text=redacted_text,
        language=Language(form.language) if form.language else None,
        subject=_clean(neutralise_markup(form.subject or ""), 200) or None,
        customer=customer,
        product=_clean(neutralise_markup(form.product or ""), 200) or None,
        amount=amount,
        flags=flags,
        source_timezone=form.timezone,
    )
    return Normalized(complaint=complaint)


def normalize_hotline(
    envelope: RawEnvelope,
    pointer: SourcePointer | None = None,
    *,
    bank_timezone: str = "Asia/Shanghai",
    low_confidence_threshold: float = LOW_ASR_CONFIDENCE,
) -> NormalizeResult:
    context = _Context(envelope, pointer, _zone(bank_timezone), low_confidence_threshold)
    call = _validated_payload(context, HotlineTranscript, "hotline transcript")
    if isinstance(call, Rejected):
        return call
    customer_turns = [turn for turn in call.turns if turn.speaker == "customer"]
    text = _clean("\n".join(_clean(turn.text, 5000) for turn in customer_turns if turn.text))
    if not text:
        return Rejected("empty complaint text", "empty_text")
    confidences = [turn.confidence for turn in customer_turns if turn.confidence is not None]
    mean_confidence = round(sum(confidences) / len(confidences), 3) if confidences else None
    low_confidence = mean_confidence is not None and mean_confidence < context.low_confidence_threshold
    phone = to_e164(call.caller_number)
    redacted_text, findings = pii.redact_with_findings(text)
    card_last4, account_last4 = _last4_found(findings)
    customer = Customer(
        name=_clean(call.customer_name, 100) or None,
        phone=phone,
        customer_id=call.customer_id,
        card_last4=card_last4,
        account_last4=account_last4,
        preferred_contact=ContactChannel.sms if phone else None,
    )
    summary = _clean(call.agent_summary, 5000) or None
    complaint = _build(
        context,
        text=text,
        redacted_text=redacted_text,
        language=Language(call.language) if call.language else None,
        customer=customer,
        amount=extract_amount(text) or (extract_amount(summary) if summary else None),
        flags=["low_asr_confidence"] if low_confidence else [],
        source_timezone=_offset_name(call.started_at),
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


def normalize_social(
    envelope: RawEnvelope,
    pointer: SourcePointer | None = None,
    *,
    bank_timezone: str = "Asia/Shanghai",
    low_confidence_threshold: float = LOW_ASR_CONFIDENCE,
) -> NormalizeResult:
    context = _Context(envelope, pointer, _zone(bank_timezone), low_confidence_threshold)
    post = _validated_payload(context, SocialPost, "social post")
    if isinstance(post, Rejected):
        return post
    text = _clean(neutralise_markup(post.text))
    if not text:
        return Rejected("empty complaint text", "empty_text")
    redacted_text = pii.redact(text)
    customer = Customer(
        name=_clean(neutralise_markup(post.author_display_name or ""), 100) or None,
        social_platform=post.platform,
        social_handle=post.author_handle,
        preferred_contact=ContactChannel.social,
    )
    complaint = _build(
        context,
        text=text,
        redacted_text=redacted_text,
        customer=customer,
        amount=extract_amount(text),
        # Not public is private: a message sent with is_public false is a direct message, answered privately.
        flags=["public_post"] if post.public else ["direct_message"],
        source_timezone=_offset_name(post.created_at),
        social=SocialDetails(
            platform=post.platform,
            post_id=post.post_id,
            url=post.url,
            public=post.public,
            followers=post.follower_count,
            reposts=post.repost_count,
            likes=post.like_count,
        ),
    )
    return Normalized(complaint=complaint)


def normalize_sms(
    envelope: RawEnvelope,
    pointer: SourcePointer | None = None,
    *,
    bank_timezone: str = "Asia/Shanghai",
    low_confidence_threshold: float = LOW_ASR_CONFIDENCE,
) -> NormalizeResult:
    """An inbound SMS: usually a reply to one of our messages (threaded by the worker onto the complaint it
    names, else onto the sender's open complaint), otherwise a new complaint by SMS."""
    context = _Context(envelope, pointer, _zone(bank_timezone), low_confidence_threshold)
    sms = _validated_payload(context, InboundSms, "inbound SMS")
    if isinstance(sms, Rejected):
        return sms
    text = _clean(sms.text)
    if not text:
        return Rejected("empty complaint text", "empty_text")
    phone = to_e164(sms.sender)
    redacted_text, findings = pii.redact_with_findings(text)
    card_last4, account_last4 = _last4_found(findings)
    customer = Customer(
        phone=phone,
        card_last4=card_last4,
        account_last4=account_last4,
        preferred_contact=ContactChannel.sms if phone else None,
    )
    sent_at = sms.received_at
    if sent_at is not None and sent_at.utcoffset() is None:
        sent_at = sent_at.replace(tzinfo=context.bank_zone)
    complaint = _build(
        context,
        text=text,
        redacted_text=redacted_text,
        customer=customer,
        amount=extract_amount(text),
        flags=[],
        source_timezone=_offset_name(sent_at),
    )
    number_match = _COMPLAINT_NUMBER_RE.search(text)
    return Normalized(
        complaint=complaint,
        text_complaint_number=normalize_complaint_number(number_match.group(0)) if number_match else None,
        thread_by_sender=True,
        satisfaction_score=satisfaction_score_of(text),
    )
