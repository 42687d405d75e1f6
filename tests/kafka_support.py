"""Topics in tests: reading them from the beginning, with no consumer group, stopping as soon as possible; and the
workers' outbox over a real producer, with a read-back of what each test published."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

from kafka import KafkaConsumer, TopicPartition

from kernel.kafka import create_all_topics, producer
from kernel.settings import Settings
from kernel.topics import Topics

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
    def __init__(self, bootstrap: str, *topics: str, **options: Any) -> None:
        self.consumer = KafkaConsumer(
            bootstrap_servers=bootstrap,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            **options,
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


class KafkaOutbox:
    """The workers' outbox contract (``send``, ``send_and_wait``, ``app.conf.producer_max_request_size``, which the
    stage reads to size dead letters) over a real kafka-python producer on the session's broker.

    ``send`` is buffered like the workers' outbox; ``flush`` waits for every acknowledgement. The end offset the
    broker acknowledged on each partition is kept, so a reader knows how far it must read to see all of it.
    """

    def __init__(self, bootstrap: str, max_request_size: int | None = None) -> None:
        size = max_request_size or Settings(_env_file=None).kafka_max_record_bytes  # type: ignore[call-arg]
        self._producer = producer(bootstrap, max_request_size=size)
        self.app = SimpleNamespace(conf=SimpleNamespace(producer_max_request_size=size))
        self.acknowledged: dict[TopicPartition, int] = {}  # partition -> offset after the last acknowledged record
        self.sends = 0

    def _acknowledge(self, metadata: Any) -> None:
        partition = TopicPartition(metadata.topic, metadata.partition)
        self.acknowledged[partition] = max(self.acknowledged.get(partition, 0), metadata.offset + 1)

    async def send(self, topic: str, key: str | bytes | None, value: bytes) -> None:
        raw = key.encode() if isinstance(key, str) else key
        self.sends += 1
        self._producer.send(topic, key=raw, value=value).add_callback(self._acknowledge)

    async def send_and_wait(self, topic: str, key: str | bytes | None, value: bytes) -> None:
        raw = key.encode() if isinstance(key, str) else key
        self.sends += 1
        metadata = await asyncio.to_thread(lambda: self._producer.send(topic, key=raw, value=value).get(timeout=30))
        self._acknowledge(metadata)

    def flush(self) -> None:
        self._producer.flush(30)

    def close(self) -> None:
        self._producer.close(timeout=5)


class TopicsOnBroker:
    """Every topic of one prefix, created on the session's broker, with one producer and one reader for them: made
    once per test module (creating topics and catching a reader up cost more than a test)."""

    def __init__(self, bootstrap: str, prefix: str) -> None:
        settings = Settings(_env_file=None).with_overrides(topic_prefix=prefix)  # type: ignore[call-arg]
        create_all_topics(settings, bootstrap)
        self.topics = Topics(prefix)
        self.outbox = KafkaOutbox(bootstrap, settings.kafka_max_record_bytes)
        self._reader = TopicReader(bootstrap, *self.topics.all(settings.topic_partitions), fetch_max_wait_ms=10)
        self._read_after: int | None = None  # the producer's send count when the reader last reached the end
        self._log: list[tuple[str, bytes]] = []  # every record read so far as (topic, value), per partition in order

    def read(self, timeout: float = 15.0) -> list[tuple[str, bytes]]:
        """Every record on the prefix's topics, read from the beginning up to the end: past each offset the producer
        was acknowledged for and up to the high-water mark of every partition. Only this producer writes under the
        prefix: with nothing sent since the last read, that read is still the end."""
        if self._read_after == self.outbox.sends:
            return list(self._log)
        sends = self.outbox.sends
        self.outbox.flush()
        consumer, deadline = self._reader.consumer, time.monotonic() + timeout
        while True:
            batch = consumer.poll(timeout_ms=50)
            self._log.extend((r.topic, r.value) for records in batch.values() for r in records)
            behind = [
                tp
                for tp in self._reader.partitions
                if consumer.position(tp) < max(consumer.highwater(tp) or 0, self.outbox.acknowledged.get(tp, 0))
                or consumer.highwater(tp) is None
            ]
            if not behind:
                self._read_after = sends
                return list(self._log)
            assert time.monotonic() < deadline, f"could not read to the end of {len(behind)} partitions"

    def capture(self) -> BrokerOutbox:
        """An outbox for one test: what it reports is what reached the topics after it was made."""
        return BrokerOutbox(self, len(self.read()))

    def close(self) -> None:
        self._reader.close()
        self.outbox.close()


class BrokerOutbox:
    """The outbox a test hands to the code under test: it sends to the real broker, and reads back, per topic, what
    was published there since the test began."""

    def __init__(self, broker: TopicsOnBroker, start: int) -> None:
        self.broker, self.start = broker, start
        self.topics = broker.topics
        self.app = broker.outbox.app

    async def send(self, topic: str, key: str | bytes | None, value: bytes) -> None:
        await self.broker.outbox.send(topic, key, value)

    async def send_and_wait(self, topic: str, key: str | bytes | None, value: bytes) -> None:
        await self.broker.outbox.send_and_wait(topic, key, value)

    def published(self) -> list[tuple[str, bytes]]:
        """``(topic, value)`` of every record published since the test began."""
        return self.broker.read()[self.start :]

    def on(self, topic: str) -> list[bytes]:
        return [value for sent_to, value in self.published() if sent_to == topic]

    def since_now(self) -> BrokerOutbox:
        """The same outbox, reporting only what is published from now on."""
        return BrokerOutbox(self.broker, len(self.broker.read()))
