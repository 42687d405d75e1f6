"""A stage handles records as batches: the records of one key one after another in offset order, other keys
together; a batch is acknowledged in offset order only once the broker accepted everything it sent, and a batch
whose records were refused is handled again."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from types import SimpleNamespace

from kernel.stage import BatchLoop, BatchQueue, PartitionAcks, StageRunner, key_rounds
from kernel.streams import InboundMessage, note_delivery
from kernel.topics import Topics

TOPIC = "complaints.normalized"


def message(offset: int, key: bytes | None) -> InboundMessage:
    return InboundMessage(TOPIC, 0, offset, key, b'{"schema_version": 1}')


def event(offset: int) -> SimpleNamespace:
    """What PartitionAcks reads of a faust event: its message's topic, partition and offset."""
    return SimpleNamespace(message=SimpleNamespace(topic=TOPIC, partition=0, offset=offset))


async def wait_until(condition: Callable[[], bool], seconds: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


def test_rounds_keep_each_keys_records_in_offset_order_and_put_keyless_records_first() -> None:
    keys = [b"cmp_a", b"cmp_b", b"cmp_a", None, b"cmp_a", b"cmp_b"]
    assert key_rounds([message(offset, key) for offset, key in enumerate(keys)]) == [[0, 1, 3], [2, 5], [4]]


def test_a_batch_handles_other_keys_together_and_one_keys_records_one_after_another() -> None:
    running: set[int] = set()
    started: list[tuple[bytes | None, int]] = []
    most_at_once = 0

    async def handler(record: InboundMessage) -> str:
        nonlocal most_at_once
        running.add(record.offset)
        most_at_once = max(most_at_once, len(running))
        started.append((record.key, record.offset))
        await asyncio.sleep(0.01)
        running.discard(record.offset)
        return "routed" if record.offset % 2 else "duplicate"

    runner = StageRunner("batch_test", handler, outbox=None, topics=Topics())  # type: ignore[arg-type]
    keys = [b"cmp_a", b"cmp_b", b"cmp_c", b"cmp_a", b"cmp_b", b"cmp_a"]
    outcomes = asyncio.run(runner.run_batch([message(offset, key) for offset, key in enumerate(keys)]))

    assert outcomes == ["duplicate", "routed"] * 3  # each record's own outcome, in the batch's order
    assert most_at_once == 3  # the three complaints of the first round at once
    assert [offset for key, offset in started if key == b"cmp_a"] == [0, 3, 5]


def test_a_batch_is_acknowledged_in_order_once_its_sends_are_accepted_and_handled_again_after_a_refusal() -> None:
    async def scenario() -> tuple[list[int], list[int]]:
        acknowledged: list[int] = []
        handled: list[int] = []
        deliveries: list[asyncio.Future[object]] = []

        async def ack(faust_event: SimpleNamespace) -> None:
            acknowledged.append(faust_event.message.offset)

        async def handler(record: InboundMessage) -> str:
            handled.append(record.offset)
            delivery: asyncio.Future[object] = asyncio.get_running_loop().create_future()
            note_delivery(delivery)  # what Outbox.send does with the producer's future
            deliveries.append(delivery)
            return "complaint"

        acks = PartitionAcks(ack)  # type: ignore[arg-type]
        queue = BatchQueue(batch_max=8)
        runner = StageRunner("ack_test", handler, outbox=None, topics=Topics())  # type: ignore[arg-type]
        loop = asyncio.ensure_future(BatchLoop(runner, queue, acks).run())
        for offset in range(3):
            slot = acks.track(event(offset))  # type: ignore[arg-type]
            await queue.put((message(offset, f"raw-{offset}".encode()), slot))
        await wait_until(lambda: len(deliveries) == 3)
        await asyncio.sleep(0.05)
        assert acknowledged == []  # handled, but the broker has not answered yet

        deliveries[0].set_result(None)
        deliveries[1].set_exception(RuntimeError("the broker refused the record"))
        deliveries[2].set_result(None)
        await wait_until(lambda: len(deliveries) == 6)  # the whole batch handled (and so sent) again
        assert acknowledged == []

        for delivery in deliveries[3:]:
            delivery.set_result(None)
        await wait_until(lambda: acknowledged == [0, 1, 2])
        loop.cancel()
        await asyncio.wait([loop])
        return handled, acknowledged

    handled, acknowledged = asyncio.run(scenario())
    assert handled == [0, 1, 2, 0, 1, 2]
    assert acknowledged == [0, 1, 2]
