"""Reading topics in tests: from the beginning, with no consumer group, stopping as soon as possible."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from kafka import KafkaConsumer, TopicPartition

Record = dict[str, Any]


def decoded(record: Any) -> Record:
    try:
        value = json.loads(record.value)
    except ValueError:
        value = {}
    if not isinstance(value, dict):
        value = {"_value": value}
    return {
        "_topic": record.topic,
        "_partition": record.partition,
        "_offset": record.offset,
        "_key": record.key,
        **value,
    }


def fields(record: Record) -> Record:
    """The record without the ``_topic``/``_partition``/... bookkeeping, ready for ``Model.model_validate``."""
    return {k: v for k, v in record.items() if not k.startswith("_")}


class TopicReader:
    def __init__(self, bootstrap: str, *topics: str) -> None:
        self.consumer = KafkaConsumer(
            bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False, auto_offset_reset="earliest"
        )
        self.partitions: list[TopicPartition] = []
        deadline = time.monotonic() + 10
        for topic in topics:
            partitions = self.consumer.partitions_for_topic(topic)
            while not partitions and time.monotonic() < deadline:
                time.sleep(0.1)
                partitions = self.consumer.partitions_for_topic(topic)
            assert partitions, f"topic {topic} has no partitions"
            self.partitions += [TopicPartition(topic, p) for p in sorted(partitions)]
        self.consumer.assign(self.partitions)
        self.consumer.seek_to_beginning(*self.partitions)

    def poll(self, timeout_ms: int = 200) -> list[Record]:
        batch = self.consumer.poll(timeout_ms=timeout_ms)
        return [decoded(r) for records in batch.values() for r in records]

    def wait_for(self, match: Callable[[Record], bool], count: int = 1, timeout: float = 30.0) -> list[Record]:
        """The matching records once ``count`` of them arrived, or whatever matched by the timeout."""
        found: list[Record] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and len(found) < count:
            found.extend(r for r in self.poll() if match(r))
        return found

    def read_to_end(self, match: Callable[[Record], bool], timeout: float = 15.0) -> list[Record]:
        """Every matching record up to the end of the topics as they are now.

        The end is the high-water mark carried in fetch responses; the broker's latest-offset answer is not
        trusted (it can point inside the last batch).
        """
        found: list[Record] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found.extend(r for r in self.poll())
            behind = [
                tp
                for tp in self.partitions
                if self.consumer.highwater(tp) is None or self.consumer.position(tp) < self.consumer.highwater(tp)
            ]
            if not behind:
                break
        return [r for r in found if match(r)]

    def close(self) -> None:
        self.consumer.close()


def wait_for_records(
    bootstrap: str, topic: str, match: Callable[[Record], bool], count: int = 1, timeout: float = 30.0
) -> list[Record]:
    reader = TopicReader(bootstrap, topic)
    try:
        return reader.wait_for(match, count, timeout)
    finally:
        reader.close()


def records_now(bootstrap: str, topic: str, match: Callable[[Record], bool]) -> list[Record]:
    reader = TopicReader(bootstrap, topic)
    try:
        return reader.read_to_end(match)
    finally:
        reader.close()
