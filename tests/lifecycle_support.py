"""A router lifecycle on a test's Redis and broker outbox, and complaints as the router leaves them after routing:
shared by the lifecycle and status-outcome tests."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from kernel.runtime import Runtime
from kernel.settings import Settings
from kernel.state import Keys, SlaAlert, SlaSchedule
from schemas import RoutedComplaint, StatusUpdate, complaint_id_for, complaint_number_for
from services.router.lifecycle import Lifecycle
from services.router.routing import RoutingTable
from services.router.sla import pause_deadlines, planned_alerts
from tests.kafka_support import BrokerOutbox
from tests.test_schemas import NOW, sample_routed


def lifecycle_on(client: Any, outbox: BrokerOutbox) -> Lifecycle:
    runtime = Runtime(Settings(), "", "", "", 0, outbox.topics, _redis=client)
    # No complaint is classified here: the status path never calls the classifier.
    return Lifecycle(runtime, outbox, None, RoutingTable.load())  # type: ignore[arg-type]


async def routed_complaint(lifecycle: Lifecycle, extensions: int = 0, paused: bool = False) -> RoutedComplaint:
    """A complaint as the router leaves it after routing: stored, numbered, its SLA alerts planned."""
    routed = sample_routed()
    complaint_id = complaint_id_for(routed.complaint.channel, f"lifecycle-{uuid.uuid4()}")
    complaint = routed.complaint.model_copy(
        update={"complaint_id": complaint_id, "complaint_number": complaint_number_for(complaint_id, NOW.date())}
    )
    deadlines = routed.deadlines.model_copy(
        update={"extensions": extensions, "decision_by": NOW + timedelta(days=30 if extensions else 15)}
    )
    if paused:
        deadlines = pause_deadlines(deadlines, NOW + timedelta(hours=2))
    routed = routed.model_copy(update={"complaint": complaint, "deadlines": deadlines})
    await lifecycle.runtime.store.record_new(complaint)
    await lifecycle.runtime.store.update(complaint_id, status="routed")
    await lifecycle.runtime.redis.set(Keys.routed(complaint_id), routed.model_dump_json())
    planned = planned_alerts(complaint.received_at, deadlines)
    if paused:  # a stopped clock has no decision alerts planned
        planned = [alert for alert in planned if alert[0] != "decision"]
    await SlaSchedule(lifecycle.runtime.redis).plan(complaint_id, [SlaAlert(complaint_id, *a) for a in planned])
    return routed


def status_update(number: str, status: str, at: datetime, **fields: Any) -> StatusUpdate:
    return StatusUpdate(
        update_id=f"upd-{uuid.uuid4()}", complaint_number=number, status=status, department="cards", at=at, **fields
    )
