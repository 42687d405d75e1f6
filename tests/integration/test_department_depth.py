"""The dashboard's queue depth per department against the real embedded broker: routed minus committed."""

from __future__ import annotations

import asyncio
import logging

import pytest
from kafka import KafkaConsumer, TopicPartition
from kafka.structs import OffsetAndMetadata

from complaintflow.dashboard.depth import DepartmentDepth
from kernel.embedded import EmbeddedStack
from kernel.kafka import create_all_topics, producer
from kernel.runtime import Runtime
from kernel.settings import Settings
from kernel.topics import Topics
from schemas import Department

pytestmark = pytest.mark.integration
PREFIX = "depth-test."


def test_depth_is_what_the_department_group_has_not_committed(
    embedded: EmbeddedStack, caplog: pytest.LogCaptureFixture
) -> None:
    assert embedded.kafka_bootstrap_servers and embedded.redis_url
    bootstrap = embedded.kafka_bootstrap_servers
    settings = Settings(
        COMPLAINTFLOW_TOPIC_PREFIX=PREFIX, COMPLAINTFLOW_GROUP_PREFIX="depth-test", KAFKA_BOOTSTRAP_SERVERS=bootstrap
    )
    create_all_topics(settings)
    topics = Topics(PREFIX)
    runtime = Runtime(settings, bootstrap, embedded.redis_url, "127.0.0.1", 25, topics)
    cards = topics.department(Department.cards)
    depth = DepartmentDepth(runtime)

    async def settled_depth(expected: int) -> dict[str, int]:
        for _ in range(40):
            await depth.refresh()
            if depth.depth.get("cards") == expected:
                break
            await asyncio.sleep(0.25)
        return depth.depth

    async def scenario() -> None:
        await depth._connect()
        try:
            sender = producer(bootstrap)
            for n in range(6):
                sender.send(cards, key=f"cmp_{n}".encode(), value=b"{}", partition=0)
            sender.flush()
            sender.close()
            before = await settled_depth(6)
            assert before["cards"] == 6 and sum(before.values()) == 6, before

            department = KafkaConsumer(
                bootstrap_servers=bootstrap, group_id=depth.group_of(Department.cards), enable_auto_commit=False
            )
            partition = TopicPartition(cards, 0)
            department.assign([partition])
            department.commit({partition: OffsetAndMetadata(4, None, -1)})
            department.close()
            after = await settled_depth(2)
            assert after["cards"] == 2 and sum(after.values()) == 2, after
        finally:
            await depth.on_stop()

    with caplog.at_level(logging.ERROR, logger="aiokafka"):
        asyncio.run(scenario())
    assert not [r for r in caplog.records if r.name.startswith("aiokafka")], "an offset reply was not understood"
