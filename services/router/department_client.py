"""kafka-python client for departments: consume your queue, send status back and hear the router's answer.

    client = DepartmentClient("kafka:9092", "cards")
    for record in client.records():            # commits after your loop body returns
        handle(record)                         # record.kind tells what it asks of you
        outcome = client.update_and_wait(record.complaint_number, "accepted")
        if outcome.outcome == "refused":
            print(outcome.reason)

``records()`` yields every ``DepartmentRecord`` on the queue: new complaints, transfers in, customer follow-ups,
replies to a need-info request, SLA warnings and breaches, escalations. ``complaints()`` yields only the
routed complaints (new, transferred in, escalated), as it always did.

Delivery on the wire is at-least-once; the client drops repeats of the same record id (for a routing: complaint
id + revision), so each record reaches your code once.
"""

from __future__ import annotations

import re
import time
import uuid
from collections import OrderedDict
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TypedDict, Unpack

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from kernel.kafka import consumer, producer
from kernel.settings import Settings
from kernel.topics import Topics
from schemas import (
    ComplaintStatus,
    Department,
    DepartmentRecord,
    DepartmentRecordKind,
    RoutedComplaint,
    StatusOutcome,
    StatusUpdate,
    department_record,
    normalize_complaint_number,
)
from services.router.department_feed import ROUTER_STATUSES
from services.router.routing import RoutingTable

# How long a client waits for its consumer group to assign it the department's partitions.
JOIN_WAIT_S = 60.0
SEEN_LIMIT = 100_000


class UpdateFields(TypedDict, total=False):
    """What a department may say with a status: ``to_department`` with ``transferred``, ``approver`` with a second
    ``extended``; ``update_id`` to resend an update (it is applied once)."""

    note: str | None
    to_department: Department | str | None
    reason: str | None
    approver: str | None
    by: str | None
    update_id: str | None


ROUTING_KINDS = frozenset(
    {DepartmentRecordKind.complaint, DepartmentRecordKind.transfer_in, DepartmentRecordKind.escalation}
)
DEPARTMENT_STATUSES = tuple(s.value for s in ComplaintStatus if s not in ROUTER_STATUSES)
_NUMBER = re.compile(r"^CF-\d{8}-[0-9A-HJKMNP-TV-Z]{6}$")


class InvalidUpdate(ValueError):
    """An update that cannot be right whatever the complaint's state; the message says what to change."""


class NoOutcome(TimeoutError):
    """The router gave no answer in time (it may be stopped or far behind); the update may still apply later."""


def known_department(table: RoutingTable, value: Department | str | None, what: str) -> Department | None:
    """``value`` as a department of the routing table (None stays None); ``InvalidUpdate`` names the known ones."""
    if value is None:
        return None
    known = sorted(d.value for d in table.departments)
    if str(value) not in known:
        raise InvalidUpdate(f"unknown {what} {str(value)!r}; the routing table's departments are: {', '.join(known)}")
    return Department(value)


