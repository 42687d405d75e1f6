"""The notifier end to end: real broker, Redis, SMTP server and SMS gateway; the notifier is its own process.

Every test has its own topic and group prefix and its own servers, so none sees another's messages.
"""

from __future__ import annotations

import json
import re
import signal
import socket
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import pytest
import redis
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from kernel.embedded import EmbeddedStack, free_port
from kernel.state import Keys
from kernel.topics import Topics
from schemas import (
    CUSTOMER_FACING_EVENTS,
    Channel,
    ComplaintEvent,
    ContactChannel,
    Customer,
    DeadLetter,
    Department,
    EventKind,
    Language,
    Severity,
    complaint_number_for,
    event_id_for,
)
from tests.conftest import RunningStack, stack_env, start_stack, stop_stack
from tests.delivery_servers import RecordingSmtp, SmsGateway, SmtpServer, wait_until

pytestmark = pytest.mark.integration

T = TypeVar("T")
CJK = re.compile(r"[\u4e00-\u9fff]")
NO_QUIET_HOURS = "00:00-00:00"
LANGUAGES = (Language.zh, Language.en)
DEADLINE = datetime(2026, 12, 7, 15, 59, tzinfo=UTC)

# What a department writes when it moves a complaint on, in the customer's language.
DETAILS: dict[Language, dict[EventKind, dict[str, str]]] = {
    Language.zh: {
        EventKind.need_info: {"note": "请提供扣款当日的账单截图和交易短信"},
        EventKind.extended: {"reason": "需要向收单机构调取交易凭证", "new_deadline": "2026-12-21T15:59:00+00:00"},
        EventKind.resolved: {"outcome": "重复收取的年费300元已退回您尾号7890的信用卡"},
        EventKind.rejected: {"reason": "该笔交易经核实为本人在商户的真实消费"},
    },
    Language.en: {
        EventKind.need_info: {"note": "a copy of the statement showing the charge"},
        EventKind.extended: {
            "reason": "we are waiting for records from the merchant's bank",
            "new_deadline": "2026-12-21T15:59:00+00:00",
        },
        EventKind.resolved: {"outcome": "We have refunded the duplicate annual fee of 300 yuan to your card"},
        EventKind.rejected: {"reason": "the payment was authorised with your card and PIN"},
    },
}


# --- real servers ------------------------------------------------------------------------------------------
@pytest.fixture
def gateway() -> Iterator[SmsGateway]:
    running = SmsGateway()
    yield running
    running.close()


# --- the notifier process ---------------------------------------------------------------------------------
class Notifiers:
    """Starts ``complaintflow notifier`` processes and stops whatever is still running at the end."""

    def __init__(self, embedded: EmbeddedStack, var_dir: Path) -> None:
        self.embedded = embedded
        self.var_dir = var_dir
        self.started: list[RunningStack] = []

    def start(
        self, prefix: str, smtp_port: int, sms_url: str, *, smtp_up: bool = True, **settings: str
    ) -> RunningStack:
        env = stack_env(
            self.embedded,
            self.var_dir,
            prefix,
            **{
                "SMTP_HOST": "127.0.0.1",
                "SMTP_PORT": str(smtp_port),
                "SMS_GATEWAY_URL": sms_url,
                "COMPLAINTFLOW_QUIET_HOURS": NO_QUIET_HOURS,
                "COMPLAINTFLOW_NOTIFY_RETRY_BASE_S": "0.2",
                "COMPLAINTFLOW_NOTIFY_MAX_ATTEMPTS": "40",
                "COMPLAINTFLOW_TOPIC_PARTITIONS": "3",
                # A killed worker leaves the group sooner, so its successor is assigned the partitions sooner.
                "COMPLAINTFLOW_KAFKA_SESSION_TIMEOUT_S": "3",
                **settings,
            },
        )
        stack = start_stack(["notifier"], env, self.var_dir, wait_ready=smtp_up)
        self.started.append(stack)
        if not smtp_up:
            wait_ready_except_smtp(stack)
        return stack

    def stop_all(self) -> None:
        for stack in self.started:
            stop_stack(stack)


@pytest.fixture
def notifiers(embedded: EmbeddedStack, tmp_path: Path) -> Iterator[Notifiers]:
    running = Notifiers(embedded, tmp_path / "var")
    yield running
    running.stop_all()


