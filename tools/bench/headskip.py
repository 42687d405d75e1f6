"""Does a reader that follows the head of a partition see every record when several producers write to it?

``python -m tools.bench.headskip [--producers P] [--records N]`` starts the embedded broker (or uses
``KAFKA_BOOTSTRAP_SERVERS``), lets P producer processes (aiokafka, like the workers) write N records each, one
every 2 ms, across six partitions while four readers follow the head, each in its own process: kafka-python and
aiokafka, each as it comes and with the offset-gap guard (``kernel.offsetgaps``). Then it
reads everything again from the beginning and prints, per reader, what it missed at the head and whether the
second read found it. By Kafka's contract no head reader misses anything; the embedded broker has been seen to
skip a record now and then (see docs/benchmark.md).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import time
import uuid
from multiprocessing.connection import Connection

from prometheus_client import REGISTRY

from kernel import offsetgaps
from kernel.embedded import embedded_services
from kernel.kafka import ensure_topics
from kernel.settings import Settings
from tools.bench.ceilings import reader

PARTITIONS = 6
GUARD = "+gap-guard"
READERS = ("kafka-python", f"kafka-python{GUARD}", "aiokafka", f"aiokafka{GUARD}")
GAP_PATIENCE_S = Settings().offset_gap_patience_s or 0.5


def _produce(bootstrap: str, topic: str, producer: int, records: int) -> None:
    from aiokafka import AIOKafkaProducer

    async def run() -> None:
        sender = AIOKafkaProducer(bootstrap_servers=bootstrap, acks=-1)
        await sender.start()
        try:
            for n in range(records):
                await sender.send(topic, key=f"k{n % 997}".encode(), value=f"{producer}:{n}".encode())
                await asyncio.sleep(0.002)
            await sender.flush()
        finally:
            await sender.stop()

    asyncio.run(run())


def _read(bootstrap: str, topic: str, until_idle_ms: int) -> set[bytes]:
    # A short fetch wait keeps the reader at the head, as the workers are.
    consumer = reader(bootstrap, [topic], fetch_max_wait_ms=50, consumer_timeout_ms=until_idle_ms)
    try:
        return {record.value for record in consumer}
    finally:
        consumer.close()


def _read_aiokafka(bootstrap: str, topic: str, until_idle_ms: int) -> set[bytes]:
    from aiokafka import AIOKafkaConsumer

    async def run() -> set[bytes]:
        consumer = AIOKafkaConsumer(
            topic, bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest", fetch_max_wait_ms=50
        )
        await consumer.start()
        seen: set[bytes] = set()
        idle_since = time.monotonic()
        try:
            while time.monotonic() - idle_since < until_idle_ms / 1000:
                batches = await consumer.getmany(timeout_ms=200)
                for records in batches.values():
                    seen.update(record.value for record in records if record.value is not None)
                    idle_since = time.monotonic()
        finally:
            await consumer.stop()
        return seen

    return asyncio.run(run())


def _head_reader(kind: str, bootstrap: str, topic: str, until_idle_ms: int, results: Connection) -> None:
    guarded = kind.endswith(GUARD)
    if guarded:
        offsetgaps.install(GAP_PATIENCE_S)
    if kind.startswith("kafka-python"):
        seen = _read(bootstrap, topic, until_idle_ms)
    else:
        seen = _read_aiokafka(bootstrap, topic, until_idle_ms)
    gaps = {
        outcome: int(REGISTRY.get_sample_value("complaintflow_offset_gaps_total", {"outcome": outcome}) or 0)
        for outcome in ("held", "accepted")
    }
    results.send((seen, gaps if guarded else {}))


def check(bootstrap: str, producers: int, records: int) -> dict[str, dict[str, int]]:
    topic = f"headskip-{uuid.uuid4().hex[:8]}"
    ensure_topics(bootstrap, {topic: PARTITIONS}, 1)
    context = multiprocessing.get_context("spawn")
    readers = {}
    for kind in READERS:  # they start with the writers and follow them
        receiving, sending = context.Pipe(duplex=False)
        process = context.Process(target=_head_reader, args=(kind, bootstrap, topic, 8000, sending))
        process.start()
        readers[kind] = (process, receiving)
    writers = [context.Process(target=_produce, args=(bootstrap, topic, p, records)) for p in range(producers)]
    for writer in writers:
        writer.start()
    at_head = {kind: receiving.recv() for kind, (_, receiving) in readers.items()}
    for process in [*writers, *(process for process, _ in readers.values())]:
        process.join()
    again = _read(bootstrap, topic, until_idle_ms=3000)
    expected = {f"{p}:{n}".encode() for p in range(producers) for n in range(records)}
    return {
        kind: {
            "written": len(expected),
            "read_at_head": len(seen & expected),
            "missed_at_head": len(expected - seen),
            "found_on_second_read": len((expected - seen) & again),
            **{f"offset_gaps_{outcome}": count for outcome, count in gaps.items()},
        }
        for kind, (seen, gaps) in at_head.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--producers", type=int, default=4)
    parser.add_argument("--records", type=int, default=15000, help="per producer")
    args = parser.parse_args()
    settings = Settings()
    with embedded_services(settings.embedded_kafka, False) as stack:
        bootstrap = settings.kafka_bootstrap_servers or stack.kafka_bootstrap_servers or ""
        print(json.dumps(check(bootstrap, args.producers, args.records), indent=1))


if __name__ == "__main__":
    main()
