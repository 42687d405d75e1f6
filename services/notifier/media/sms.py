"""SMS to a gateway (or the outbox file): mobile numbers only, and non-urgent texts wait out quiet hours."""

from __future__ import annotations

import phonenumbers

from kernel.settings import Settings
from schemas import ComplaintEvent, ContactChannel, Customer, stable_id
from services.notifier.render import render_sms
from services.notifier.sms_providers import SmsProvider

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


class SmsMedium:
    name = "sms"
    direct = True
    quiet_hours = True
    serves_preferences = frozenset({ContactChannel.sms, ContactChannel.phone})

    def __init__(self, settings: Settings, provider: SmsProvider) -> None:
        self.settings = settings
        self.provider = provider

    def address(self, customer: Customer) -> str | None:
        return sms_number(customer.phone)

    async def send(self, event: ComplaintEvent, address: str) -> str | None:
        sms = render_sms(event, bank_timezone=self.settings.timezone)
        # The gateway's idempotency id is stable per event, so a resend is dropped there.
        await self.provider.send(address, sms.text, stable_id("sms", event.event_id))
        return None
