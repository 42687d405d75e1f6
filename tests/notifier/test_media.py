from __future__ import annotations

import json

import pytest

from kernel.state import Keys
from schemas import Channel, ComplaintEvent, ContactChannel, Customer, EventKind, Severity
from services.notifier.dispatch import Attempt
from services.notifier.media.sms import sms_number
from services.notifier.medium import Delivery, choose_media, is_urgent, media_table

from .conftest import EventFactory, standard_media_table

MEDIA = standard_media_table()


def choose(event: ComplaintEvent) -> list[Delivery]:
    return choose_media(event, MEDIA)


MOBILE = "+8613812345678"
BEIJING_LANDLINE = "+861065529988"
EMAIL = "zhang.wei@example.cn"


def customer(**fields: object) -> Customer:
    return Customer(name="张伟", **fields)


def test_preference_wins(make_event: EventFactory) -> None:
    both = {"email": EMAIL, "phone": MOBILE}
    prefers_sms = make_event(channel=Channel.email, customer=customer(preferred_contact=ContactChannel.sms, **both))
    assert choose(prefers_sms) == [Delivery("sms", MOBILE)]
    prefers_phone = make_event(channel=Channel.email, customer=customer(preferred_contact="phone", **both))
    assert choose(prefers_phone) == [Delivery("sms", MOBILE)]
    prefers_email = make_event(channel=Channel.hotline, customer=customer(preferred_contact="email", **both))
    assert choose(prefers_email) == [Delivery("email", EMAIL)]


def test_unusable_preference_falls_back_to_the_channel_used(make_event: EventFactory) -> None:
    event = make_event(channel=Channel.hotline, customer=customer(preferred_contact="email", phone=MOBILE))
    assert choose(event) == [Delivery("sms", MOBILE)]


def test_channel_used(make_event: EventFactory) -> None:
    both = customer(email=EMAIL, phone=MOBILE)
    assert choose(make_event(channel=Channel.email, customer=both)) == [Delivery("email", EMAIL)]
    assert choose(make_event(channel=Channel.webform, customer=both)) == [Delivery("email", EMAIL)]
    assert choose(make_event(channel=Channel.hotline, customer=both)) == [Delivery("sms", MOBILE)]
    phone_only = customer(phone="+86 138 1234 5678")
    assert choose(make_event(channel=Channel.webform, customer=phone_only)) == [Delivery("sms", MOBILE)]


def test_any_contact_we_have(make_event: EventFactory) -> None:
    caller_gave_email = make_event(channel=Channel.hotline, customer=customer(email=EMAIL))
    assert choose(caller_gave_email) == [Delivery("email", EMAIL)]
    unknown_channel = make_event(channel=None, customer=customer(phone=MOBILE))
    assert choose(unknown_channel) == [Delivery("sms", MOBILE)]


def test_landline_caller_gets_no_sms(make_event: EventFactory) -> None:
    assert sms_number(BEIJING_LANDLINE) is None
    assert sms_number(MOBILE) == MOBILE
    assert sms_number("12345") is None
    landline_only = make_event(channel=Channel.hotline, customer=customer(phone=BEIJING_LANDLINE))
    assert choose(landline_only) == []


def test_no_contact_means_no_delivery(make_event: EventFactory) -> None:
    assert choose(make_event(customer=None)) == []
    assert choose(make_event(customer=customer(email="not-an-address"))) == []


def test_social_never_gets_personal_details_publicly(make_event: EventFactory) -> None:
    weibo = customer(social_platform="weibo", social_handle="@小张爱吃面")
    event = make_event(channel=Channel.social, customer=weibo)
    assert choose(event) == [Delivery("social", "weibo:@小张爱吃面")]
    with_phone = make_event(channel=Channel.social, customer=weibo.model_copy(update={"phone": MOBILE}))
    assert choose(with_phone) == [Delivery("sms", MOBILE), Delivery("social", "weibo:@小张爱吃面")]
    # A social preference never turns a personal channel into a public one.
    prefers_social = make_event(
        channel=Channel.email,
        customer=weibo.model_copy(update={"preferred_contact": "social", "email": EMAIL}),
    )
    assert choose(prefers_social) == [
        Delivery("email", EMAIL),
        Delivery("social", "weibo:@小张爱吃面"),
    ]


def test_internal_events_are_not_delivered(make_event: EventFactory) -> None:
    assert choose(make_event(EventKind.sla_warning)) == []
    assert choose(make_event(EventKind.notification_sent)) == []


def test_urgency(make_event: EventFactory) -> None:
    assert is_urgent(make_event(EventKind.need_info))
    assert is_urgent(make_event(EventKind.sla_breach_apology))
    assert is_urgent(make_event(EventKind.acknowledged, severity=Severity.critical))
    assert not is_urgent(make_event(EventKind.acknowledged, severity=Severity.high))
    assert not is_urgent(make_event(EventKind.closed, severity=None))


def test_the_standard_table_lists_email_then_sms_then_the_social_companion() -> None:
    assert [(m.name, m.direct, m.quiet_hours) for m in MEDIA.values()] == [
        ("email", True, False),
        ("sms", True, True),
        ("social", False, False),
    ]
    with pytest.raises(ValueError, match="two media"):
        media_table([*MEDIA.values(), MEDIA["sms"]])


def test_claim_and_order_keys_keep_the_strings_they_had_as_delivery_channels() -> None:
    """Claims and queues in flight across the rename must still be found: same key strings."""
    assert Keys.notification("evt_1", "sms") == "cf:notify:evt_1:sms"
    assert Keys.notify_order("cf:notify:scheduled", "cmp_1", "email") == (
        "cf:notify:scheduled:order:cmp_1:email",
        "cf:notify:scheduled:order:cmp_1:email:queue",
    )


def test_schedule_entries_are_read_from_the_previous_version_and_readable_by_it(make_event: EventFactory) -> None:
    event = make_event()
    before_the_rename = json.dumps(
        {
            "event": event.model_dump(mode="json"),
            "channel": "sms",
            "address": MOBILE,
            "attempt": 2,
            "past_quiet_hours": True,
        }
    )
    assert Attempt.from_json(before_the_rename) == Attempt(event, Delivery("sms", MOBILE), 2, True)
    written = json.loads(Attempt(event, Delivery("email", EMAIL)).to_json())
    assert written["medium"] == written["channel"] == "email"
