"""kafka-python client for departments: consume your routed queue, send status back.

    client = DepartmentClient("kafka:9092", "cards")
    for routed in client.complaints():        # commits after your loop body returns
        handle(routed)
        client.update(routed.complaint.complaint_number, "accepted")

Delivery on the wire is at-least-once; the client drops repeats of the same routing (complaint id +
revision), so each complaint reaches your code once per assignment.
"""

from __future__ import annotations

import uuid
from collections import OrderedDict
from collections.abc import Iterator
from datetime import UTC, datetime

from kafka import KafkaConsumer, KafkaProducer
from pydantic import ValidationError

from complaintflow.kafka import consumer, producer
from complaintflow.settings import Settings
from complaintflow.topics import Topics
from schemas import ComplaintStatus, Department, RoutedComplaint, StatusUpdate

SEEN_LIMIT = 100_000


class DepartmentClient:
    def __init__(
        self,
        bootstrap: str,
        department: Department | str,
        settings: Settings | None = None,
        group_id: str | None = None,
        from_beginning: bool = True,
    ) -> None:
        self.settings = settings or Settings()
        self.department = Department(department)
        self.topics = Topics(self.settings.topic_prefix)
        self.bootstrap = bootstrap
        self.group_id = group_id or f"{self.settings.group_prefix}-dept-{self.department.value}"
        self.from_beginning = from_beginning
        self._consumer: KafkaConsumer | None = None
        self._producer: KafkaProducer | None = None
        self._seen: OrderedDict[str, None] = OrderedDict()
        self.skipped_duplicates = 0
        self.unreadable = 0

    def _remember(self, routing_id: str) -> bool:
        if routing_id in self._seen:
            return False
        self._seen[routing_id] = None
        if len(self._seen) > SEEN_LIMIT:
            self._seen.popitem(last=False)
        return True

    def complaints(self, idle_timeout_s: float | None = None) -> Iterator[RoutedComplaint]:
        """Yield routed complaints; offsets are committed after each one is handled."""
        timeout_ms = int(idle_timeout_s * 1000) if idle_timeout_s is not None else float("inf")
        self._consumer = consumer(
            self.bootstrap,
            [self.topics.department(self.department)],
            self.group_id,
            self.settings,
            from_beginning=self.from_beginning,
            consumer_timeout_ms=timeout_ms,
        )
        for record in self._consumer:
            try:
                routed = RoutedComplaint.model_validate_json(record.value)
            except ValidationError:
                self.unreadable += 1
                continue
            if not self._remember(routed.routing_id):
                self.skipped_duplicates += 1
                continue
            yield routed
            self._consumer.commit()

    def update(
        self,
        complaint_number: str,
        status: ComplaintStatus | str,
        *,
        note: str | None = None,
        to_department: Department | str | None = None,
        reason: str | None = None,
        approver: str | None = None,
        by: str | None = None,
        update_id: str | None = None,
    ) -> StatusUpdate:
        update = StatusUpdate(
            update_id=update_id or f"upd-{uuid.uuid4()}",
            complaint_number=complaint_number,
            status=ComplaintStatus(status),
            department=self.department,
            to_department=Department(to_department) if to_department else None,
            reason=reason,
            note=note,
            approver=approver,
            by=by,
            at=datetime.now(UTC),
        )
        if self._producer is None:
            self._producer = producer(self.bootstrap)
        self._producer.send(self.topics.status, key=complaint_number.encode(), value=update.model_dump_json().encode())
        self._producer.flush(30)
        return update

    def close(self) -> None:
        if self._consumer is not None:
            self._consumer.close()
        if self._producer is not None:
            self._producer.close()