def check_update(
    complaint_number: str,
    status: ComplaintStatus | str,
    table: RoutingTable,
    *,
    department: Department | str | None = None,
    to_department: Department | str | None = None,
    approver: str | None = None,
) -> tuple[str, ComplaintStatus, Department | None, Department | None]:
    """The number, status, sending and target department of an update, checked; ``InvalidUpdate`` says what is wrong."""
    number = normalize_complaint_number(complaint_number)
    if not _NUMBER.match(number):
        raise InvalidUpdate(f"{complaint_number!r} is not a complaint number (they look like CF-20261122-7K3Q9M)")
    if str(status) not in DEPARTMENT_STATUSES:
        raise InvalidUpdate(f"unknown status {status!r}; a department can report: {', '.join(DEPARTMENT_STATUSES)}")
    status = ComplaintStatus(status)
    sender = known_department(table, department, "department")
    target = known_department(table, to_department, "department to transfer to")
    if status == ComplaintStatus.transferred and target is None:
        raise InvalidUpdate("a transfer needs the department to transfer to (--to DEPARTMENT)")
    if status != ComplaintStatus.transferred and target is not None:
        raise InvalidUpdate("--to only goes with --status transferred")
    if approver is not None and status != ComplaintStatus.extended:
        raise InvalidUpdate("--approver only goes with --status extended")
    if approver is not None and not approver.strip():
        raise InvalidUpdate("--approver needs the approver's name")
    return number, status, sender, target


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
        self.table = RoutingTable.load(self.settings.routing_table)
        self.department: Department = known_department(self.table, department, "department")  # type: ignore[assignment]
        self.topics = Topics(self.settings.topic_prefix)
        self.bootstrap = bootstrap
        self.group_id = group_id or f"{self.settings.group_prefix}-dept-{self.department.value}"
        self.from_beginning = from_beginning
        self._consumer: KafkaConsumer | None = None
        self._producer: KafkaProducer | None = None
        self._seen: OrderedDict[str, None] = OrderedDict()
        self.skipped_duplicates = 0
        self.unreadable = 0

    def _remember(self, record_id: str) -> bool:
        if record_id in self._seen:
            return False
        self._seen[record_id] = None
        if len(self._seen) > SEEN_LIMIT:
            self._seen.popitem(last=False)
        return True

    def records(self, idle_timeout_s: float | None = None) -> Iterator[DepartmentRecord]:
        """Yield every record on the department's queue; offsets are committed after each one is handled."""
        timeout_ms = int(idle_timeout_s * 1000) if idle_timeout_s is not None else float("inf")
        self._consumer = consumer(
            self.bootstrap,
            [self.topics.department(self.department)],
            self.group_id,
            self.settings,
            from_beginning=self.from_beginning,
            consumer_timeout_ms=timeout_ms,
        )
        self._join_group()
        for message in self._consumer:
            try:
                record = department_record(message.value, self.department)
            except ValueError:
                self.unreadable += 1
                continue
            if not self._remember(record.record_id):
                self.skipped_duplicates += 1
                continue
            yield record
            self._consumer.commit()

    def _join_group(self) -> None:
        """Wait until the group has given this client its partitions, so the idle timeout counts only time
        spent waiting for records. A client that gives up while still joining leaves the group half-joined,
        and the broker then holds the next member back (seen on the embedded broker, for a minute and more)."""
        assert self._consumer is not None
        deadline = time.monotonic() + JOIN_WAIT_S
        while not self._consumer.assignment() and time.monotonic() < deadline:
            for partition, messages in self._consumer.poll(timeout_ms=200, max_records=1).items():
                self._consumer.seek(partition, messages[0].offset)  # read again by the loop that handles it

    def complaints(self, idle_timeout_s: float | None = None) -> Iterator[RoutedComplaint]:
        """Yield the routed complaints only (new, transferred in, escalated); other records are passed over."""
        for record in self.records(idle_timeout_s):
            if record.kind in ROUTING_KINDS:
                yield record.routed

    def prepare_update(
        self, complaint_number: str, status: ComplaintStatus | str, **fields: Unpack[UpdateFields]
    ) -> StatusUpdate:
        """The status update, checked (``InvalidUpdate`` if it cannot be right), not sent."""
        to_department, approver = fields.get("to_department"), fields.get("approver")
        number, checked_status, _, target = check_update(
            complaint_number, status, self.table, to_department=to_department, approver=approver
        )
        return StatusUpdate(
            update_id=fields.get("update_id") or f"upd-{uuid.uuid4()}",
            complaint_number=number,
            status=checked_status,
            department=self.department,
            to_department=target,
            reason=fields.get("reason"),
            note=fields.get("note"),
            approver=approver,
            by=fields.get("by"),
            at=datetime.now(UTC),
        )

    def send(self, update: StatusUpdate) -> StatusUpdate:
        if self._producer is None:
            self._producer = producer(self.bootstrap)
        key = update.complaint_number.encode()
        self._producer.send(self.topics.status, key=key, value=update.model_dump_json().encode())
        self._producer.flush(30)
        return update

    def update(
        self, complaint_number: str, status: ComplaintStatus | str, **fields: Unpack[UpdateFields]
    ) -> StatusUpdate:
        """Check and send a status update (``InvalidUpdate`` if it cannot be right); does not wait for the answer."""
        return self.send(self.prepare_update(complaint_number, status, **fields))

    def update_and_wait(
        self,
        complaint_number: str,
        status: ComplaintStatus | str,
        *,
        timeout_s: float = 30.0,
        **fields: Unpack[UpdateFields],
    ) -> StatusOutcome:
        """Send a status update and return the router's outcome (applied, or refused with the reason).

        Raises ``InvalidUpdate`` before sending anything that cannot be right, ``NoOutcome`` when no answer came
        within ``timeout_s``. Sending the same ``update_id`` again returns the same outcome; it is applied once.
        """
        update = self.prepare_update(complaint_number, status, **fields)
        reader = self._outcome_reader()
        try:
            self.send(update)
            return self._wait_for_outcome(reader, update.update_id, timeout_s)
        finally:
            reader.close()

    def _outcome_reader(self) -> KafkaConsumer:
        """A reader of the outcomes topic placed at its end, before the update is sent, so no answer is missed."""
        topic = self.topics.status_outcomes
        reader = KafkaConsumer(
            bootstrap_servers=self.bootstrap,
            group_id=None,
            enable_auto_commit=False,
            client_id="complaintflow-client",
        )
        ids = reader.partitions_for_topic(topic) or set()
        partitions = [TopicPartition(topic, p) for p in sorted(ids)]
        if not partitions:
            reader.close()
            raise NoOutcome(
                f"there is no {topic} topic: is the stack's topic set created (complaintflow topics create)?"
            )
        reader.assign(partitions)
        reader.seek_to_end(*partitions)
        for partition in partitions:
            reader.position(partition)  # resolves the end offset now
        return reader

    @staticmethod
    def _wait_for_outcome(reader: KafkaConsumer, update_id: str, timeout_s: float) -> StatusOutcome:
        deadline = time.monotonic() + timeout_s
        wanted = update_id.encode()
        while (left := deadline - time.monotonic()) > 0:
            for messages in reader.poll(timeout_ms=int(min(left, 1.0) * 1000)).values():
                for message in messages:
                    if message.key == wanted:
                        return StatusOutcome.model_validate_json(message.value)
        raise NoOutcome(f"no answer from the router within {timeout_s:g} s for update {update_id}")

    def close(self) -> None:
        if self._consumer is not None:
            self._consumer.close()
        if self._producer is not None:
            self._producer.close()
