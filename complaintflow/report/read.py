"""Reads the ledger's topics from the beginning (an edge: kafka-python, no consumer group).

The end of each partition is the high-water mark carried by fetch responses: some brokers answer the
latest-offset request with the base offset of the last batch, which would stop the read short.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from kafka import KafkaConsumer, TopicPartition
from pydantic import ValidationError

from kernel.kafka import security_options
from kernel.progress import progress
from kernel.topics import Topics
from schemas import ComplaintEvent, RoutedComplaint, StatusUpdate

log = logging.getLogger(__name__)


@dataclass
class EventLog:
    routed: list[RoutedComplaint] = field(default_factory=list)
    statuses: list[StatusUpdate] = field(default_factory=list)
    events: list[ComplaintEvent] = field(default_factory=list)
    unreadable: int = 0


def read_event_log(bootstrap: str, topics: Topics, idle_timeout_s: float = 5.0, batch: int = 5000) -> EventLog:
    """Every record of the routed, status, events and deliveries topics, up to each partition's high-water mark."""
    models = {
        topics.routed: RoutedComplaint,
        topics.status: StatusUpdate,
        topics.events: ComplaintEvent,
        topics.deliveries: ComplaintEvent,
    }
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        client_id="complaintflow-report",
        max_poll_records=batch,
        **security_options(),
    )
    found = EventLog()
    sinks: dict[str, list] = {
        topics.routed: found.routed,
        topics.status: found.statuses,
        topics.events: found.events,
        topics.deliveries: found.events,
    }
    try:
        partitions = _partitions(consumer, list(models))
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        estimate = sum(consumer.end_offsets(partitions).values())  # a lower bound; fetches correct it
        with progress() as bar:
            task = bar.add_task("reading the event log", total=max(estimate, 1))
            last_record = time.monotonic()
            read = 0
            while not _caught_up(consumer, partitions):
                polled = consumer.poll(timeout_ms=500)
                for tp, records in polled.items():
                    model = models[tp.topic]
                    for record in records:
                        try:
                            sinks[tp.topic].append(model.model_validate_json(record.value))
                        except ValidationError:
                            found.unreadable += 1
                    read += len(records)
                if polled:
                    last_record = time.monotonic()
                elif time.monotonic() - last_record > idle_timeout_s:
                    log.warning("event log read stopped on idle before the high-water mark")
                    break
                known = sum(consumer.highwater(tp) or 0 for tp in partitions)
                bar.update(task, completed=read, total=max(known, estimate, read, 1))
    finally:
        consumer.close()
    if found.unreadable:
        log.warning("unreadable records skipped", extra={"count": found.unreadable})
    return found


def _partitions(consumer: KafkaConsumer, names: list[str], timeout_s: float = 30.0) -> list[TopicPartition]:
    deadline = time.monotonic() + timeout_s
    found: list[TopicPartition] = []
    for name in names:
        partitions = consumer.partitions_for_topic(name)
        while partitions is None and time.monotonic() < deadline:
            time.sleep(0.2)
            partitions = consumer.partitions_for_topic(name)
        found.extend(TopicPartition(name, p) for p in sorted(partitions or ()))
    return found


def _caught_up(consumer: KafkaConsumer, partitions: list[TopicPartition]) -> bool:
    for tp in partitions:
        highwater = consumer.highwater(tp)
        if highwater is None or consumer.position(tp) < highwater:
            return False
    return True
