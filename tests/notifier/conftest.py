"""Event factory shared by the notifier tests: real-looking complaints in Chinese and English."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import faust
import pytest

from kernel.runtime import Runtime
from kernel.settings import Settings
from kernel.streams import Outbox
from kernel.topics import Topics
from schemas import Channel, ComplaintEvent, Customer, Department, EventKind, Language, Severity, event_id_for
from services.notifier.mailer import Mailer
from services.notifier.media import standard_media
from services.notifier.medium import MediaTable
from services.notifier.sms_providers import OutboxSmsProvider

COMPLAINT_ID = "cmp_5f0c2a9e41d7b3c8a6e2f190"
COMPLAINT_NUMBER = "CF-20261122-7K3Q9M"
OCCURRED_AT = datetime(2026, 11, 22, 1, 30, tzinfo=UTC)
DEADLINE = datetime(2026, 12, 7, 15, 59, tzinfo=UTC)  # 23:59 Beijing time

ZHANG_WEI = Customer(
    name="张伟",
    phone="+8613812345678",
    email="zhang.wei@example.cn",
    card_last4="7890",
    preferred_contact=None,
    timezone="Asia/Shanghai",
)
EMMA = Customer(name="Emma Clarke", phone="+447700900123", email="emma.clarke@example.co.uk", timezone="Europe/London")

EventFactory = Callable[..., ComplaintEvent]


def build_event(kind: EventKind = EventKind.acknowledged, **changes: Any) -> ComplaintEvent:
    fields: dict[str, Any] = {
        "event_id": event_id_for(COMPLAINT_ID, kind.value),
        "kind": kind,
        "complaint_id": COMPLAINT_ID,
        "complaint_number": COMPLAINT_NUMBER,
        "occurred_at": OCCURRED_AT,
        "channel": Channel.email,
        "language": Language.zh,
        "department": Department.cards,
        "severity": Severity.medium,
        "customer": ZHANG_WEI,
        "deadline": DEADLINE,
        "details": {},
    }
    fields.update(changes)
    return ComplaintEvent(**fields)


@pytest.fixture
def make_event() -> EventFactory:
    return build_event


def standard_media_table() -> MediaTable:
    """The table the notifier runs with, its clients made but never connected (the choice is pure)."""
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    runtime = Runtime(settings, "127.0.0.1:9", "redis://127.0.0.1:9/0", "127.0.0.1", 9, Topics())
    outbox = Outbox(faust.App("notifier-media-choice", broker="kafka://127.0.0.1:9"))
    return standard_media(runtime, outbox, Mailer("127.0.0.1", 9), OutboxSmsProvider("unused-sms.jsonl"))
