"""The web form on the website and in the app: ``POST /api/v1/complaints``, keyed by its submission id or the
client's Idempotency-Key. Answered by e-mail, else SMS."""

from __future__ import annotations

import re
import uuid
from decimal import Decimal
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import Field, field_validator, model_validator

from domain import pii
from domain.amounts import extract_amount
from schemas import (
    ContactChannel,
    Customer,
    Language,
    Money,
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
    validated_payload,
)
from services.intake.contacts import normalize_email_address, to_e164
from services.intake.forms import ID_PATTERN, MAX_AMOUNT, Request, last4_field
from services.intake.text import neutralise_markup


class WebformSubmission(Request):
    """What the complaint form on the website and in the app posts."""

    submission_id: str | None = Field(default=None, pattern=ID_PATTERN, description="Client idempotency key")
    name: str = Field(min_length=1, max_length=100)
    phone: str | None = Field(default=None, max_length=40, description="Normalised to E.164 (default region CN)")
    email: str | None = Field(default=None, max_length=254)
    customer_id: str | None = Field(default=None, max_length=64, pattern=r"^[A-Za-z0-9_\-]+$")
    card_last4: str | None = None
    account_last4: str | None = None
    product: str | None = Field(default=None, max_length=200)
    subject: str | None = Field(default=None, max_length=200)
    description: str = Field(min_length=10, max_length=5000)
    amount: Decimal | None = Field(default=None, ge=0, le=MAX_AMOUNT, decimal_places=2)
    currency: str = Field(default="CNY", min_length=3, max_length=3)
    preferred_contact: Literal["email", "sms", "phone"] | None = None
    language: Literal["zh", "en"] | None = None
    timezone: str | None = Field(default=None, max_length=64, description="IANA name, e.g. Asia/Shanghai")
    consent: bool

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        if not value:
            return None
        e164 = to_e164(value, "CN")
        if e164 is None:
            raise ValueError("is not a valid phone number (a mainland mobile such as 13812345678, or +country code)")
        return e164

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if not value:
            return None
        address = normalize_email_address(value)
        if address is None:
            raise ValueError("is not a valid e-mail address")
        return address

    @field_validator("card_last4", mode="before")
    @classmethod
    def _card_last4(cls, value: Any) -> str | None:
        return last4_field(value, "card")

    @field_validator("account_last4", mode="before")
    @classmethod
    def _account_last4(cls, value: Any) -> str | None:
        return last4_field(value, "account")

    @field_validator("currency", mode="before")
    @classmethod
    def _currency(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.strip().upper()
            value = {"RMB": "CNY", "元": "CNY", "人民币": "CNY", "$": "USD", "US$": "USD"}.get(value, value)
            if not re.fullmatch(r"[A-Z]{3}", value):
                raise ValueError("must be a 3-letter ISO 4217 code such as CNY or USD")
        return value

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str | None) -> str | None:
        if not value:
            return None
        try:
            ZoneInfo(value)
        except Exception:
            raise ValueError("is not a known IANA time zone such as Asia/Shanghai") from None
        return value

    @field_validator("consent")
    @classmethod
    def _consent(cls, value: bool) -> bool:
        if value is not True:
            raise ValueError("must be true: we need consent to process the personal data in a complaint")
        return value

    @model_validator(mode="after")
    def _reachable(self) -> WebformSubmission:
        if not self.phone and not self.email:
            raise ValueError("give a phone number or an e-mail address so we can reply")
        if self.preferred_contact == "email" and not self.email:
            raise ValueError("preferred_contact is email but no e-mail address was given")
        if self.preferred_contact in ("sms", "phone") and not self.phone:
            raise ValueError(f"preferred_contact is {self.preferred_contact} but no phone number was given")
        return self


def normalize(context: Context) -> NormalizeResult:
    form = validated_payload(context, WebformSubmission, "webform payload")
    if isinstance(form, Rejected):
        return form
    description = neutralise_markup(form.description)
    text = clean(description)
    if not text:
        return Rejected("empty complaint text", "empty_text")
    redacted_text, findings = pii.redact_with_findings(text)
    card_last4, account_last4 = last4_found(findings)
    customer = Customer(
        name=clean(neutralise_markup(form.name), 100) or None,
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
    complaint = build_complaint(
        context,
        text=text,
        redacted_text=redacted_text,
        language=Language(form.language) if form.language else None,
        subject=clean(neutralise_markup(form.subject or ""), 200) or None,
        customer=customer,
        product=clean(neutralise_markup(form.product or ""), 200) or None,
        amount=amount,
        flags=flags,
        source_timezone=form.timezone,
    )
    return Normalized(complaint=complaint)


def message_id(form: WebformSubmission, idempotency_key: str | None) -> str:
    return form.submission_id or idempotency_key or f"web-{uuid.uuid4()}"


SPEC = ChannelSpec(
    info=shipped_channel("webform"),
    normalize=normalize,
    payload_model=WebformSubmission,
    message_id=message_id,
    http=HttpDoor("/api/v1/complaints", idempotency_header=True),
)
