"""Counting what came out of the pipeline: department topics, acknowledgements on every channel.

Everything is counted, nothing assumed: each complaint id seen on a department topic, each routing id
after the department client's dedupe, and each acknowledgement per complaint and channel (e-mail at the
bench's own SMTP sink, SMS in the outbox file, social suggestions on ``notifications.social``).
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from aiosmtpd.controller import Controller

from kernel.embedded import free_port
from tools.bench.ceilings import reader
from tools.bench.workload import BenchComplaint

# Arrival is the record's own timestamp, not the moment it is read, so the observer reads in large, infrequent
# fetches: the bench shares the machine with the workers it measures.
OBSERVER_FETCH_BYTES = 512 * 1024
OBSERVER_WAIT_MS = 250
_ROUTING_ID = re.compile(rb'"routing_id":\s*"([^"]+)"')
_EVENT_ID = re.compile(rb'"event_id":\s*"([^"]+)"')
# An acknowledgement's Message-ID: its event's id, or, when the customer did not write by e-mail, the id of the
# complaint's thread that every later notification refers to.
_MESSAGE_ID = re.compile(rb"(?im)^Message-ID:\s*<([^.>]+)\.(?:email|thread)@")
# How a DepartmentRecord (follow-up, SLA alert, escalation; not a routing) begins on a department topic.
_DEPARTMENT_NOTICE = b'{"schema_version":1,"kind":"'
_COMPLAINT_ID = re.compile(rb'"complaint_id":\s*"([^"]+)"')
_KIND = re.compile(rb'"kind":\s*"([^"]+)"')


@dataclass
class Tally:
    """Per complaint index: first arrival times and counts. Guarded by ``lock``; read at the end."""

    count: int
    lock: threading.Lock = field(default_factory=threading.Lock)
    department_at: dict[int, float] = field(default_factory=dict)
    routings: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))  # (topic, routing id)
    department_ids_by_topic: dict[tuple[str, int], set[str]] = field(default_factory=lambda: defaultdict(set))
    ack_at: dict[int, float] = field(default_factory=dict)
    acks: dict[tuple[int, str], int] = field(default_factory=lambda: defaultdict(int))  # (index, channel)
    redelivered_records: int = 0
    unknown_records: int = 0

    def department(self, index: int, topic: str, routing_id: str, at: float) -> None:
        with self.lock:
            self.routings[(topic, routing_id)] += 1
            if self.routings[(topic, routing_id)] > 1:
                self.redelivered_records += 1  # the department client drops it
                return
            self.department_ids_by_topic[(topic, index)].add(routing_id)
            self.department_at[index] = min(at, self.department_at.get(index, at))

    def ack(self, index: int, channel: str, at: float) -> None:
        with self.lock:
            self.acks[(index, channel)] += 1
            self.ack_at[index] = min(at, self.ack_at.get(index, at))

    @property
    def done(self) -> bool:
        return len(self.department_at) >= self.count and len(self.ack_at) >= self.count

    def summary(self) -> dict[str, int]:
        with self.lock:
            routed_twice = sum(len(ids) - 1 for ids in self.department_ids_by_topic.values())
            acked_twice = sum(n - 1 for n in self.acks.values())
            return {
                "department_complaints": len(self.department_at),
                "acknowledged_complaints": len(self.ack_at),
                "lost_department": self.count - len(self.department_at),
                "lost_ack": self.count - len(self.ack_at),
                "duplicated_department": routed_twice,
                "duplicated_ack": acked_twice,
                "redelivered_records_dropped_by_dedupe": self.redelivered_records,
                "unknown_records": self.unknown_records,
            }


class CountingSink:
    """aiosmtpd handler: accepts every message and counts acknowledgements by their stable Message-ID."""

    def __init__(self, tally: Tally, by_event: dict[str, int]) -> None:
        self.tally = tally
        self.by_event = by_event
        self.accepted = 0

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        at = time.time()
        data: bytes = envelope.original_content or envelope.content or b""  # type: ignore[attr-defined]
        self.accepted += 1
        found = _MESSAGE_ID.search(data[:8192])
        index = self.by_event.get(found.group(1).decode()) if found else None
        if index is not None:
            self.tally.ack(index, "email", at)
        return "250 Message accepted for delivery"


def start_sink(handler: CountingSink) -> Controller:
    controller = Controller(handler, hostname="127.0.0.1", port=free_port(), ready_timeout=10)
    controller.start()
    return controller


class Observer(threading.Thread):
    """Reads the department topics and the social suggestions, and tails the SMS outbox, into a Tally."""

    def __init__(
        self,
        bootstrap: str,
        department_topics: list[str],
        social_topic: str,
        sms_outbox: Path,
        workload: list[BenchComplaint],
        tally: Tally,
    ) -> None:
        super().__init__(name="bench-observer", daemon=True)
        self.consumer = reader(
            bootstrap,
            [*department_topics, social_topic],
            fetch_min_bytes=OBSERVER_FETCH_BYTES,
            fetch_max_wait_ms=OBSERVER_WAIT_MS,
        )
        self.social_topic = social_topic
        self.sms_outbox = sms_outbox
        self.tally = tally
        self.by_complaint = {c.complaint_id.encode(): c.index for c in workload}
        self.by_event = {c.ack_event_id.encode(): c.index for c in workload}
        self.by_sms = {c.sms_message_id: c.index for c in workload}
        self._sms_offset = 0
        self._halt = threading.Event()

    def stop(self) -> None:
        self._halt.set()
        self.join(10)
        self.consumer.close()

    def run(self) -> None:
        while not self._halt.is_set():
            for records in self.consumer.poll(timeout_ms=OBSERVER_WAIT_MS).values():
                for record in records:
                    self._record(record)
            self._tail_sms()

    def _record(self, record: object) -> None:
        value: bytes = record.value or b""  # type: ignore[attr-defined]
        at = record.timestamp / 1000  # type: ignore[attr-defined]
        if record.topic == self.social_topic:  # type: ignore[attr-defined]
            found = _EVENT_ID.search(value)
            index = self.by_event.get(found.group(1)) if found else None
            if index is not None:
                self.tally.ack(index, "social", at)
            return
        if value.startswith(_DEPARTMENT_NOTICE):
            return  # not a routing: the bench counts complaints reaching their department
        index = self.by_complaint.get(record.key or b"")  # type: ignore[attr-defined]
        found = _ROUTING_ID.search(value)
        if index is None or found is None:
            self.tally.unknown_records += 1
            return
        self.tally.department(index, record.topic, found.group(1).decode(), at)  # type: ignore[attr-defined]

    def _tail_sms(self) -> None:
        try:
            with self.sms_outbox.open("rb") as outbox:
                outbox.seek(self._sms_offset)
                chunk = outbox.read()
        except FileNotFoundError:
            return
        complete = chunk.rfind(b"\n") + 1
        self._sms_offset += complete
        for line in chunk[:complete].splitlines():
            try:
                sms = json.loads(line)
            except ValueError:
                continue
            index = self.by_sms.get(sms.get("message_id", ""))
            if index is not None:
                at = _epoch(sms.get("at"))
                self.tally.ack(index, "sms", at if at is not None else time.time())


def _epoch(text: str | None) -> float | None:
    from datetime import datetime

    try:
        return datetime.fromisoformat(text).timestamp() if text else None
    except ValueError:
        return None


def events_of(bootstrap: str, topics: list[str], complaint_ids: set[str]) -> dict[str, dict[str, int]]:
    """For each of ``complaint_ids``, how many records of each kind its complaint has on the events and deliveries
    topics.

    Says where a missing acknowledgement was lost: never published (no ``acknowledged``), or published and not
    delivered (``acknowledged`` but no ``notification_sent``)."""
    wanted = {c.encode() for c in complaint_ids}
    found: dict[str, dict[str, int]] = {c: defaultdict(int) for c in complaint_ids}
    consumer = reader(bootstrap, topics, consumer_timeout_ms=1500)
    try:
        for record in consumer:
            value: bytes = record.value or b""
            complaint = _COMPLAINT_ID.search(value)
            if complaint is None or complaint.group(1) not in wanted:
                continue
            kind = _KIND.search(value)
            found[complaint.group(1).decode()][kind.group(1).decode() if kind else "?"] += 1
    finally:
        consumer.close()
    return {c: dict(kinds) for c, kinds in found.items()}
