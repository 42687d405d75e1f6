"""The router's edge: takes decisions from the pure core and records and publishes them.

Redis keeps the current routing of every complaint (``cf:routed:<id>``) so that redeliveries republish
the same decision and status updates apply to the latest revision.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Protocol

from complaintflow.batching import TurnBatcher
from complaintflow.dashboard.counters import record_incident
from complaintflow.runtime import Runtime
from complaintflow.state import add_and_count, record_customer_complaint
from complaintflow.streams import PermanentError
from schemas import (
    Complaint,
    ComplaintEvent,
    ComplaintStatus,
    Department,
    EventKind,
    RoutedComplaint,
    StatusUpdate,
    event_id_for,
    normalise_complaint_number,
    stable_id,
)
from services.router.classifier import Classification, Classifier
from services.router.decide import decide, routing_correction
from services.router.routing import RoutingTable
from services.router.sla import ExtensionNotAllowed, extend_deadlines, load_holidays

log = logging.getLogger(__name__)


class Sender(Protocol):
    async def send(self, topic: str, key: str | bytes | None, value: bytes) -> None: ...


class _Precomputed:
    """Hands ``decide`` a classification already made (needed earlier for the storm count)."""

    def __init__(self, classification: Classification) -> None:
        self.classification = classification

    def classify(self, text: str, subject: str | None = None) -> Classification:
        return self.classification


def routed_key(complaint_id: str) -> str:
    return f"cf:routed:{complaint_id}"


def storm_key(line: str, reason: str, bucket: int) -> str:
    return f"cf:storm:{line}:{reason}:{bucket}"


class Lifecycle:
    def __init__(self, runtime: Runtime, outbox: Sender, classifier: Classifier, table: RoutingTable) -> None:
        self.runtime = runtime
        self.settings = runtime.settings
        self.outbox = outbox
        self.classifier = classifier
        self.table = table
        self.holidays = load_holidays(self.settings.holidays_file) if self.settings.holidays_file else frozenset()
        from services.router.sla_clock import SlaSchedule  # local: the schedule needs only Redis

        self.schedule = SlaSchedule(runtime.redis)
        # The complaints routed together in one loop turn are classified in one batch (one matrix product).
        self.classify: TurnBatcher[tuple[str, str | None], Classification] = TurnBatcher(
            self._classify_batch, name="classification"
        )

    async def _classify_batch(self, items: list[tuple[str, str | None]]) -> list[Classification]:
        return self.classifier.classify_many(items)

    # --- routing ------------------------------------------------------------------------------------
    async def current(self, complaint_id: str) -> RoutedComplaint | None:
        stored = await self._stored(complaint_id)
        return stored[0] if stored else None

    async def _stored(self, complaint_id: str) -> tuple[RoutedComplaint, str] | None:
        """The stored routing and the JSON it is stored as."""
        body = await self.runtime.redis.get(routed_key(complaint_id))
        return (RoutedComplaint.model_validate_json(body), body) if body else None

    async def route(self, complaint: Complaint, now: datetime) -> tuple[RoutedComplaint, str, bool]:
        """The complaint's routing, its JSON (stored and published as it is) and whether it was decided now."""
        # Recording the complaint in its customer's history is idempotent, so it shares the lookup's round trip.
        stored, repeat_count = await asyncio.gather(self._stored(complaint.complaint_id), self._repeat_count(complaint))
        if stored:
            return (*stored, False)
        classification = await self.classify((complaint.text, complaint.subject))
        storm, incident_id = await self._storm(complaint, classification, now)
        routed = decide(
            complaint,
            classifier=_Precomputed(classification),
            table=self.table,
            repeat_count=repeat_count,
            storm=storm,
            incident_id=incident_id,
            now=now,
            sla_profile=self.settings.sla_profile,
            holidays=self.holidays,
            tz=self.settings.timezone,
            review_below=self.settings.review_below,
        )
        body = routed.model_dump_json()
        won = await self.runtime.redis.set(routed_key(complaint.complaint_id), body, nx=True)
        if not won:  # another worker decided first during a rebalance: theirs stands
            theirs = await self._stored(complaint.complaint_id)
            return (*theirs, False) if theirs else (routed, body, False)
        await asyncio.gather(self._record(routed, ComplaintStatus.routed, now), self.schedule.plan(routed))
        return routed, body, True

    async def _repeat_count(self, complaint: Complaint) -> int:
        history = await record_customer_complaint(
            self.runtime.redis,
            complaint.customer,
            complaint.complaint_id,
            complaint.channel.value,
            complaint.received_at.timestamp(),
            look_back_s=self.settings.repeat_window_days * 86400,
        )
        start = complaint.received_at.timestamp() - self.settings.repeat_window_days * 86400
        related = set(complaint.related_to)
        return sum(
            1
            for other, (_, at) in history.items()
            if start <= at <= complaint.received_at.timestamp() and other not in related
        )

    async def _storm(
        self, complaint: Complaint, classification: Classification, now: datetime
    ) -> tuple[bool, str | None]:
        window = self.settings.storm_window_s
        bucket = int(now.timestamp() // window)
        line, reason = classification.business_line.value, classification.reason.value
        key = storm_key(line, reason, bucket)
        count = await add_and_count(self.runtime.redis, key, complaint.complaint_id, window * 2)
        if count < self.settings.storm_threshold:
            return False, None
        incident_id = stable_id("inc", line, reason, str(bucket))
        if await self.runtime.store.mark_once("incident", incident_id):
            event = ComplaintEvent(
                event_id=event_id_for(complaint.complaint_id, EventKind.incident.value, incident_id),
                kind=EventKind.incident,
                complaint_id=complaint.complaint_id,
                complaint_number=complaint.complaint_number,
                occurred_at=now,
                details={
                    "incident_id": incident_id,
                    "business_line": line,
                    "reason": reason,
                    "count": str(count),
                    "window_s": str(window),
                },
            )
            await self.outbox.send(self.runtime.topics.events, complaint.complaint_id, event.model_dump_json().encode())
            await record_incident(self.runtime.redis, {**event.details, "at": now.isoformat(timespec="seconds")})
            log.warning(
                "complaint storm",
                extra={"incident_id": incident_id, "business_line": line, "reason": reason, "count": count},
            )
        return True, incident_id

    async def _record(self, routed: RoutedComplaint, status: ComplaintStatus, now: datetime) -> None:
        await self.runtime.store.update(
            routed.complaint.complaint_id,
            status=status.value,
            department=routed.department.value,
            severity=routed.severity.value,
            deadlines=routed.deadlines.model_dump(mode="json"),
            revision=routed.revision,
            updated_at=now.isoformat(),
        )

    async def publish_routing(self, routed: RoutedComplaint, first_time: bool, body: str | None = None) -> None:
        """Publishes the routing; ``body`` is its JSON when the caller already has it (it is not made twice)."""
        topics = self.runtime.topics
        cid = routed.complaint.complaint_id
        value = (body or routed.model_dump_json()).encode()
        await self.outbox.send(topics.routed, cid, value)
        await self.outbox.send(topics.department(routed.department), cid, value)
        if routed.escalate_to and routed.escalate_to != routed.department:
            await self.outbox.send(topics.department(routed.escalate_to), cid, value)
        if routed.revision == 1:
            await self.emit(routed, EventKind.acknowledged, "1", deadline=routed.deadlines.decision_by)
        if routed.escalate_to:
            await self.emit(
                routed,
                EventKind.escalated,
                str(routed.revision),
                details={"escalate_to": routed.escalate_to.value},
            )
        if first_time:
            log.info(
                "complaint routed",
                extra={
                    "complaint_id": cid,
                    "number": routed.complaint.complaint_number,
                    "department": routed.department.value,
                    "severity": routed.severity.value,
                    "rule": routed.rule,
                },
            )

    async def emit(
        self,
        routed: RoutedComplaint,
        kind: EventKind,
        discriminator: str,
        *,
        deadline: datetime | None = None,
        details: dict[str, str] | None = None,
        at: datetime | None = None,
    ) -> None:
        complaint = routed.complaint
        event = ComplaintEvent(
            event_id=event_id_for(complaint.complaint_id, kind.value, discriminator),
            kind=kind,
            complaint_id=complaint.complaint_id,
            complaint_number=complaint.complaint_number,
            occurred_at=at or routed.routed_at,
            channel=complaint.channel,
            language=complaint.language,
            department=routed.department,
            severity=routed.severity,
            customer=complaint.customer,
            deadline=deadline,
            details=details or {},
        )
        await self.outbox.send(self.runtime.topics.events, complaint.complaint_id, event.model_dump_json().encode())

    # --- status updates -----------------------------------------------------------------------------
    async def apply_status(self, update: StatusUpdate, now: datetime) -> str:
        store = self.runtime.store
        complaint_id = update.complaint_id or await store.id_for_number(
            normalise_complaint_number(update.complaint_number)
        )
        routed = await self.current(complaint_id) if complaint_id else None
        if routed is None:
            raise PermanentError(f"status update for unknown complaint number {update.complaint_number}", "unknown")
        if await self.runtime.redis.exists(f"cf:done:status:{update.update_id}"):
            return "duplicate"
        status = update.status
        note = {"note": update.note} if update.note else {}
        if status in (ComplaintStatus.accepted, ComplaintStatus.investigating, ComplaintStatus.proposal):
            await self.schedule.cancel(routed, "first_contact")
            await self.emit(
                routed,
                EventKind.in_progress,
                update.update_id,
                at=now,
                details=note,
                deadline=routed.deadlines.decision_by,
            )
        elif status == ComplaintStatus.need_info:
            await self.schedule.cancel(routed, "first_contact")
            await self.emit(routed, EventKind.need_info, update.update_id, at=now, details=note)
        elif status in (ComplaintStatus.resolved, ComplaintStatus.rejected, ComplaintStatus.closed):
            await self.schedule.cancel(routed, None)
            kind = {
                ComplaintStatus.resolved: EventKind.resolved,
                ComplaintStatus.rejected: EventKind.rejected,
                ComplaintStatus.closed: EventKind.closed,
            }[status]
            details = {**note, **({"reason": update.reason} if update.reason else {})}
            await self.emit(routed, kind, update.update_id, at=now, details=details)
        elif status == ComplaintStatus.transferred:
            routed = await self._transfer(routed, update, now)
        elif status == ComplaintStatus.extended:
            routed = await self._extend(routed, update, now)
        await store.update(routed.complaint.complaint_id, status=status.value, updated_at=now.isoformat())
        await store.mark_once("status", update.update_id)
        return status.value

    async def _transfer(self, routed: RoutedComplaint, update: StatusUpdate, now: datetime) -> RoutedComplaint:
        if update.to_department is None:
            raise PermanentError("a transfer needs to_department", "invalid")
        target = Department(update.to_department)
        revision = routed.revision + 1
        cid = routed.complaint.complaint_id
        moved = routed.model_copy(
            update={
                "department": target,
                "revision": revision,
                "routing_id": stable_id("rte", cid, str(revision)),
                "rule": "transfer",
                "routed_at": now,
                "explanations": [
                    *routed.explanations,
                    f"transferred from {routed.department.value} to {target.value}"
                    + (f": {update.reason}" if update.reason else ""),
                ],
            }
        )
        body = moved.model_dump_json()
        await self.runtime.redis.set(routed_key(cid), body)
        await self._record(moved, ComplaintStatus.transferred, now)
        await self.publish_routing(moved, first_time=True, body=body)
        correction = routing_correction(routed, update, target, now)
        await self.outbox.send(self.runtime.topics.corrections, cid, correction.model_dump_json().encode())
        await self.emit(
            moved,
            EventKind.transferred,
            update.update_id,
            at=now,
            details={"from": routed.department.value, "to": target.value, "reason": update.reason or ""},
        )
        await self.emit(moved, EventKind.assigned, update.update_id, at=now)
        return moved

    async def _extend(self, routed: RoutedComplaint, update: StatusUpdate, now: datetime) -> RoutedComplaint:
        try:
            deadlines = extend_deadlines(
                routed.deadlines,
                routed.complaint.received_at,
                approver=update.approver,
                profile=routed.deadlines.profile,
            )
        except ExtensionNotAllowed as exc:
            raise PermanentError(f"extension refused: {exc}", "extension_refused") from None
        extended = routed.model_copy(
            update={
                "deadlines": deadlines,
                "explanations": [
                    *routed.explanations,
                    f"decision deadline extended to {deadlines.decision_by.isoformat()}"
                    + (f" ({update.reason})" if update.reason else ""),
                ],
            }
        )
        cid = routed.complaint.complaint_id
        body = extended.model_dump_json()
        await self.runtime.redis.set(routed_key(cid), body)
        await self._record(extended, ComplaintStatus.extended, now)
        await self.schedule.cancel(routed, "decision")
        await self.schedule.plan(extended, only="decision")
        await self.outbox.send(self.runtime.topics.routed, cid, body.encode())
        await self.emit(
            extended,
            EventKind.extended,
            update.update_id,
            at=now,
            deadline=deadlines.decision_by,
            details={
                "reason": update.reason or "",
                "previous_deadline": routed.deadlines.decision_by.isoformat(),
                "new_deadline": deadlines.decision_by.isoformat(),
                "approver": update.approver or "",
            },
        )
        return extended
