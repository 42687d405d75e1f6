"""``Dispatcher.deliver`` over quiet hours, claims and ordering, table-driven, on the session's real Redis.

Mail goes to a real SMTP server on a loopback port and SMS to the outbox file; what the dispatcher puts on Kafka
(its outcome records) goes to the session's broker, under this module's topic prefix, and is read back from there.
A database of its own (9).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from kernel.embedded import EmbeddedStack, free_port
from kernel.runtime import Runtime
from kernel.settings import Settings
from kernel.state import Keys
from kernel.topics import Topics
from schemas import ComplaintEvent, EventKind, Severity, complaint_number_for, event_id_for, stable_id
from services.notifier.dispatch import Attempt, Dispatcher
from services.notifier.mailer import Mailer
from services.notifier.media import standard_media
from services.notifier.medium import Delivery
from services.notifier.sms_providers import OutboxSmsProvider
from tests.conftest import on_own_redis_database
from tests.delivery_servers import SmtpServer
from tests.kafka_support import BrokerOutbox
from tests.notifier.conftest import OCCURRED_AT, ZHANG_WEI, build_event

DATABASE = 9
LEASE_S = 30
NIGHT = datetime(2026, 11, 22, 15, 0, tzinfo=UTC)  # 23:00 in Beijing: quiet hours (21:00-08:00)
DAY = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)  # 11:00 in Beijing
MORNING = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)  # 08:00 in Beijing, when the quiet hours end
PHONE = ZHANG_WEI.phone or ""
EMAIL = ZHANG_WEI.email or ""


def sms(address: str = PHONE) -> Delivery:
    return Delivery("sms", address)


def email(address: str = EMAIL) -> Delivery:
    return Delivery("email", address)


def outcome_kinds(outbox: BrokerOutbox) -> list[str]:
    """The kinds of the outcome records the test's dispatchers published on the deliveries topic."""
    return [ComplaintEvent.model_validate_json(v).kind.value for v in outbox.on(outbox.topics.deliveries)]


@dataclass
class Bench:
    """One dispatcher and everything it delivers to."""

    dispatcher: Dispatcher
    outbox: BrokerOutbox
    smtp: SmtpServer
    sms_file: OutboxSmsProvider
    client: Any

    def mails_about(self, event: ComplaintEvent) -> list[str]:
        """The Message-IDs of the mails sent about the event's complaint, in the order they arrived."""
        return [
            str(m["Message-ID"])
            for m in self.smtp.handler.received()
            if str(m["X-Complaint-Number"]) == event.complaint_number
        ]

    def texts_to(self, number: str = PHONE) -> list[str]:
        return [line["message_id"] for line in self.sms_file.read() if line["to"] == number]

    async def scheduled(self) -> list[tuple[Attempt, float]]:
        entries = await self.client.zrange(self.dispatcher.scheduled, 0, -1, withscores=True)
        return [(Attempt.from_json(entry), score) for entry, score in entries]


@pytest.fixture(scope="module")
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer().start()
    yield server
    server.stop()


def _settings(prefix: str) -> Settings:
    return Settings(  # type: ignore[call-arg]
        _env_file=None,
        COMPLAINTFLOW_TOPIC_PREFIX=prefix,
        COMPLAINTFLOW_QUIET_HOURS="21:00-08:00",
        COMPLAINTFLOW_TIMEZONE="Asia/Shanghai",
        COMPLAINTFLOW_NOTIFY_CLAIM_LEASE_S=LEASE_S,
        COMPLAINTFLOW_NOTIFY_RETRY_BASE_S=60,
    )


def _dispatcher(client: Any, smtp_port: int, sms_path: Path, outbox: BrokerOutbox) -> Dispatcher:
    prefix = outbox.topics.prefix
    settings = _settings(prefix)
    runtime = Runtime(settings, "", "", "127.0.0.1", smtp_port, Topics(prefix), _redis=client)
    media = standard_media(runtime, outbox, Mailer("127.0.0.1", smtp_port, timeout=5), OutboxSmsProvider(sms_path))  # type: ignore[arg-type]
    return Dispatcher(runtime, outbox, media)  # type: ignore[arg-type]


