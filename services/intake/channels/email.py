"""The e-mail channel: RFC 5322 mail from the SMTP intake, a mail import or a Kafka adapter, keyed by its
Message-ID (``services.intake.envelopes.email_message_id``); no HTTP door. Answered by e-mail."""

from __future__ import annotations

import base64
import binascii

from domain import pii
from domain.amounts import extract_amount
from schemas import (
    ContactChannel,
    Customer,
    EmailDetails,
    normalize_complaint_number,
    shipped_channel,
)
from services.intake.channels.base import (
    ATTACHMENT_ONLY,
    COMPLAINT_NUMBER_RE,
    AutoReply,
    ChannelSpec,
    Context,
    Normalized,
    NormalizeResult,
    Rejected,
    build_complaint,
    clean,
    describe_attachments,
    last4_found,
    phone_from_text,
    satisfaction_score_of,
)
from services.intake.contacts import normalize_email_address
from services.intake.email_parser import parse_email, strip_subject_prefixes

MAX_EMAIL_BYTES = 25 * 1024 * 1024


def normalize(context: Context) -> NormalizeResult:
    envelope = context.envelope
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
    attachment_only = not clean(parsed.text) and bool(parsed.attachments)
    if attachment_only:
        # The complaint is in the attachments (a scanned letter, a photo): say what came, so it is answered
        # and the department knows to open them.
        text = clean(
            f"{clean(strip_subject_prefixes(subject or ''))}\n{describe_attachments(parsed.attachments, subject)}"
        )
    else:
        text = clean(parsed.text) or clean(strip_subject_prefixes(subject or ""))
    if not text:
        return Rejected("empty complaint text", "empty_text")
    email = normalize_email_address(parsed.from_address) or normalize_email_address(envelope.envelope_from)
    redacted_text, findings = pii.redact_with_findings(text)
    card_last4, account_last4 = last4_found(findings)
    customer = Customer(
        name=clean(parsed.from_name, 100) or None,
        email=email,
        phone=phone_from_text(text),
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
    complaint = build_complaint(
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
    number_match = COMPLAINT_NUMBER_RE.search(subject or "")
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


SPEC = ChannelSpec(info=shipped_channel("email"), normalize=normalize)
