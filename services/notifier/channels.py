"""Which channel(s) a customer hears from us on, and whether the message may wait for morning."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

import phonenumbers

from schemas import (
    CUSTOMER_FACING_EVENTS,
    ComplaintEvent,
    ContactChannel,
    Customer,
    EventKind,
    Severity,
    channel_info,
)

DeliveryChannel = Literal["email", "sms", "social"]

URGENT_KINDS = frozenset({EventKind.need_info, EventKind.sla_breach_apology})
_PLAIN_EMAIL = re.compile(r"^[^\s@<>\"',;]+@[^\s@<>\"',;]+\.[^\s@<>\"',;]+$")
# Landlines cannot take an SMS; "fixed line or mobile" (e.g. US numbers) and unknown types are tried.
_NOT_SMS_CAPABLE = frozenset(
    {
        phonenumbers.PhoneNumberType.FIXED_LINE,
        phonenumbers.PhoneNumberType.TOLL_FREE,
        phonenumbers.PhoneNumberType.PREMIUM_RATE,
        phonenumbers.PhoneNumberType.SHARED_COST,
        phonenumbers.PhoneNumberType.UAN,
        phonenumbers.PhoneNumberType.VOICEMAIL,
    }
)


@dataclass(frozen=True)
class Delivery:
    channel: DeliveryChannel
    address: str  # e-mail address, E.164 phone number, or "platform:handle" for social


def usable_email(address: str | None) -> str | None:
    if not address:
        return None
    address = address.strip()
    return address if _PLAIN_EMAIL.match(address) else None


def sms_number(phone: str | None) -> str | None:
    """The number in E.164 when it can receive an SMS, else None."""
    if not phone:
        return None
    try:
        number = phonenumbers.parse(phone.strip(), None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    if phonenumbers.number_type(number) in _NOT_SMS_CAPABLE:
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def social_address(customer: Customer) -> str | None:
    if customer.social_platform and customer.social_handle:
        return f"{customer.social_platform}:{customer.social_handle}"
    return None


def _delivery_for(kind: DeliveryChannel, customer: Customer) -> Delivery | None:
    if kind == "email":
        address = usable_email(customer.email)
    elif kind == "sms":
        address = sms_number(customer.phone)
    else:
        address = social_address(customer)
    return Delivery(kind, address) if address else None


_PREFERENCE: dict[ContactChannel, DeliveryChannel] = {
    ContactChannel.email: "email",
    ContactChannel.sms: "sms",
    ContactChannel.phone: "sms",
    ContactChannel.social: "social",
}
_MEDIA: frozenset[str] = frozenset(("email", "sms", "social"))


def _by_intake_channel(channel: str | None) -> tuple[DeliveryChannel, ...]:
    """How the intake channel's customers are answered by default (``schemas.channels``); none for an unknown one."""
    info = channel_info(channel) if channel is not None else None
    return tuple(m for m in info.reply_media if m in _MEDIA) if info else ()  # type: ignore[misc]


def _direct_delivery(event: ComplaintEvent, customer: Customer) -> Delivery | None:
    candidates: list[DeliveryChannel] = []
    if customer.preferred_contact is not None:
        candidates.append(_PREFERENCE[customer.preferred_contact])
    candidates.extend(_by_intake_channel(event.channel))
    candidates.extend(("email", "sms"))
    for kind in candidates:
        if kind == "social":
            continue  # never a direct channel: personal details must not be posted publicly
        delivery = _delivery_for(kind, customer)
        if delivery:
            return delivery
    return None


def choose_channels(event: ComplaintEvent) -> list[Delivery]:
    """The deliveries for one customer-facing event; [] when we have no way to reach the customer.

    One direct channel (preference, else the channel the complaint came by, else any contact we
    have). A complaint raised on social media, or a customer who prefers social, also gets a social
    delivery: a reply suggestion for the social team inviting a private message, with the complaint
    number and nothing personal.
    """
    if event.kind not in CUSTOMER_FACING_EVENTS or event.customer is None:
        return []
    customer = event.customer
    deliveries: list[Delivery] = []
    direct = _direct_delivery(event, customer)
    if direct:
        deliveries.append(direct)
    wants_social = "social" in _by_intake_channel(event.channel) or customer.preferred_contact == ContactChannel.social
    social = _delivery_for("social", customer) if wants_social else None
    if social:
        deliveries.append(social)
    return deliveries


def is_urgent(event: ComplaintEvent) -> bool:
    """Urgent messages ignore quiet hours: critical cases, requests waiting on the customer, apologies."""
    return event.severity == Severity.critical or event.kind in URGENT_KINDS
