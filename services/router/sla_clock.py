"""The SLA clock's sweeper: emits each due alert exactly once.

The lifecycle plans the alerts (``services.router.sla.planned_alerts``: a warning at 80 % of the time allowed
and the breach at the deadline) in the Redis schedule (``kernel.state.SlaSchedule``). The sweeper claims a due
member by removing it (ZREM answers 1 to one caller only), so however many routers sweep, every warning and
breach is emitted once. Moving a deadline replaces its members.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from kernel.metrics import SLA_CLOCKS
from kernel.runtime import Runtime
from kernel.state import SlaAlert
from schemas import Department, DepartmentRecord, EventKind, RoutedComplaint
from services.router.department_feed import escalation_record, sla_record
from services.router.lifecycle import Lifecycle

log = logging.getLogger(__name__)


class SlaClock:
    def __init__(self, runtime: Runtime, lifecycle: Lifecycle) -> None:
        self.runtime = runtime
        self.lifecycle = lifecycle
        self.schedule = lifecycle.schedule

    async def sweep(self, now: datetime | None = None) -> int:
        """Emit every alert due at ``now`` (injectable, so tests and operators can sweep at any instant)."""
        now = now or datetime.now(UTC)
        emitted = 0
        for member in await self.schedule.claim_due(now):
            cid, which, kind = SlaAlert.parts(member)
            try:
                routed = await self.lifecycle.current(cid)
            except ValueError:  # a corrupt stored routing must not stop every other complaint's alerts
                log.error("sla alert dropped: stored routing unreadable", extra={"complaint_id": cid, "kind": kind})
                continue
            if routed is None:
                continue
            await self.schedule.settled(member)
            await self._alert(routed, which, EventKind(kind), member, now)
            emitted += 1
        return emitted

    async def _alert(self, routed: RoutedComplaint, which: str, kind: EventKind, member: str, now: datetime) -> None:
        deadline = routed.deadlines.first_contact_by if which == "first_contact" else routed.deadlines.decision_by
        details = {"deadline_kind": which}
        await self.lifecycle.emit(routed, kind, member, at=now, deadline=deadline, details=details)
        await self._to_queue(sla_record(routed, kind, which, member, now))
        if kind == EventKind.sla_breached:  # open and warning are set from the schedule (complaintflow.operations)
            SLA_CLOCKS.labels("breached").inc()
        log.warning(
            "sla alert",
            extra={"complaint_id": routed.complaint.complaint_id, "kind": kind.value, "deadline_kind": which},
        )
        if kind != EventKind.sla_breached:
            return
        escalation = Department.consumer_protection
        if routed.department != escalation:  # a record of its own: the routing's id would be dropped as a repeat
            await self._to_queue(escalation_record(routed, escalation, f"sla_breached:{which}", member, now))
        await self.lifecycle.emit(
            routed,
            EventKind.escalated,
            member,
            at=now,
            details={"escalate_to": escalation.value, "cause": f"sla_breached:{which}"},
        )
        if which == "decision" and self.runtime.settings.sla_breach_apology:
            await self.lifecycle.emit(routed, EventKind.sla_breach_apology, member, at=now, deadline=deadline)

    async def _to_queue(self, record: DepartmentRecord) -> None:
        topic = self.runtime.topics.department(record.department)
        await self.lifecycle.outbox.send(topic, record.complaint_id, record.model_dump_json().encode())
