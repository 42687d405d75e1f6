"""Scenario 3: the SMTP server and the SMS gateway are down for a while under load.

Every message reaches the customer after recovery, in event order per complaint, none twice. The outage
lasts ``COMPLAINTFLOW_SOAK_OUTAGE_S`` seconds (20 in the regular suite, to keep it short; the issue's 60 s
is what ``make soak`` uses). The notifier retries every 0.2 s doubling up to 3 s, so recovery is quick.
"""

from __future__ import annotations

import os
import time
import uuid
from collections import defaultdict
from datetime import UTC, date, datetime

import pytest
from kafka import KafkaProducer

from kernel.topics import Topics
from schemas import (
    Channel,
    ComplaintEvent,
    ContactChannel,
    Customer,
    Department,
    EventKind,
    Language,
    Severity,
    complaint_number_for,
    event_id_for,
    stable_id,
)
from services.notifier.render import message_id_for, thread_root_id
from tests.conftest import stack_env, start_stack, stop_stack
from tests.delivery_servers import RecordingSmtp, SmsGateway, SmtpServer
from tests.reliability.support import MESSAGE_ID_DOMAIN, Tally, delivery_env, http_status, settle

pytestmark = [pytest.mark.integration, pytest.mark.reliability]

OUTAGE_S = float(os.environ.get("COMPLAINTFLOW_SOAK_OUTAGE_S", "20"))
COMPLAINTS = int(os.environ.get("COMPLAINTFLOW_SOAK_NOTIFY_COMPLAINTS", "120"))
# Each complaint's customer hears about these, in this order; they are published before, during and after
# the outage.
SEQUENCE = (EventKind.acknowledged, EventKind.in_progress, EventKind.resolved)


def event(complaint_id: str, kind: EventKind, who: Customer, language: Language) -> ComplaintEvent:
    return ComplaintEvent(
        event_id=event_id_for(complaint_id, kind.value, "1"),
        kind=kind,
        complaint_id=complaint_id,
        complaint_number=complaint_number_for(complaint_id, date(2026, 11, 22)),
        occurred_at=datetime.now(UTC),
        channel=Channel.webform,
        language=language,
        department=Department.cards,
        severity=Severity.medium,
        customer=who,
        details={"outcome": "年费已退回" if language == Language.zh else "the fee was refunded"},
    )


def customer(serial: int) -> Customer:
    if serial % 2:
        return Customer(name="王芳", email=f"wang.fang.{serial}@example.cn", preferred_contact=ContactChannel.email)
    return Customer(name="Oliver Bennett", phone=f"+8613900{serial:06d}", preferred_contact=ContactChannel.sms)


def test_mail_and_sms_held_back_by_outages_arrive_once_in_order(embedded, summary, scenario_dir):
    prefix = "rl3."
    handler, gateway = RecordingSmtp(), SmsGateway()
    smtp = SmtpServer(handler).start()
    env = stack_env(
        embedded,
        scenario_dir,
        prefix,
        **delivery_env(smtp, gateway),
        COMPLAINTFLOW_NOTIFY_RETRY_BASE_S="0.2",
        COMPLAINTFLOW_NOTIFY_RETRY_CAP_S="3",
        COMPLAINTFLOW_NOTIFY_MAX_ATTEMPTS="1000",
    )
    stack = start_stack(["notifier"], env, scenario_dir)
    producer = KafkaProducer(bootstrap_servers=embedded.kafka_bootstrap_servers, acks="all")
    run = uuid.uuid4().hex[:8]
    complaints = [
        (f"cmp_{run}{serial:016d}", customer(serial), Language.zh if serial % 3 else Language.en)
        for serial in range(COMPLAINTS)
    ]
    # Where each message must arrive, and which position it has in its complaint's sequence.
    position: dict[str, tuple[str, int]] = {}
    for complaint_id, who, _ in complaints:
        for index, kind in enumerate(SEQUENCE):
            event_id = event_id_for(complaint_id, kind.value, "1")
            if not who.email:
                key = stable_id("sms", event_id)
            elif kind == EventKind.acknowledged:  # a web-form complaint's thread starts with its acknowledgement
                key = thread_root_id(complaint_id, MESSAGE_ID_DOMAIN)
            else:
                key = message_id_for(event_id, "email", MESSAGE_ID_DOMAIN)
            position[key] = (complaint_id, index)

    def publish(step: int) -> None:
        for complaint_id, who, language in complaints:
            published = event(complaint_id, SEQUENCE[step], who, language)
            producer.send(Topics(prefix).events, key=complaint_id.encode(), value=published.model_dump_json().encode())
        producer.flush()

    def arrivals() -> list[str]:
        mails = [str(m["Message-ID"]) for m in handler.received()]
        return mails + [str(body["message_id"]) for body in gateway.received()]

    try:
        publish(0)
        time.sleep(1.0)  # some acknowledgements go out before the outage, the rest are caught by it
        smtp.stop()
        gateway.down = True
        publish(1)
        time.sleep(OUTAGE_S / 2)
        publish(2)
        assert http_status(stack, "/healthz") == 200, "an SMTP outage is no reason to restart the notifier"
        time.sleep(OUTAGE_S / 2)
        smtp.start()
        gateway.down = False
        back = time.monotonic()
        settle(lambda: len(set(arrivals())) >= len(position), 90)
        recovery_s = time.monotonic() - back
        time.sleep(2.0)  # a second copy would have had time to arrive

        received = arrivals()
        sequences: dict[str, list[int]] = defaultdict(list)
        for key in received:
            complaint_id, index = position[key]
            sequences[complaint_id].append(index)
        duplicated = len(received) - len(set(received))
        out_of_order = [cid for cid, seen in sequences.items() if seen != sorted(seen)]
        figures = Tally(
            offered=len(position),
            delivered=len(set(received)),
            lost=len(position) - len(set(received)),
            duplicated=duplicated,
            extra={
                "out_of_order_complaints": len(out_of_order),
                "refused_during_outage": gateway.refused,
                "outage_s": int(OUTAGE_S),
                "recovery_s": round(recovery_s),
            },
        )
        print(summary.record("smtp_sms_outage", figures))
        assert stack.process.poll() is None
        assert figures.lost == 0 and figures.duplicated == 0
        assert not out_of_order, {cid: sequences[cid] for cid in out_of_order[:5]}
        assert gateway.refused > 0, "the SMS outage was not noticed"
    finally:
        producer.close()
        stop_stack(stack)
        smtp.stop()
        gateway.close()
