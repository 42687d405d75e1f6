"""Queue depth per department: what was routed to ``dept.<department>`` and its consumers have not committed.

The end of each partition is the high-water mark from fetch responses (a reader without a group keeps
fetching the tail); committed offsets come from the department's consumer group.
"""

from __future__ import annotations

import logging

import mode
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from complaintflow.runtime import Runtime
from schemas import Department

log = logging.getLogger(__name__)
REFRESH_S = 3.0


class DepartmentDepth(mode.Service):
    def __init__(self, runtime: Runtime, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.runtime = runtime
        self.depth: dict[str, int] = {}
        self._consumer: AIOKafkaConsumer | None = None
        self._admin: AIOKafkaAdminClient | None = None
        self._partitions: dict[TopicPartition, Department] = {}

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
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="complaintflow-dashboard")
        await admin.start()
        self._consumer, self._admin = consumer, admin

    async def on_stop(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()
        if self._admin is not None:
            await self._admin.close()

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
        committed: dict[Department, dict[TopicPartition, int]] = {}
        for department in Department:
            try:
                offsets = await self._admin.list_consumer_group_offsets(self.group_of(department))
            except Exception:
                offsets = {}
            committed[department] = {tp: meta.offset for tp, meta in offsets.items() if meta.offset >= 0}
        for tp, department in self._partitions.items():
            highwater = self._consumer.highwater(tp)
            if highwater is not None:
                depth[department.value] += max(0, highwater - committed[department].get(tp, 0))
        self.depth = depth
