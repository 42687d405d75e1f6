"""Does a reader that follows the head of a partition see every record when several producers write to it?

``python -m complaintflow.bench.headskip [--producers P] [--records N]`` starts the embedded broker (or uses
``KAFKA_BOOTSTRAP_SERVERS``), lets P producer processes (aiokafka, like the workers) write N records each, one
every 2 ms, across six partitions while a kafka-python reader follows the head, then reads everything again from
the beginning. It prints what the head reader missed and whether the second read found it. By Kafka's contract
the head reader misses nothing; the embedded broker has been seen to skip a record now and then (see the
README's benchmark section).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import uuid

from complaintflow.bench.ceilings import reader
from complaintflow.embedded import embedded_services
from complaintflow.kafka import ensure_topics
from complaintflow.settings import Settings

PARTITIONS = 6


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


def check(bootstrap: str, producers: int, records: int) -> dict[str, int]:
    topic = f"headskip-{uuid.uuid4().hex[:8]}"
    ensure_topics(bootstrap, {topic: PARTITIONS}, 1)
    context = multiprocessing.get_context("spawn")
    writers = [context.Process(target=_produce, args=(bootstrap, topic, p, records)) for p in range(producers)]
    for writer in writers:
        writer.start()
    at_head = _read(bootstrap, topic, until_idle_ms=8000)  # starts with the writers and follows them
    for writer in writers:
        writer.join()
    again = _read(bootstrap, topic, until_idle_ms=3000)
    expected = {f"{p}:{n}".encode() for p in range(producers) for n in range(records)}
    return {
        "written": len(expected),
        "read_at_head": len(at_head & expected),
        "missed_at_head": len(expected - at_head),
        "found_on_second_read": len((expected - at_head) & again),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--producers", type=int, default=4)
    parser.add_argument("--records", type=int, default=15000, help="per producer")
    args = parser.parse_args()
    settings = Settings()
    with embedded_services(settings.embedded_kafka, False) as stack:
        bootstrap = settings.kafka_bootstrap_servers or stack.kafka_bootstrap_servers or ""
        print(check(bootstrap, args.producers, args.records))


if __name__ == "__main__":
    main()
