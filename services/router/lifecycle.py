"""The router's edge: takes decisions from the pure core and records and publishes them.

Redis keeps the current routing of every complaint (``Keys.routed``) so that redeliveries republish
the same decision and status updates apply to the latest revision.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Protocol

from domain.pii import mask_details, mask_free_text
from kernel.batching import TurnBatcher
from kernel.runtime import Runtime
from kernel.state import (
    IDEMPOTENCY_TTL_S,
    Keys,
    SlaAlert,
    SlaSchedule,
    count_storm_customer,
    record_customer_complaint,
    record_incident,
    storm_complaints,
    storm_customer_key,
)
from kernel.streams import PermanentError
from schemas import (
    Complaint,
    ComplaintEvent,
    ComplaintStatus,
    Department,
    EventKind,
    RoutedComplaint,
    StatusOutcome,
    StatusUpdate,
    event_id_for,
    normalize_complaint_number,
    stable_id,
)
from services.router.classifier import Classification, Classifier
from services.router.decide import decide, routing_correction
from services.router.department_feed import applied, pre_check, refused
from services.router.routing import RoutingTable
from services.router.sla import (
    DeadlineName,
    ExtensionNotAllowed,
    extend_deadlines,
    load_holidays,
    pause_deadlines,
    pauses_on_need_info,
    planned_alerts,
    resume_deadlines,
)
from services.router.storm import StormRule

log = logging.getLogger(__name__)


class Sender(Protocol):
    async def send(self, topic: str, key: str | bytes | None, value: bytes) -> None: ...


class _Precomputed:
    """Hands ``decide`` a classification already made (needed earlier for the storm count)."""

    def __init__(self, classification: Classification) -> None:
        self.classification = classification

    def classify(self, text: str, subject: str | None = None) -> Classification:
        return self.classification


def reply_context(complaint: Complaint) -> dict[str, str]:
    """What the notifier needs to answer in the customer's own thread: the Message-ID of the customer's mail
    (so our e-mails thread under it), and that a social direct message is answered privately."""
    context: dict[str, str] = {}
    if complaint.email and complaint.email.message_id:
        context["in_reply_to"] = complaint.email.message_id
    if complaint.social and not complaint.social.public:
        context["social_visibility"] = "private"
    return context


class Lifecycle:
    def __init__(self, runtime: Runtime, outbox: Sender, classifier: Classifier, table: RoutingTable) -> None:
        self.runtime = runtime
        self.settings = runtime.settings
        self.outbox = outbox
        self.classifier = classifier
        self.table = table
        self.holidays = load_holidays(self.settings.holidays_file) if self.settings.holidays_file else frozenset()
        self.schedule = SlaSchedule(runtime.redis)
        # The complaints routed together in one loop turn are classified in one batch (one matrix product).
        self.classify: TurnBatcher[tuple[str, str | None], Classification] = TurnBatcher(
            self._classify_batch, name="classification"
        )

    async def _classify_batch(self, items: list[tuple[str, str | None]]) -> list[Classification]:
        return self.classifier.classify_many(items)

    async def _plan(self, routed: RoutedComplaint, only: DeadlineName | None = None) -> None:
        """Plans the complaint's SLA alerts (the warning and the breach of each deadline, or of ``only``)."""
        cid = routed.complaint.complaint_id
        alerts = planned_alerts(routed.complaint.received_at, routed.deadlines, only)
        await self.schedule.plan(cid, [SlaAlert(cid, *alert) for alert in alerts])

    # --- routing ------------------------------------------------------------------------------------
    async def current(self, complaint_id: str) -> RoutedComplaint | None:
        stored = await self._stored(complaint_id)
        return stored[0] if stored else None

    async def _stored(self, complaint_id: str) -> tuple[RoutedComplaint, str] | None:
        """The stored routing and the JSON it is stored as."""
        body = await self.runtime.redis.get(Keys.routed(complaint_id))
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
        won = await self.runtime.redis.set(Keys.routed(complaint.complaint_id), body, nx=True)
        if not won:  # another worker decided first during a rebalance: theirs stands
            theirs = await self._stored(complaint.complaint_id)
            return (*theirs, False) if theirs else (routed, body, False)
        await asyncio.gather(self._record(routed, ComplaintStatus.routed, now), self._plan(routed))
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
        """Counts the complaint's customer in its line/reason window; once the window has enough distinct customers,
        raises the incident (once) and links every complaint of the window to it, the earlier ones included."""
        rule = StormRule(self.settings.storm_window_s, self.settings.storm_threshold)
        bucket = rule.bucket(now)
        line, reason = classification.business_line.value, classification.reason.value
        redis = self.runtime.redis
        customer = storm_customer_key(complaint.customer, complaint.complaint_id)
        customers = await count_storm_customer(
            redis, line, reason, bucket, customer, complaint.complaint_id, rule.key_ttl_s()
        )
        if not rule.is_storm(customers):
            return False, None
        incident_id = rule.incident_id(line, reason, bucket)
        await self.runtime.store.update(complaint.complaint_id, incident_id=incident_id)
        if await self.runtime.store.mark_once("incident", incident_id):
            details = {
                "incident_id": incident_id,
                "business_line": line,
                "reason": reason,
                "customers": str(customers),
                "window_s": str(rule.window_s),
            }
            await self._incident_event(complaint.complaint_id, complaint.complaint_number, now, details, "raised")
            linked = [c for c in await storm_complaints(redis, line, reason, bucket) if c != complaint.complaint_id]
            for other in linked:
                await self.runtime.store.update(other, incident_id=incident_id)
                number = (await self.runtime.store.get(other)).get("number", "")
                await self._incident_event(other, number, now, details, "linked")
            await record_incident(redis, {**details, "at": now.isoformat(timespec="seconds")})
            log.warning(
                "complaint storm",
                extra={
                    "incident_id": incident_id,
                    "business_line": line,
                    "reason": reason,
                    "customers": customers,
                    "linked": len(linked),
                },
            )
        return True, incident_id

    async def _incident_event(
        self, complaint_id: str, number: str, now: datetime, details: dict[str, str], role: str
    ) -> None:
        """The incident event of one complaint: ``raised`` for the complaint that made the storm, ``linked`` for
        those counted before it. One per complaint and incident (stable id), so a redelivery repeats nothing."""
        event = ComplaintEvent(
            event_id=event_id_for(complaint_id, EventKind.incident.value, details["incident_id"]),
            kind=EventKind.incident,
            complaint_id=complaint_id,
            complaint_number=number,
            occurred_at=now,
            details={**details, "role": role},
        )
        await self.outbox.send(self.runtime.topics.events, complaint_id, event.model_dump_json().encode())

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
            log.debug(
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
            # Department notes and reasons are free text: masked here (the reply context holds ids only).
            details={**reply_context(complaint), **mask_details(details or {})},
        )
        await self.outbox.send(self.runtime.topics.events, complaint.complaint_id, event.model_dump_json().encode())

    # --- status updates -----------------------------------------------------------------------------
    async def answer_status(self, update: StatusUpdate, now: datetime) -> tuple[StatusOutcome, bool]:
        """Applies the update (or refuses it) and publishes the outcome, keyed by the update id.

        The outcome is stored the first time; a resent update gets the stored outcome again and is not applied
        twice. Returns the outcome and whether it was decided now.
        """
        key = Keys.status_outcome(update.update_id)
        stored = await self.runtime.redis.get(key)
        if stored:
            await self.outbox.send(self.runtime.topics.status_outcomes, update.update_id, stored.encode())
            return StatusOutcome.model_validate_json(stored), False
        check = pre_check(update)
        try:
            if check is not None:
                raise PermanentError(check[1], check[0])
            await self.apply_status(update, now)
        except PermanentError as exc:
            outcome = refused(
                update.update_id,
                update.complaint_number,
                update.status.value,
                exc.error_type,
                exc.reason,
                now,
                update.department,
                update.complaint_id,
            )
            log.info("status update refused", extra={"update_id": update.update_id, "code": exc.error_type})
        else:
            complaint_id, detail = await self._applied_detail(update)
            outcome = applied(update, complaint_id, now, detail)
        body = outcome.model_dump_json()
        if not await self.runtime.redis.set(key, body, nx=True, ex=IDEMPOTENCY_TTL_S):
            body = await self.runtime.redis.get(key) or body  # another router answered first: theirs stands
        await self.outbox.send(self.runtime.topics.status_outcomes, update.update_id, body.encode())
        return StatusOutcome.model_validate_json(body), True

    async def _applied_detail(self, update: StatusUpdate) -> tuple[str | None, str | None]:
        """The complaint id and a short line on what the applied update changed."""
        complaint_id = update.complaint_id or await self.runtime.store.id_for_number(
            normalize_complaint_number(update.complaint_number)
        )
        routed = await self.current(complaint_id) if complaint_id else None
        if routed is None:
            return complaint_id, None
        if update.status == ComplaintStatus.transferred:
            return complaint_id, f"now with {routed.department.value}"
        if update.status in (ComplaintStatus.resolved, ComplaintStatus.rejected, ComplaintStatus.closed):
            return complaint_id, None
        prefix = "decision now due" if update.status == ComplaintStatus.extended else "decision due"
        return complaint_id, f"{prefix} {routed.deadlines.decision_by.isoformat(timespec='minutes')}"

    async def apply_status(self, update: StatusUpdate, now: datetime) -> str:
        store = self.runtime.store
        complaint_id = update.complaint_id or await store.id_for_number(
            normalize_complaint_number(update.complaint_number)
        )
        routed = await self.current(complaint_id) if complaint_id else None
        if routed is None:
            raise PermanentError(
                f"no complaint has the number {update.complaint_number} (check the number)", "unknown_complaint"
            )
        if await self.runtime.redis.exists(Keys.done("status", update.update_id)):
            return "duplicate"
        status = update.status
        note = {"note": update.note} if update.note else {}
        if status in (ComplaintStatus.accepted, ComplaintStatus.investigating, ComplaintStatus.proposal):
            await self.schedule.cancel(routed.complaint.complaint_id, "first_contact")
            if routed.deadlines.paused_at is not None:  # the department has what it asked for, by whatever way
                await self.resume_clock(routed.complaint.complaint_id, update.update_id, now)
                routed = await self.current(routed.complaint.complaint_id) or routed
            await self.emit(
                routed,
                EventKind.in_progress,
                update.update_id,
                at=now,
                details=note,
                deadline=routed.deadlines.decision_by,
            )
        elif status == ComplaintStatus.need_info:
            await self.schedule.cancel(routed.complaint.complaint_id, "first_contact")
            await self.emit(routed, EventKind.need_info, update.update_id, at=now, details=note)
            routed = await self.pause_clock(routed, update.update_id, now)
        elif status in (ComplaintStatus.resolved, ComplaintStatus.rejected, ComplaintStatus.closed):
            await self.schedule.cancel(routed.complaint.complaint_id, None)
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
        if target == routed.department:
            raise PermanentError(f"the complaint is already with {target.value}", "invalid")
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
                    + (f": {mask_free_text(update.reason)}" if update.reason else ""),
                ],
            }
        )
        body = moved.model_dump_json()
        await self.runtime.redis.set(Keys.routed(cid), body)
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
                    + (f" ({mask_free_text(update.reason)})" if update.reason else ""),
                ],
            }
        )
        cid = routed.complaint.complaint_id
        body = extended.model_dump_json()
        await self.runtime.redis.set(Keys.routed(cid), body)
        await self._record(extended, ComplaintStatus.extended, now)
        await self.schedule.cancel(routed.complaint.complaint_id, "decision")
        if deadlines.paused_at is None:  # a stopped clock is planned again when it resumes
            await self._plan(extended, only="decision")
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

    # --- waiting on the customer ------------------------------------------------------------------------
    async def pause_clock(self, routed: RoutedComplaint, cause: str, now: datetime) -> RoutedComplaint:
        """A request for information stops the decision clock, where the SLA profile says so (event sla_paused)."""
        deadlines = routed.deadlines
        if deadlines.paused_at is not None or not pauses_on_need_info(
            deadlines.profile, self.settings.sla_pause_on_need_info
        ):
            return routed
        paused = routed.model_copy(update={"deadlines": pause_deadlines(deadlines, now)})
        await self._store_deadlines(paused, now)
        await self.schedule.cancel(routed.complaint.complaint_id, "decision")
        await self.emit(
            paused,
            EventKind.sla_paused,
            cause,
            at=now,
            deadline=deadlines.decision_by,
            details={"deadline_kind": "decision", "waiting_on": "customer"},
        )
        return paused

    async def resume_clock(self, complaint_id: str, cause: str, now: datetime) -> str:
        """The customer's reply starts a stopped decision clock again; the deadline moves by the time waited
        (event sla_resumed). ``cause`` (the reply's event id) is applied once."""
        routed = await self.current(complaint_id)
        if routed is None or routed.deadlines.paused_at is None:
            return "not_paused"
        store = self.runtime.store
        if not await store.mark_once("sla_resume", cause):
            return "duplicate"  # a reply seen before must not end a later wait
        deadlines = resume_deadlines(routed.deadlines, max(now, routed.deadlines.paused_at))
        resumed = routed.model_copy(update={"deadlines": deadlines})
        try:
            await self._store_deadlines(resumed, now)
            await self._plan(resumed, only="decision")
        except BaseException:
            await store.forget("sla_resume", cause)  # not applied: the redelivery applies it
            raise
        await self.emit(
            resumed,
            EventKind.sla_resumed,
            cause,
            at=now,
            deadline=deadlines.decision_by,
            details={
                "deadline_kind": "decision",
                "previous_deadline": routed.deadlines.decision_by.isoformat(),
                "new_deadline": deadlines.decision_by.isoformat(),
                "paused_s": str(deadlines.paused_s - routed.deadlines.paused_s),
            },
        )
        return "resumed"

    async def _store_deadlines(self, routed: RoutedComplaint, now: datetime) -> None:
        body = routed.model_dump_json()
        await self.runtime.redis.set(Keys.routed(routed.complaint.complaint_id), body)
        await self.runtime.store.update(
            routed.complaint.complaint_id,
            deadlines=routed.deadlines.model_dump(mode="json"),
            updated_at=now.isoformat(),
        )
        await self.outbox.send(self.runtime.topics.routed, routed.complaint.complaint_id, body.encode())
