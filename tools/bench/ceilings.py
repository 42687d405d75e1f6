"""What the machine can do at all, measured on the same broker in the same run.

- Broker ceiling: kafka-python (the adapters' client) producing, then consuming, N raw-sized records.
- Framework ceiling: a faust agent in its own process passing records from one topic to another, with the
  workers' own app settings; nothing else. Its CPU per record (the agent's and the embedded broker's) is what
  every record a complaint moves costs at the least.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kafka import KafkaConsumer, TopicPartition

from kernel.embedded import _die_with_parent
from kernel.kafka import producer

Tick = Callable[[int], None]
CpuProbe = Callable[[], dict[str, float]]  # CPU seconds so far of each process that takes part


@dataclass(frozen=True)
class FrameworkCeiling:
    per_s: float
    records: int
    cpu_seconds: dict[str, float]  # of each probed process, from the first publish to the last record out

    def cpu_ms_per_record(self) -> dict[str, float]:
        return {name: round(cpu * 1000 / max(1, self.records), 4) for name, cpu in self.cpu_seconds.items()}


@dataclass(frozen=True)
class BrokerCeiling:
    produce_per_s: float
    consume_per_s: float


def _partitions(consumer: KafkaConsumer, topic: str, timeout_s: float = 15.0) -> list[TopicPartition]:
    deadline = time.monotonic() + timeout_s
    while True:
        found = consumer.partitions_for_topic(topic)
        if found:
            return [TopicPartition(topic, p) for p in sorted(found)]
        if time.monotonic() > deadline:
            raise TimeoutError(f"topic {topic} has no partitions")
        time.sleep(0.1)


def reader(bootstrap: str, topics: list[str], **options: Any) -> KafkaConsumer:
    """A group-less consumer assigned to every partition of ``topics`` from the beginning (``options`` go to
    ``KafkaConsumer``: ``consumer_timeout_ms`` makes iterating it end once nothing came for that long)."""
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=2000,
        fetch_max_bytes=16 * 1024 * 1024,
        **options,
    )
    assigned = [tp for topic in topics for tp in _partitions(consumer, topic)]
    consumer.assign(assigned)
    consumer.seek_to_beginning(*assigned)
    return consumer


def records_on(bootstrap: str, topics: list[str]) -> dict[str, int]:
    """How many records each of ``topics`` holds (end offset less start offset, over its partitions)."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    try:
        partitions = [tp for topic in topics for tp in _partitions(consumer, topic)]
        starts, ends = consumer.beginning_offsets(partitions), consumer.end_offsets(partitions)
    finally:
        consumer.close()
    held = dict.fromkeys(topics, 0)
    for tp, end in ends.items():
        held[tp.topic] += end - starts[tp]
    return held


def broker_ceiling(bootstrap: str, topic: str, values: list[bytes], count: int, tick: Tick) -> BrokerCeiling:
    sender = producer(bootstrap, client_id="complaintflow-bench")
    try:
        started = time.perf_counter()
        for i in range(count):
            sender.send(topic, key=b"k%d" % i, value=values[i % len(values)])
            if i % 1000 == 999:
                tick(1000)
        sender.flush(120)
        produce_s = time.perf_counter() - started
        tick(count % 1000)
    finally:
        sender.close()
    consumer = reader(bootstrap, [topic])
    try:
        seen = 0
        started = time.perf_counter()
        deadline = time.monotonic() + 120
        while seen < count and time.monotonic() < deadline:
            batch = consumer.poll(timeout_ms=500)
            got = sum(len(records) for records in batch.values())
            seen += got
            tick(got)
        consume_s = time.perf_counter() - started
    finally:
        consumer.close()
    return BrokerCeiling(count / produce_s, seen / consume_s)


def passthrough_process(env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    with log_path.open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "tools.bench.passthrough"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=os.getcwd(),
            preexec_fn=_die_with_parent,  # no orphans if the bench is killed
        )


def framework_ceiling(
    bootstrap: str,
    source: str,
    target: str,
    values: list[bytes],
    count: int,
    tick: Tick,
    start_agent: Callable[[], None],
    cpu_probe: CpuProbe,
) -> FrameworkCeiling:
    """Records per second from the first publish to the last record out of the agent (burst of ``count``), and
    the CPU that ``cpu_probe`` counts over the same span (the agent's start-up is outside it)."""
    out = reader(bootstrap, [target])
    sender = producer(bootstrap, client_id="complaintflow-bench")
    try:
        start_agent()
        # The agent is ready once a warm-up record has made the trip.
        sender.send(source, key=b"warmup", value=b"{}")
        sender.flush(30)
        deadline = time.monotonic() + 90
        while not any(r.key == b"warmup" for rs in out.poll(timeout_ms=300).values() for r in rs):
            if time.monotonic() > deadline:
                raise TimeoutError("the passthrough agent did not start within 90 s")
        cpu_at_start = cpu_probe()
        first_publish = time.time()
        for i in range(count):
            sender.send(source, key=b"k%d" % i, value=values[i % len(values)])
        sender.flush(120)
        seen, last_ms = 0, 0
        deadline = time.monotonic() + 300
        while seen < count and time.monotonic() < deadline:
            batch = out.poll(timeout_ms=500)
            for records in batch.values():
                for record in records:
                    if record.key != b"warmup":
                        seen += 1
                        last_ms = max(last_ms, record.timestamp)
            tick(sum(len(r) for r in batch.values()))
        cpu_at_end = cpu_probe()
    finally:
        sender.close()
        out.close()
    cpu = {name: cpu_at_end[name] - cpu_at_start.get(name, 0.0) for name in cpu_at_end}
    return FrameworkCeiling(seen / max(1e-6, last_ms / 1000 - first_publish), seen, cpu)