def run(embedded: EmbeddedStack, outbox: BrokerOutbox, smtp: SmtpServer, tmp_path: Path, scenario: Any) -> None:
    """Runs ``scenario(bench)`` against a fresh database; each test has its own SMS file and reads back only the
    records it published."""

    async def with_bench(client: Any) -> None:
        sms_path = tmp_path / "sms.jsonl"
        dispatcher = _dispatcher(client, smtp.port, sms_path, outbox)
        bench = Bench(dispatcher, outbox, smtp, OutboxSmsProvider(sms_path), client)
        try:
            await scenario(bench)
        finally:
            await dispatcher.media["email"].mailer.close()  # type: ignore[attr-defined]

    on_own_redis_database(embedded, DATABASE, with_bench)


def _event(kind: EventKind = EventKind.acknowledged, complaint_id: str | None = None, **changes: Any) -> ComplaintEvent:
    complaint_id = complaint_id or f"cmp_{uuid.uuid4().hex[:24]}"
    return build_event(
        kind,
        complaint_id=complaint_id,
        complaint_number=complaint_number_for(complaint_id, OCCURRED_AT.date()),
        event_id=event_id_for(complaint_id, kind.value),
        **changes,
    )


# --- quiet hours ----------------------------------------------------------------------------------------------
# kind, severity, medium, when, what deliver says, sent now
QUIET_HOURS = [
    (EventKind.acknowledged, Severity.medium, "sms", NIGHT, "deferred", False),
    (EventKind.resolved, Severity.low, "sms", NIGHT, "deferred", False),
    (EventKind.acknowledged, Severity.critical, "sms", NIGHT, "sent", True),  # critical overtakes the night
    (EventKind.need_info, Severity.medium, "sms", NIGHT, "sent", True),  # the customer is waited on
    (EventKind.sla_breach_apology, Severity.medium, "sms", NIGHT, "sent", True),
    (EventKind.acknowledged, Severity.medium, "sms", DAY, "sent", True),
    (EventKind.acknowledged, Severity.medium, "email", NIGHT, "sent", True),  # quiet hours are for the phone
]


@pytest.mark.parametrize(
    ("kind", "severity", "medium", "when", "outcome", "sent_now"),
    QUIET_HOURS,
    ids=[f"{c[0].value}-{c[1].value}-{c[2]}-{'night' if c[3] == NIGHT else 'day'}" for c in QUIET_HOURS],
)
def test_dispatcher_quiet_hours(
    embedded: EmbeddedStack,
    broker_outbox: BrokerOutbox,
    smtp: SmtpServer,
    tmp_path: Path,
    kind: EventKind,
    severity: Severity,
    medium: str,
    when: datetime,
    outcome: str,
    sent_now: bool,
) -> None:
    async def scenario(bench: Bench) -> None:
        event = _event(kind, severity=severity)
        delivery = sms() if medium == "sms" else email()
        mails_before = len(smtp.handler.received())
        assert await bench.dispatcher.deliver(Attempt(event, delivery), when) == outcome
        sent = len(bench.texts_to()) if medium == "sms" else len(smtp.handler.received()) - mails_before
        assert sent == (1 if sent_now else 0)
        if sent_now:
            assert outcome_kinds(bench.outbox) == ["notification_sent"]
            assert await bench.scheduled() == []
            return
        assert outcome_kinds(bench.outbox) == ["notification_deferred"]
        [(waiting, due)] = await bench.scheduled()
        assert due == MORNING.timestamp(), "deferred to 08:00 in the customer's zone"
        assert waiting.event == event and waiting.past_quiet_hours
        # Nothing goes out before the morning; at the morning it does, once.
        assert await bench.dispatcher.run_due(MORNING - timedelta(minutes=1)) == 0
        assert bench.texts_to() == []
        assert await bench.dispatcher.run_due(MORNING) == 1
        assert len(bench.texts_to()) == 1
        assert await bench.scheduled() == []
        assert await bench.dispatcher.run_due(MORNING + timedelta(hours=1)) == 0
        assert len(bench.texts_to()) == 1

    run(embedded, broker_outbox, smtp, tmp_path, scenario)