def wait_ready_except_smtp(stack: RunningStack, timeout: float = 60.0) -> None:
    """Ready in every respect but the SMTP server, which a test keeps down on purpose."""

    def ready() -> bool:
        if stack.process.poll() is not None:
            raise RuntimeError(f"notifier exited:\n{stack.log_text()[-3000:]}")
        try:
            _, body = stack.get("/readyz")
        except OSError:
            return False
        components = body.get("components", {})
        return bool(components) and all(c["ok"] for name, c in components.items() if name != "smtp")

    wait_until(ready, timeout, "notifier ready (SMTP down)", stack)


def metric(stack: RunningStack, medium: str, result: str) -> float:
    """A notifier's ``complaintflow_notifications_total`` for one delivery medium and result, from its /metrics."""
    with urllib.request.urlopen(stack.http_url + "/metrics", timeout=5) as response:
        text = response.read().decode()
    line = f'complaintflow_notifications_total{{medium="{medium}",result="{result}"}} '
    found = next((row for row in text.splitlines() if row.startswith(line)), None)
    return float(found.removeprefix(line)) if found else 0.0


# --- helpers ----------------------------------------------------------------------------------------------
def hold(condition: Callable[[], bool], seconds: float) -> bool:
    """True when ``condition`` stays true for the whole period (used to prove something does NOT happen)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not condition():
            return False
        time.sleep(0.1)
    return condition()


_phone_serial = iter(range(1000, 9999))


def customer(language: Language, channel: ContactChannel, *, timezone: str | None = None) -> Customer:
    tag = uuid.uuid4().hex[:8]
    serial = next(_phone_serial)
    if language == Language.zh:
        return Customer(
            name="王芳",
            email=f"wang.fang+{tag}@example.cn",
            phone=f"+861380013{serial:04d}",
            card_last4="7890",
            preferred_contact=channel,
            timezone=timezone or "Asia/Shanghai",
        )
    return Customer(
        name="Oliver Bennett",
        email=f"oliver.bennett+{tag}@example.co.uk",
        phone=f"+44791112{serial:04d}",
        card_last4="4412",
        preferred_contact=channel,
        timezone=timezone or "Europe/London",
    )


def sms_only(language: Language, **kwargs: Any) -> Customer:
    return customer(language, ContactChannel.sms, **kwargs).model_copy(update={"email": None})


def email_only(language: Language) -> Customer:
    return customer(language, ContactChannel.email).model_copy(update={"phone": None})


def make_event(
    kind: EventKind, language: Language, who: Customer, severity: Severity = Severity.medium
) -> ComplaintEvent:
    complaint_id = f"cmp_{uuid.uuid4().hex[:24]}"
    return ComplaintEvent(
        event_id=event_id_for(complaint_id, kind.value),
        kind=kind,
        complaint_id=complaint_id,
        complaint_number=complaint_number_for(complaint_id, date(2026, 11, 22)),
        occurred_at=datetime.now(UTC),
        channel=Channel.webform,
        language=language,
        department=Department.cards,
        severity=severity,
        customer=who,
        deadline=DEADLINE,
        details=DETAILS[language].get(kind, {}),
    )


def publish(embedded: EmbeddedStack, topic: str, events: list[ComplaintEvent]) -> None:
    producer = KafkaProducer(bootstrap_servers=embedded.kafka_bootstrap_servers, acks="all")
    for event in events:
        producer.send(topic, key=event.complaint_id.encode(), value=event.model_dump_json().encode())
    producer.flush()
    producer.close()


class TopicReader:
    """Reads a topic from the beginning, keeping everything seen so far."""

    def __init__(self, embedded: EmbeddedStack, topic: str) -> None:
        self.consumer = KafkaConsumer(
            topic,
            bootstrap_servers=embedded.kafka_bootstrap_servers,
            auto_offset_reset="earliest",
            group_id=None,
            enable_auto_commit=False,
        )
        self.values: list[bytes] = []

    def poll(self) -> list[bytes]:
        for records in self.consumer.poll(timeout_ms=200).values():
            self.values.extend(record.value for record in records)
        return self.values

    def wait_for(self, predicate: Callable[[bytes], bool], timeout: float = 30.0) -> list[bytes]:
        return wait_until(lambda: [v for v in self.poll() if predicate(v)], timeout, "a record on the topic")

    def close(self) -> None:
        self.consumer.close()


def events_about(values: list[bytes], complaint_id: str, kind: EventKind) -> list[ComplaintEvent]:
    events = [ComplaintEvent.model_validate_json(v) for v in values]
    return [e for e in events if e.complaint_id == complaint_id and e.kind == kind]


def message_ids(messages: list[EmailMessage]) -> Counter[str]:
    return Counter(str(m["Message-ID"]) for m in messages)


def plain_text(message: EmailMessage) -> str:
    return message.get_body(("plain",)).get_content()  # type: ignore[union-attr]


def redis_client(embedded: EmbeddedStack) -> redis.Redis:
    return redis.Redis.from_url(embedded.redis_url or "", decode_responses=True)


# --- 1. every customer-facing event, both languages, both media -------------------------------------------
def test_every_event_kind_reaches_the_customer_in_their_language_by_email_and_sms(embedded, notifiers, gateway):
    smtp = SmtpServer(RecordingSmtp()).start()
    try:
        stack = notifiers.start("nt1.", smtp.port, gateway.url)
        by_email = [
            make_event(kind, language, email_only(language))
            for kind in sorted(CUSTOMER_FACING_EVENTS)
            for language in LANGUAGES
        ]
        by_sms = [
            make_event(kind, language, sms_only(language))
            for kind in sorted(CUSTOMER_FACING_EVENTS)
            for language in LANGUAGES
        ]
        # Internal events on the same topic must not reach anybody.
        internal = [make_event(EventKind.sla_warning, Language.zh, email_only(Language.zh))]
        publish(embedded, Topics("nt1.").events, by_email + by_sms + internal)

        def everything_arrived() -> bool:
            return len(smtp.handler.received()) >= len(by_email) and len(gateway.delivered()) >= len(by_sms)

        wait_until(everything_arrived, 60, "every e-mail and SMS", stack)
        for event in by_email:
            assert event.customer and event.customer.email
            [mail] = smtp.handler.to(event.customer.email)
            body, html = plain_text(mail), mail.get_body(("html",)).get_content()  # type: ignore[union-attr]
            assert event.complaint_number in str(mail["Subject"]), event.kind
            assert event.complaint_number in body and event.complaint_number in html
            assert mail["Auto-Submitted"] == "auto-generated"
            assert mail["Content-Language"] == ("zh-CN" if event.language == Language.zh else "en")
            in_chinese = bool(CJK.search(body + str(mail["Subject"])))
            assert in_chinese == (event.language == Language.zh), event.kind
        for event in by_sms:
            assert event.customer and event.customer.phone
            [sms] = gateway.delivered(event.customer.phone)
            assert event.complaint_number in sms["text"], event.kind
            assert bool(CJK.search(sms["text"])) == (event.language == Language.zh), (event.kind, sms["text"])

        assert not smtp.handler.to(internal[0].customer.email)  # type: ignore[union-attr,arg-type]
        assert len(smtp.handler.received()) == len(by_email) and len(gateway.delivered()) == len(by_sms)
        # Each e-mail's Message-ID leads back to its complaint, so the customer's reply threads.
        store = redis_client(embedded)
        for event in by_email:
            [mail] = smtp.handler.to(event.customer.email)  # type: ignore[union-attr,arg-type]
            assert store.get(Keys.message_id(str(mail["Message-ID"]))) == event.complaint_id

        # The pool's connections (COMPLAINTFLOW_SMTP_CONNECTIONS, 4 by default) carried the whole burst, and
        # each is closed politely when the notifier stops.
        stop_stack(stack)
        assert 1 <= len(smtp.handler.connections) <= 4
        assert stack.process.returncode == 0 and smtp.handler.goodbyes == len(smtp.handler.connections)
    finally:
        smtp.stop()


# --- 2. SMTP server down for a while -----------------------------------------------------------------------
def test_mail_held_back_by_an_smtp_outage_arrives_once_when_the_server_returns(embedded, notifiers, gateway):
    prefix, port = "nt2.", free_port()  # nothing listens there yet
    stack = notifiers.start(prefix, port, gateway.url, smtp_up=False)
    events = [
        make_event(EventKind.acknowledged, language, email_only(language)) for language in LANGUAGES for _ in range(10)
    ]
    publish(embedded, Topics(prefix).events, events)

    # Every message has been tried and is waiting for a retry before the server comes back.
    wait_until(lambda: metric(stack, "email", "retrying") >= len(events), 30, "a failed attempt each", stack)
    time.sleep(2.0)  # the outage lasts a while: several rounds of retries fail
    failed_attempts = metric(stack, "email", "retrying")
    handler = RecordingSmtp()
    smtp = SmtpServer(handler, port).start()
    try:
        back = time.monotonic()
        wait_until(lambda: len(message_ids(handler.received())) >= len(events), 60, "every e-mail", stack)
        recovery_s = time.monotonic() - back
        schedule = Keys.notify_scheduled(prefix)
        wait_until(lambda: redis_client(embedded).zcard(schedule) == 0, 10, "an empty retry schedule", stack)
        time.sleep(1.0)  # a second copy would have had time to arrive

        received = message_ids(handler.received())
        assert len(received) == len(events), "some messages were lost"
        assert set(received.values()) == {1}, f"sent twice: {[m for m, n in received.items() if n > 1]}"
        assert {m["To"].addresses[0].addr_spec for m in handler.received()} == {  # type: ignore[union-attr]
            e.customer.email for e in events
        }  # type: ignore[union-attr]
        assert failed_attempts >= len(events)
        print(
            f"outage: {failed_attempts:.0f} failed attempts, {len(received)} delivered "
            f"{recovery_s:.1f}s after the server returned, 0 duplicates"
        )
    finally:
        smtp.stop()


# --- 3. killed between sending and committing --------------------------------------------------------------
def committed_records(embedded: EmbeddedStack, group: str, topic: str) -> int:
    """How many records of ``topic`` the group has committed (the sum of its offsets); joins no group.

    Only the committed side is read: the embedded broker reports the end of a partition per batch."""
    consumer = KafkaConsumer(
        bootstrap_servers=embedded.kafka_bootstrap_servers, group_id=group, enable_auto_commit=False
    )
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        return sum(consumer.committed(tp) or 0 for tp in partitions)
    finally:
        consumer.close()


def test_a_notifier_killed_before_committing_does_not_send_again_on_restart(embedded, notifiers, gateway):
    prefix = "nt3."
    topic, group = Topics(prefix).events, f"{prefix}cf-notifier"
    handler = RecordingSmtp()
    smtp = SmtpServer(handler).start()
    try:
        first = notifiers.start(prefix, smtp.port, gateway.url, COMPLAINTFLOW_COMMIT_INTERVAL_S="600")
        events = [
            make_event(EventKind.acknowledged, language, email_only(language))
            for language in LANGUAGES
            for _ in range(4)
        ]
        publish(embedded, topic, events)
        wait_until(lambda: len(handler.received()) >= len(events), 30, "the first deliveries", first)
        store = redis_client(embedded)

        def all_confirmed() -> bool:
            return all(store.get(Keys.notification(e.event_id, "email")) == "sent" for e in events)

        wait_until(all_confirmed, 10, "every delivery confirmed in Redis", first)
        assert committed_records(embedded, group, topic) == 0, "offsets were committed before the kill"

        first.process.send_signal(signal.SIGKILL)
        first.process.wait(10)

        second = notifiers.start(prefix, smtp.port, gateway.url)
        # The new worker reads every event again and finds each one already sent.
        wait_until(lambda: metric(second, "email", "duplicate") >= len(events), 60, "every event re-read", second)
        assert hold(lambda: metric(second, "email", "sent") == 0, 1.0)
        assert metric(second, "email", "duplicate") == len(events)
        received = message_ids(handler.received())
        assert len(received) == len(events) and set(received.values()) == {1}
    finally:
        smtp.stop()


# --- 4. a bad address ---------------------------------------------------------------------------------------
def test_a_550_is_recorded_dead_lettered_and_not_retried(embedded, notifiers, gateway):
    prefix = "nt4."
    bad, good = email_only(Language.zh), email_only(Language.en)
    assert bad.email and good.email
    handler = RecordingSmtp(refuse=frozenset({bad.email}))
    smtp = SmtpServer(handler).start()
    events_reader = TopicReader(embedded, Topics(prefix).deliveries)
    dead_reader = TopicReader(embedded, Topics(prefix).deadletter)
    try:
        stack = notifiers.start(prefix, smtp.port, gateway.url)
        refused, accepted = (
            make_event(EventKind.acknowledged, Language.zh, bad),
            make_event(EventKind.acknowledged, Language.en, good),
        )
        publish(embedded, Topics(prefix).events, [refused, accepted])

        failed = events_reader.wait_for(
            lambda v: bool(events_about([v], refused.complaint_id, EventKind.notification_failed))
        )
        record = ComplaintEvent.model_validate_json(failed[0])
        assert record.details["failure"] == "permanent" and record.details["medium"] == "email"
        assert record.details["delivery"] == "email"  # the deprecated name, kept until schema_version 2
        assert record.details["for_event_id"] == refused.event_id
        [letter] = [DeadLetter.model_validate_json(v) for v in dead_reader.wait_for(lambda v: True)]
        assert letter.complaint_id == refused.complaint_id and letter.stage == "notifier.email"
        assert letter.attempts == 1 and "permanent" in letter.reason
        complaint = redis_client(embedded).hgetall(Keys.complaint(refused.complaint_id))
        assert complaint.get("last_notification_failure") == "email:SMTPRecipientsRefused"

        # The other customer is served over the same connection, and the refused address is never tried again.
        wait_until(lambda: handler.to(good.email or ""), 15, "the good address's e-mail", stack)
        assert hold(lambda: handler.rcpt_attempts[bad.email.lower()] == 1, 2.0)  # type: ignore[union-attr]
        assert metric(stack, "email", "retrying") == 0
        assert events_about(events_reader.poll(), accepted.complaint_id, EventKind.notification_sent)
    finally:
        events_reader.close()
        dead_reader.close()
        smtp.stop()


# --- 5. quiet hours -----------------------------------------------------------------------------------------
def test_quiet_hours_hold_an_sms_until_the_window_ends_but_urgent_ones_go_at_once(embedded, notifiers, gateway):
    prefix, zone = "nt5.", "Asia/Shanghai"
    local_now = datetime.now(ZoneInfo(zone))
    window_end = (local_now + timedelta(seconds=14)).replace(microsecond=0)
    window = f"{(local_now - timedelta(minutes=5)):%H:%M:%S}-{window_end:%H:%M:%S}"
    smtp = SmtpServer(RecordingSmtp()).start()
    try:
        stack = notifiers.start(prefix, smtp.port, gateway.url, COMPLAINTFLOW_QUIET_HOURS=window)
        quiet = make_event(EventKind.assigned, Language.zh, sms_only(Language.zh, timezone=zone))
        critical = make_event(
            EventKind.assigned, Language.zh, sms_only(Language.zh, timezone=zone), severity=Severity.critical
        )
        asks = make_event(EventKind.need_info, Language.en, sms_only(Language.en, timezone=zone))
        publish(embedded, Topics(prefix).events, [quiet, critical, asks])
        phone = {e.event_id: e.customer.phone for e in (quiet, critical, asks)}  # type: ignore[union-attr]

        def urgent_arrived() -> bool:
            return all(gateway.delivered(phone[e.event_id]) for e in (critical, asks))

        wait_until(urgent_arrived, 15, "the urgent SMS", stack)
        entries = redis_client(embedded).zrange(Keys.notify_scheduled(prefix), 0, -1, withscores=True)
        [score] = [s for e, s in entries if json.loads(e)["event"]["event_id"] == quiet.event_id]
        assert score == window_end.timestamp()
        until_morning = (window_end - datetime.now(UTC)).total_seconds()
        assert until_morning > 2, "the notifier took too long to start for this test"
        # Held for the rest of the window...
        assert hold(lambda: not gateway.delivered(phone[quiet.event_id]), until_morning - 0.5)

        # ...and sent once it is over.
        wait_until(lambda: gateway.delivered(phone[quiet.event_id]), 30, "the deferred SMS", stack)
        assert datetime.now(UTC) >= window_end
        assert len(gateway.attempts(phone[quiet.event_id])) == 1
        assert quiet.complaint_number in gateway.delivered(phone[quiet.event_id])[0]["text"]
    finally:
        smtp.stop()


# --- 6. SMS gateway answers --------------------------------------------------------------------------------
def test_sms_gateway_429_is_retried_and_400_is_recorded_without_retry(embedded, notifiers, gateway):
    prefix = "nt6."
    busy, wrong = sms_only(Language.zh), sms_only(Language.en)
    assert busy.phone and wrong.phone
    gateway.script = {busy.phone: [429], wrong.phone: [400]}
    smtp = SmtpServer(RecordingSmtp()).start()
    events_reader = TopicReader(embedded, Topics(prefix).deliveries)
    dead_reader = TopicReader(embedded, Topics(prefix).deadletter)
    try:
        stack = notifiers.start(prefix, smtp.port, gateway.url)
        later = make_event(EventKind.resolved, Language.zh, busy)
        never = make_event(EventKind.resolved, Language.en, wrong)
        publish(embedded, Topics(prefix).events, [later, never])

        wait_until(lambda: gateway.delivered(busy.phone), 15, "the SMS after a 429", stack)
        events_reader.wait_for(lambda v: bool(events_about([v], never.complaint_id, EventKind.notification_failed)))
        [letter] = [DeadLetter.model_validate_json(v) for v in dead_reader.wait_for(lambda v: True)]
        assert letter.complaint_id == never.complaint_id and letter.stage == "notifier.sms"

        def answered_as_scripted() -> bool:
            return gateway.attempts(busy.phone) == [429, 200] and gateway.attempts(wrong.phone) == [400]

        assert hold(answered_as_scripted, 2.0), (gateway.attempts(busy.phone), gateway.attempts(wrong.phone))
        assert events_about(events_reader.poll(), later.complaint_id, EventKind.notification_sent)
        assert metric(stack, "sms", "sent") == 1 and metric(stack, "sms", "failed") == 1
    finally:
        events_reader.close()
        dead_reader.close()
        smtp.stop()


# --- 3b. killed while retrying -----------------------------------------------------------------------------
class SilentServer:
    """Accepts TCP connections and never says a word, so an SMTP client hangs waiting for the greeting."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_server(("127.0.0.1", port), backlog=64)

    def close(self) -> None:
        self.sock.close()


