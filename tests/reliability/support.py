"""What the reliability scenarios share: counting servers, a load generator, and the department's view.

Every figure a scenario reports is counted here, from what a real SMTP server, a real HTTP SMS gateway and a
kafka-python reader of the department topics (applying ``DepartmentClient``'s dedupe) actually received.
"""

from __future__ import annotations

import os
import threading
import time
import urllib.request
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from kernel.kafka import ensure_topics
from kernel.topics import Topics
from schemas import Channel, Department, RoutedComplaint, complaint_id_for, event_id_for, stable_id
from services.intake.publisher import ComplaintPublisher
from services.notifier.render import message_id_for, thread_root_id
from tests.conftest import RunningStack
from tests.delivery_servers import RecordingSmtp, SmsGateway, SmtpServer
from tests.kafka_support import TopicReader, records_now

T = TypeVar("T")
NO_QUIET_HOURS = "00:00-00:00"


def delivery_env(smtp: SmtpServer, gateway: SmsGateway | None = None) -> dict[str, str]:
    """Settings that send a scenario's notifications to its own SMTP server (and SMS gateway), quiet hours off."""
    env = {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(smtp.port), "COMPLAINTFLOW_QUIET_HOURS": NO_QUIET_HOURS}
    if gateway is not None:
        env["SMS_GATEWAY_URL"] = gateway.url
    return env


MESSAGE_ID_DOMAIN = "bank.example"  # the domain of the default COMPLAINTFLOW_MAIL_FROM