# later message of the same complaint by SMS at night, what deliver says, texts in the morning (in order)
BEHIND_A_DEFERRAL = [
    (EventKind.in_progress, Severity.medium, "queued", ["acknowledged", "in_progress"]),
    (EventKind.need_info, Severity.medium, "sent", ["need_info", "acknowledged"]),  # urgent: overtakes
]


@pytest.mark.parametrize(("kind", "severity", "outcome", "order"), BEHIND_A_DEFERRAL, ids=["queued", "overtakes"])
def test_dispatcher_later_message_behind_a_deferred_one(
    embedded: EmbeddedStack,
    broker_outbox: BrokerOutbox,
    smtp: SmtpServer,
    tmp_path: Path,
    kind: EventKind,
    severity: Severity,
    outcome: str,
    order: list[str],
) -> None:
    async def scenario(bench: Bench) -> None:
        first = _event(EventKind.acknowledged)
        later = _event(kind, complaint_id=first.complaint_id, severity=severity)
        assert await bench.dispatcher.deliver(Attempt(first, sms()), NIGHT) == "deferred"
        assert await bench.dispatcher.deliver(Attempt(later, sms()), NIGHT + timedelta(minutes=1)) == outcome
        await bench.dispatcher.run_due(MORNING)
        by_id = {first.event_id: first.kind.value, later.event_id: later.kind.value}
        sent = [_kind_of(message_id, by_id) for message_id in bench.texts_to()]
        assert sent == order
        assert await bench.client.keys(f"{bench.dispatcher.scheduled}:order:*") == [], "nothing left waiting"

    run(embedded, broker_outbox, smtp, tmp_path, scenario)


def _kind_of(sms_message_id: str, by_event_id: dict[str, str]) -> str:
    return next(kind for event_id, kind in by_event_id.items() if stable_id("sms", event_id) == sms_message_id)


# --- claims -----------------------------------------------------------------------------------------------------
def test_dispatcher_sends_an_event_once_per_medium(
    embedded: EmbeddedStack, broker_outbox: BrokerOutbox, smtp: SmtpServer, tmp_path: Path
) -> None:
    async def scenario(bench: Bench) -> None:
        event = _event(EventKind.acknowledged)
        before = len(smtp.handler.received())
        outcomes = [await bench.dispatcher.deliver(Attempt(event, email()), DAY) for _ in range(2)]
        outcomes += [await bench.dispatcher.deliver(Attempt(event, sms()), DAY) for _ in range(2)]
        assert outcomes == ["sent", "duplicate", "sent", "duplicate"]
        assert len(smtp.handler.received()) - before == 1
        assert len(bench.texts_to()) == 1
        kinds = outcome_kinds(bench.outbox)
        assert kinds == ["notification_sent", "notification_sent"], "a duplicate records nothing"

    run(embedded, broker_outbox, smtp, tmp_path, scenario)


# the claim another worker left: (its state, its time to live in ms or None), what deliver says, sent at once
CLAIMS = [
    (("sent", None), "duplicate", False),
    (("failed", None), "duplicate", False),
    (("pending:otherworker", LEASE_S * 1000), "claim_held", False),
]


