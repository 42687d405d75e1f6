"""A new delivery medium is one module: this file writes a toy one, puts it in the dispatcher's table, and sees it
chosen, sent exactly once, held for quiet hours and recorded, through the notifier's own dispatcher against the
session's embedded Redis and broker (the toy medium itself keeps what it sends in memory)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

from kernel.embedded import EmbeddedStack
from kernel.kafka import consumer, create_all_topics
from kernel.runtime import Runtime
from kernel.settings import Settings
from kernel.state import Keys
from kernel.topics import Topics
from schemas import Channel, ComplaintEvent, ContactChannel, Customer, EventKind
from services.notifier.dispatch import Attempt, Dispatcher
from services.notifier.medium import Delivery, Medium, choose_media, media_table
from tests.kafka_support import KafkaOutbox

from .conftest import ZHANG_WEI, build_event, standard_media_table

REDIS_DATABASE = 13  # this file's own database on the session's Redis
LATE_EVENING = datetime(2026, 11, 22, 15, 0, tzinfo=UTC)  # 23:00 in Shanghai: quiet hours
NEXT_MORNING = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai


class PagerMedium:
    """The toy: a pager that reaches anyone with a phone number, serves customers who asked to be phoned, and
    keeps quiet hours. Its message id is stable per event, as the interface asks."""

    name = "pager"
    direct = True
    quiet_hours = True
    serves_preferences = frozenset({ContactChannel.phone})

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, str]] = []

    def address(self, customer: Customer) -> str | None:
        return f"pager:{customer.phone}" if customer.phone else None

    async def send(self, event: ComplaintEvent, address: str) -> str | None:
        self.sent.append((address, event.complaint_number, event.kind.value))
        return None


def _dispatcher(embedded: EmbeddedStack, pager: Medium) -> tuple[Dispatcher, KafkaOutbox]:
    assert embedded.kafka_bootstrap_servers and embedded.redis_url
    prefix = f"toy-medium-{uuid.uuid4().hex[:8]}."
    settings = Settings(_env_file=None).with_overrides(topic_prefix=prefix, quiet_hours="21:00-08:00")  # type: ignore[call-arg]
    create_all_topics(settings, embedded.kafka_bootstrap_servers)
    redis_url = embedded.redis_url.rsplit("/", 1)[0] + f"/{REDIS_DATABASE}"
    runtime = Runtime(settings, embedded.kafka_bootstrap_servers, redis_url, "127.0.0.1", 9, Topics(prefix))
    outbox = KafkaOutbox(embedded.kafka_bootstrap_servers)
    # The toy goes first in the table the notifier runs with, so it is the one chosen.
    media = media_table([pager, *standard_media_table().values()])
    return Dispatcher(runtime, outbox, media), outbox  # type: ignore[arg-type]


def _event(kind: EventKind = EventKind.acknowledged) -> ComplaintEvent:
    unique = uuid.uuid4().hex[:24]
    phoned = ZHANG_WEI.model_copy(update={"preferred_contact": ContactChannel.phone})  # the toy serves that wish
    return build_event(
        kind,
        complaint_id=f"cmp_{unique}",
        event_id=f"evt_{kind.value}_{unique}",
        channel=Channel.hotline,
        customer=phoned,
    )


def _sent_records(dispatcher: Dispatcher, complaint_id: str) -> list[ComplaintEvent]:
    """The notification_sent events the dispatcher logged for one complaint, read back from the deliveries topic."""
    settings = dispatcher.settings
    reader = consumer(dispatcher.runtime.bootstrap, [dispatcher.runtime.topics.deliveries], None, settings)
    found: list[ComplaintEvent] = []
    try:
        for _ in range(60):
            for records in reader.poll(timeout_ms=500).values():
                for record in records:
                    event = ComplaintEvent.model_validate_json(record.value)
                    if event.complaint_id == complaint_id and event.kind == EventKind.notification_sent:
                        found.append(event)
            if found:
                return found
    finally:
        reader.close()
    return found


def test_a_toy_medium_is_chosen_and_sent_exactly_once(embedded: EmbeddedStack) -> None:
    pager = PagerMedium()
    dispatcher, outbox = _dispatcher(embedded, pager)
    event = _event()

    async def scenario() -> None:
        redis = dispatcher.runtime.redis
        await redis.flushdb()
        deliveries = choose_media(event, dispatcher.media)
        assert deliveries == [Delivery("pager", "pager:+8613812345678")]
        afternoon = datetime(2026, 11, 22, 6, 0, tzinfo=UTC)  # 14:00 in Shanghai
        assert await dispatcher.deliver(Attempt(event, deliveries[0]), afternoon) == "sent"
        assert await dispatcher.deliver(Attempt(event, deliveries[0]), afternoon) == "duplicate"
        assert await redis.get(Keys.notification(event.event_id, "pager")) == "sent"
        await redis.aclose()

    try:
        asyncio.run(scenario())
        assert pager.sent == [("pager:+8613812345678", event.complaint_number, "acknowledged")]
        [record] = _sent_records(dispatcher, event.complaint_id)
        assert record.details["medium"] == "pager" and record.details["for_event_id"] == event.event_id
    finally:
        outbox.close()


def test_a_toy_medium_with_quiet_hours_waits_for_the_morning_unless_urgent(embedded: EmbeddedStack) -> None:
    pager = PagerMedium()
    dispatcher, outbox = _dispatcher(embedded, pager)
    routine, urgent = _event(), _event(EventKind.need_info)

    async def scenario() -> None:
        redis = dispatcher.runtime.redis
        await redis.flushdb()
        for event in (routine, urgent):
            [delivery] = choose_media(event, dispatcher.media)
            outcome = await dispatcher.deliver(Attempt(event, delivery), LATE_EVENING)
            assert outcome == ("deferred" if event is routine else "sent")
        assert [kind for _, _, kind in pager.sent] == ["need_info"]
        assert await dispatcher.run_due(LATE_EVENING) == 0  # nothing due before the morning
        assert await dispatcher.run_due(NEXT_MORNING) == 1
        assert await dispatcher.run_due(NEXT_MORNING) == 0  # and only once
        assert await redis.get(Keys.notification(routine.event_id, "pager")) == "sent"
        await redis.aclose()

    try:
        asyncio.run(scenario())
        assert [kind for _, _, kind in pager.sent] == ["need_info", "acknowledged"]
    finally:
        outbox.close()
