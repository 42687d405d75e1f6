"""Queue depth per department: what was routed to ``dept.<department>`` and its consumers have not committed.

The end of each partition is the high-water mark from fetch responses (a reader without a group keeps
fetching the tail); committed offsets come from the department's consumer group, asked with the same admin
client as the rest of the tools (kafka-python): aiokafka's admin cannot read the embedded broker's offset
replies, and every failed read logged an error and closed a connection.
"""

from __future__ import annotations

import asyncio
import logging

import mode
from aiokafka import AIOKafkaConsumer, TopicPartition
from kafka.admin import KafkaAdminClient

from kernel.kafka import admin_client
from kernel.runtime import Runtime
from schemas import Department

log = logging.getLogger(__name__)
REFRESH_S = 3.0


class DepartmentDepth(mode.Service):
    def __init__(self, runtime: Runtime, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.runtime = runtime
        self.depth: dict[str, int] = {}
        self._consumer: AIOKafkaConsumer | None = None
        self._admin: KafkaAdminClient | None = None
        self._partitions: dict[TopicPartition, Department] = {}
        self._committed: dict[Department, dict[TopicPartition, int]] = {}

    def group_of(self, department: Department) -> str:
        """The group `complaintflow dept tail` and department clients use."""
        return f"{self.runtime.settings.group_prefix}-dept-{department.value}"

    async def _connect(self) -> None:
        bootstrap = self.runtime.bootstrap
        consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False, client_id="complaintflow-dashboard"
        )
        await consumer.start()
        topics = {self.runtime.topics.department(d): d for d in Department}
        for topic, department in topics.items():
            for partition in sorted(consumer.partitions_for_topic(topic) or ()):
                self._partitions[TopicPartition(topic, partition)] = department
        consumer.assign(list(self._partitions))
        await consumer.seek_to_end(*self._partitions)  # close to the end; the fetches give the true mark
        admin = await asyncio.to_thread(admin_client, bootstrap, 10.0)
        self._consumer, self._admin = consumer, admin

    async def on_stop(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()
        if self._admin is not None:
            await asyncio.to_thread(self._admin.close)

    @mode.Service.timer(REFRESH_S)
    async def _refresh(self) -> None:
        try:
            if self._consumer is None:
                await self._connect()
            await self.refresh()
        except Exception as exc:  # the dashboard shows stale numbers rather than stopping the process
            log.debug("department depth refresh failed", extra={"error_type": type(exc).__name__})

    async def refresh(self) -> None:
        assert self._consumer is not None and self._admin is not None
        await self._consumer.getmany(timeout_ms=200, max_records=10000)  # the records are not needed
        depth = dict.fromkeys((d.value for d in Department), 0)
        self._committed.update(await asyncio.to_thread(self._read_committed, self._admin))
        for tp, department in self._partitions.items():
            highwater = self._consumer.highwater(tp)
            if highwater is not None:
                depth[department.value] += max(0, highwater - self._committed.get(department, {}).get(tp, 0))
        self.depth = depth

    def _read_committed(self, admin: KafkaAdminClient) -> dict[Department, dict[TopicPartition, int]]:
        """Each department group's committed offsets; a group that cannot be asked now keeps its last ones."""
        committed: dict[Department, dict[TopicPartition, int]] = {}
        for department in Department:
            group = self.group_of(department)
            try:
                offsets = admin.list_group_offsets(group).get(group, {})
            except Exception as exc:
                log.debug("committed offsets unavailable", extra={"group": group, "error_type": type(exc).__name__})
                continue
            committed[department] = {
                TopicPartition(tp.topic, tp.partition): meta.offset for tp, meta in offsets.items() if meta.offset >= 0
            }
        return committed