def test_a_notifier_killed_while_retrying_loses_nothing(embedded, notifiers, gateway):
    prefix, port = "nt7.", free_port()
    topic, group = Topics(prefix).events, f"{prefix}cf-notifier"
    first = notifiers.start(prefix, port, gateway.url, smtp_up=False, COMPLAINTFLOW_NOTIFY_CLAIM_LEASE_S="2")
    events = [make_event(EventKind.acknowledged, language, email_only(language)) for language in LANGUAGES]
    publish(embedded, topic, events)
    wait_until(lambda: metric(first, "email", "retrying") >= len(events), 30, "a failed attempt each", first)
    # The events are committed: from now on only the retry schedule knows these messages are owed.
    wait_until(lambda: committed_records(embedded, group, topic) >= len(events), 30, "the commit", first)

    silent = SilentServer(port)
    store = redis_client(embedded)
    try:

        def sending() -> bool:
            return any((store.get(Keys.notification(e.event_id, "email")) or "").startswith("pending:") for e in events)

        wait_until(sending, 30, "a retry in the middle of sending", first)
        first.process.send_signal(signal.SIGKILL)
        first.process.wait(10)
    finally:
        silent.close()

    handler = RecordingSmtp()
    smtp = SmtpServer(handler).start()
    try:
        second = notifiers.start(prefix, smtp.port, gateway.url, COMPLAINTFLOW_NOTIFY_CLAIM_LEASE_S="2")
        wait_until(lambda: len(handler.received()) >= len(events), 30, "every e-mail after restart", second)
        assert hold(lambda: len(handler.received()) == len(events), 1.0)
        assert {m["To"].addresses[0].addr_spec for m in handler.received()} == {  # type: ignore[union-attr]
            e.customer.email for e in events
        }  # type: ignore[union-attr]
    finally:
        smtp.stop()