@pytest.mark.parametrize(("claim", "outcome", "sent_now"), CLAIMS, ids=["sent", "failed", "held"])
def test_dispatcher_respects_another_workers_record(
    embedded: EmbeddedStack,
    broker_outbox: BrokerOutbox,
    smtp: SmtpServer,
    tmp_path: Path,
    claim: tuple[str, int | None],
    outcome: str,
    sent_now: bool,
) -> None:
    async def scenario(bench: Bench) -> None:
        event = _event(EventKind.acknowledged)
        state, ttl_ms = claim
        await bench.client.set(Keys.notification(event.event_id, "sms"), state, px=ttl_ms)
        assert await bench.dispatcher.deliver(Attempt(event, sms()), DAY) == outcome
        assert len(bench.texts_to()) == (1 if sent_now else 0)
        scheduled = await bench.scheduled()
        if outcome != "claim_held":
            assert scheduled == []
            return
        # Looked at again after the lease; while the claim lives, the scheduled look sends nothing.
        [(again, due)] = scheduled
        assert again.event == event and due == (DAY + timedelta(seconds=LEASE_S)).timestamp()
        await bench.dispatcher.run_due(DAY + timedelta(seconds=LEASE_S))
        assert bench.texts_to() == []
        assert len(await bench.scheduled()) == 1

    run(embedded, broker_outbox, smtp, tmp_path, scenario)


def test_dispatcher_sends_once_an_abandoned_claim_expires(
    embedded: EmbeddedStack, broker_outbox: BrokerOutbox, smtp: SmtpServer, tmp_path: Path
) -> None:
    """A worker died after claiming: its claim runs out in Redis and the scheduled look sends the message."""

    async def scenario(bench: Bench) -> None:
        event = _event(EventKind.acknowledged)
        key = Keys.notification(event.event_id, "sms")
        await bench.client.set(key, "pending:deadworker", px=200)
        assert await bench.dispatcher.deliver(Attempt(event, sms()), DAY) == "claim_held"
        while await bench.client.exists(key):  # Redis expires the dead worker's claim
            await asyncio.sleep(0.05)
        assert await bench.dispatcher.run_due(DAY + timedelta(seconds=LEASE_S)) == 1
        assert len(bench.texts_to()) == 1
        assert await bench.client.get(key) == "sent"
        assert await bench.scheduled() == []

    run(embedded, broker_outbox, smtp, tmp_path, scenario)


# --- ordering behind the retry schedule -------------------------------------------------------------------------
def test_dispatcher_keeps_a_complaints_mail_in_order_behind_a_retry(
    embedded: EmbeddedStack, broker_outbox: BrokerOutbox, smtp: SmtpServer, tmp_path: Path
) -> None:
    """The mail server is down for the first message: it waits in the retry schedule; the complaint's next mail
    queues behind it, its SMS and another complaint's mail do not. Once the server is back, both mails go out
    in event order."""

    async def scenario(bench: Bench) -> None:
        down = _dispatcher(bench.client, free_port(), tmp_path / "sms.jsonl", bench.outbox)  # nobody listens
        first = _event(EventKind.acknowledged)
        later = _event(EventKind.in_progress, complaint_id=first.complaint_id)
        other = _event(EventKind.acknowledged)
        try:
            assert await down.deliver(Attempt(first, email()), DAY) == "retrying"
            assert await down.deliver(Attempt(later, email()), DAY + timedelta(seconds=1)) == "queued"
        finally:
            await down.media["email"].mailer.close()  # type: ignore[attr-defined]
        assert await bench.dispatcher.deliver(Attempt(later, sms()), DAY + timedelta(seconds=2)) == "sent"
        assert await bench.dispatcher.deliver(Attempt(other, email()), DAY + timedelta(seconds=3)) == "sent"
        [(retry, due)] = await bench.scheduled()
        assert retry.event == first and retry.attempt == 2 and due > DAY.timestamp()

        assert await bench.dispatcher.run_due(DAY + timedelta(hours=1)) == 1
        # The acknowledgement is the thread's root (named by the complaint); the later mail is named by its event.
        [first_mail, later_mail] = bench.mails_about(first)
        assert first_mail.endswith(".thread@bank.example>") and ".email@" in later_mail
        assert bench.mails_about(other) and len(bench.texts_to()) == 1
        assert await bench.scheduled() == []
        assert await bench.client.keys(f"{bench.dispatcher.scheduled}:order:*") == []

    run(embedded, broker_outbox, smtp, tmp_path, scenario)