# --- waiting -----------------------------------------------------------------------------------------------
def settle(condition: Callable[[], object], timeout: float) -> bool:
    """True once ``condition`` holds, False at the timeout (the caller's tally then says what is missing)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def http_status(stack: RunningStack, path: str, timeout: float = 5.0) -> int | None:
    """The status a GET answers, or None when nothing answers at all."""
    try:
        with urllib.request.urlopen(stack.http_url + path, timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as err:
        return int(err.code)
    except OSError:
        return None


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


# --- real servers ------------------------------------------------------------------------------------------
# --- load ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Offered:
    """One complaint handed to the system, and how its acknowledgement is expected to reach the customer."""

    complaint_id: str
    channel: Channel
    ack_by: str  # "email", "sms" or "social"

    @property
    def ack_event_id(self) -> str:
        return event_id_for(self.complaint_id, "acknowledged", "1")

    @property
    def ack_email_id(self) -> str:
        # A complaint that came by e-mail is answered under the event's id; any other opens a thread of its own.
        if self.channel == Channel.email:
            return message_id_for(self.ack_event_id, "email", MESSAGE_ID_DOMAIN)
        return thread_root_id(self.complaint_id, MESSAGE_ID_DOMAIN)

    @property
    def ack_sms_id(self) -> str:
        return stable_id("sms", self.ack_event_id)


DESCRIPTIONS = (
    "手机银行转账失败但是钱被扣了{n}元，客服一直没有回复，请尽快处理。",
    "My credit card annual fee of {n} yuan was charged twice this month, please refund it.",
    "网点柜员态度很差，办理业务排队两个小时，还多收了我{n}元手续费。",
    "The mortgage repayment of {n} yuan was debited twice from my account and nobody answers my calls.",
)


class LoadGenerator:
    """Publishes complaints of every channel to the raw topics, as a Kafka channel adapter would."""

    def __init__(self, bootstrap: str, prefix: str, run_tag: str, channels: tuple[Channel, ...] = tuple(Channel)):
        self.publisher = ComplaintPublisher(bootstrap, topic_prefix=prefix, source="reliability")
        self.run_tag = run_tag
        self.channels = channels
        self.offered: list[Offered] = []

    def publish(self, count: int, per_second: float | None = None, stop: threading.Event | None = None) -> None:
        """Up to ``count`` complaints, at ``per_second`` if given, until ``stop`` is set."""
        started = time.monotonic()
        for _ in range(count):
            if stop is not None and stop.is_set():
                break
            serial = len(self.offered)
            self.offered.append(self._one(serial, self.channels[serial % len(self.channels)]))
            if per_second:
                lag = started + (serial + 1) / per_second - time.monotonic()
                if lag > 0:
                    time.sleep(lag)
        self.publisher.flush()

    def _one(self, serial: int, channel: Channel) -> Offered:
        tag = f"{self.run_tag}{serial:06d}"
        text = DESCRIPTIONS[serial % len(DESCRIPTIONS)].format(n=100 + serial % 9000)
        if channel == Channel.webform:
            message_id = f"rl-{tag}"
            self.publisher.publish_webform(
                {
                    "submission_id": message_id,
                    "name": "李娜" if serial % 2 else "Emma Clarke",
                    "email": f"customer.{tag}@example.cn",
                    "description": text,
                    "preferred_contact": "email",
                    "consent": True,
                },
                message_id=message_id,
            )
            return Offered(complaint_id_for(Channel.webform, message_id), channel, "email")
        if channel == Channel.email:
            message_id = f"<{tag}@mail.example.com>"
            raw = (
                f"From: Customer {tag} <mail.{tag}@example.com>\r\nTo: tousu@bank.example\r\n"
                f"Subject: complaint {tag}\r\nMessage-ID: {message_id}\r\nMIME-Version: 1.0\r\n"
                'Content-Type: text/plain; charset="utf-8"\r\nContent-Transfer-Encoding: 8bit\r\n\r\n'
                f"{text}\r\n"
            ).encode()
            self.publisher.publish_email(raw)
            return Offered(complaint_id_for(Channel.email, message_id), channel, "email")
        if channel == Channel.hotline:
            call_id = f"CALL-{tag}"
            self.publisher.publish_hotline(
                {
                    "call_id": call_id,
                    "caller_number": f"1391{serial % 10_000_000:07d}",
                    "started_at": "2026-11-22T09:31:05+08:00",
                    "language": "zh",
                    "turns": [{"speaker": "customer", "text": text, "confidence": 0.93}],
                }
            )
            return Offered(complaint_id_for(Channel.hotline, call_id), channel, "sms")
        post_id = f"49{serial:014d}{self.run_tag}"
        self.publisher.publish_social(
            {"platform": "weibo", "post_id": post_id, "author_handle": f"fan_{tag}", "text": text, "is_public": True}
        )
        return Offered(complaint_id_for(Channel.social, f"weibo:{post_id}"), channel, "social")

    def close(self) -> None:
        self.publisher.close()


# --- what the departments and the customers received ------------------------------------------------------
@dataclass
class DepartmentView:
    """Every department topic read as ``DepartmentClient`` reads it: repeats of a routing id are dropped."""

    bootstrap: str
    prefix: str
    seen_routings: set[str] = field(default_factory=set)
    deliveries: dict[str, list[RoutedComplaint]] = field(default_factory=lambda: defaultdict(list))
    wire_repeats: int = 0

    def __post_init__(self) -> None:
        topics = Topics(self.prefix)
        ensure_topics(self.bootstrap, topics.all(6))
        self.topic_of = {topics.department(d): d for d in Department}
        self.reader = TopicReader(self.bootstrap, *self.topic_of)

    def poll(self) -> None:
        for record in self.reader.poll(500):
            if "kind" in record:
                continue  # a DepartmentRecord (follow-up, SLA alert, escalation), not a routing
            routed = RoutedComplaint.model_validate({k: v for k, v in record.items() if not k.startswith("_")})
            if self.topic_of[record["_topic"]] != routed.department:
                continue  # the escalation copy on a second department's topic
            if routed.routing_id in self.seen_routings:
                self.wire_repeats += 1
                continue
            self.seen_routings.add(routed.routing_id)
            self.deliveries[routed.complaint.complaint_id].append(routed)

    def close(self) -> None:
        self.reader.close()


@dataclass
class Tally:
    offered: int
    delivered: int
    lost: int
    duplicated: int
    extra: dict[str, int] = field(default_factory=dict)


def tally(
    offered: list[Offered],
    view: DepartmentView,
    smtp: RecordingSmtp | None,
    sms: SmsGateway | None,
    social: Counter[str] | None = None,
) -> tuple[Tally, list[str]]:
    """Departments: each offered complaint delivered once. Customers: each acknowledgement sent once (by medium).

    ``social`` counts the reply suggestions on the social notifications topic by event id; without it, social
    acknowledgements are not checked. A repeated suggestion is not a second reply (the social team's tool keys
    them by event id), so only e-mail and SMS repeats count as duplicated acknowledgements."""
    problems: list[str] = []
    mails = smtp.by_message_id() if smtp else Counter()
    texts = sms.by_message_id() if sms else Counter()
    by_medium: Counter[str] = Counter()
    delivered = lost = duplicated = acked = ack_lost = ack_repeated = 0
    for item in offered:
        routings = view.deliveries.get(item.complaint_id, [])
        if not routings:
            lost += 1
            problems.append(f"{item.channel.value} complaint {item.complaint_id} never reached a department")
            continue
        delivered += 1
        if len(routings) > 1:
            duplicated += 1
            problems.append(f"{item.complaint_id} delivered {len(routings)} times")
        copies = {
            "email": mails[item.ack_email_id],
            "sms": texts[item.ack_sms_id],
            "social": social[item.ack_event_id] if social is not None else None,
        }.get(item.ack_by)
        if copies is None:
            continue
        if copies == 0:
            ack_lost += 1
            problems.append(f"{item.complaint_id}: no acknowledgement by {item.ack_by}")
        else:
            acked += 1
            by_medium[item.ack_by] += 1
            ack_repeated += copies > 1 and item.ack_by != "social"
    extra = {"acknowledged": acked, "ack_lost": ack_lost, "ack_duplicated": ack_repeated}
    extra.update({f"acknowledged_{medium}": count for medium, count in sorted(by_medium.items())})
    return Tally(len(offered), delivered, lost, duplicated, extra), problems


def expected_acks(offered: list[Offered], media: tuple[str, ...] = ("email", "sms")) -> int:
    return sum(1 for item in offered if item.ack_by in media)


def social_replies(bootstrap: str, prefix: str) -> Counter[str]:
    """Reply suggestions on the social notifications topic, counted by the event they answer."""
    return Counter(r.get("event_id", "") for r in records_now(bootstrap, Topics(prefix).notifications_social, bool))


def walk_text_files(root: Path) -> list[Path]:
    return [Path(folder) / name for folder, _, names in os.walk(root) for name in names]
