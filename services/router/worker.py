"""Router role: classify, score severity, route to a department, run the SLA clock, apply status updates.

Decisions are stored in Redis the first time they are taken and republished unchanged on redelivery, so a
complaint seen twice is routed once, the same way.
"""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, datetime

import faust

from kernel.roles import RoleParts
from kernel.runtime import Runtime
from kernel.stage import StageRunner, add_stage
from kernel.streams import InboundMessage, Outbox, PermanentError, dependency_errors, guarded, parse_record
from schemas import Complaint, ComplaintEvent, EventKind, RoutedComplaint, StatusUpdate
from services.router.classifier import Classifier
from services.router.department_feed import FOLLOW_UP_EVENTS, follow_up_record, refused
from services.router.lifecycle import Lifecycle
from services.router.routing import RoutingTable
from services.router.sla_clock import SlaClock

log = logging.getLogger(__name__)
ROUTING_WAIT_S = 30  # how long a follow-up waits for its complaint's routing before it is retried


class ComplaintRouter:
    def __init__(self, runtime: Runtime, outbox: Outbox, lifecycle: Lifecycle) -> None:
        self.runtime = runtime
        self.outbox = outbox
        self.lifecycle = lifecycle

    async def __call__(self, message: InboundMessage) -> str:
        complaint = parse_record(Complaint, message)
        routed, body, is_new = await self.lifecycle.route(complaint, datetime.now(UTC))
        await self.lifecycle.publish_routing(routed, first_time=is_new, body=body)
        return "routed" if is_new else "duplicate"


class StatusApplier:
    def __init__(self, lifecycle: Lifecycle, max_attempts: int) -> None:
        self.lifecycle = lifecycle
        self.max_attempts = max_attempts
        self._outages = dependency_errors()
        self._failures: dict[tuple[str, int, int], int] = {}

    async def __call__(self, message: InboundMessage) -> str:
        try:
            update = parse_record(StatusUpdate, message)
        except PermanentError as exc:
            await self._refuse_unreadable(message, exc)
            raise
        where = (message.topic, message.partition, message.offset)
        try:
            outcome, decided_now = await self.lifecycle.answer_status(update, datetime.now(UTC))
        except self._outages:
            raise  # held and retried until the dependency is back; not a failure of this update
        except Exception as exc:
            await self._answer_failure(where, update, exc)
            raise
        self._failures.pop(where, None)
        return outcome.outcome.value if decided_now else "duplicate"

    async def _answer_failure(self, where: tuple[str, int, int], update: StatusUpdate, exc: Exception) -> None:
        """On the last attempt the runner makes (it then dead-letters the update), the sender is told as well."""
        failures = self._failures[where] = self._failures.get(where, 0) + 1
        if failures < self.max_attempts:
            return
        del self._failures[where]
        outcome = refused(
            update.update_id,
            update.complaint_number,
            update.status.value,
            "failed",
            f"the router could not apply it ({type(exc).__name__}); operators find it in the dead letters",
            datetime.now(UTC),
            update.department,
            update.complaint_id,
        )
        topic = self.lifecycle.runtime.topics.status_outcomes
        await self.lifecycle.outbox.send(topic, update.update_id, outcome.model_dump_json().encode())

    async def _refuse_unreadable(self, message: InboundMessage, exc: PermanentError) -> None:
        """An update that names its id but does not fit the schema is answered (refused) as well as dead-lettered."""
        try:
            data = json.loads(message.value)
        except ValueError:
            return
        update_id = data.get("update_id") if isinstance(data, dict) else None
        if not isinstance(update_id, str) or not update_id:
            return
        number, status = data.get("complaint_number"), data.get("status")
        outcome = refused(
            update_id,
            number if isinstance(number, str) else "",
            status if isinstance(status, str) else "",
            "invalid",
            f"the update does not fit the StatusUpdate schema ({exc.reason})",
            datetime.now(UTC),
        )
        runtime = self.lifecycle.runtime
        await self.lifecycle.outbox.send(runtime.topics.status_outcomes, update_id, outcome.model_dump_json().encode())


class FollowUpForwarder:
    """Puts each customer follow-up (``complaints.followups``) on the queue of the department that holds the
    complaint."""

    def __init__(self, lifecycle: Lifecycle) -> None:
        self.lifecycle = lifecycle

    async def __call__(self, message: InboundMessage) -> str:
        event = parse_record(ComplaintEvent, message)
        if event.kind.value not in FOLLOW_UP_EVENTS:  # the topic carries nothing else: a writer's mistake
            raise PermanentError(f"a {event.kind.value} event is not a follow-up", "not_a_follow_up")
        routed = await self._routing(event.complaint_id)
        if routed is None:  # still not routed: retried, then dead-lettered (replayable), never dropped silently
            raise LookupError(f"follow-up for complaint {event.complaint_id}, which is not routed yet")
        status = (await self.lifecycle.runtime.store.get(event.complaint_id)).get("status")
        record = follow_up_record(routed, event, status)
        topic = self.lifecycle.runtime.topics.department(record.department)
        await self.lifecycle.outbox.send(topic, event.complaint_id, record.model_dump_json().encode())
        if event.kind == EventKind.follow_up_received:  # the customer's reply starts a clock stopped for need_info
            await self.lifecycle.resume_clock(event.complaint_id, event.event_id, datetime.now(UTC))
        return record.kind.value

    async def _routing(self, complaint_id: str) -> RoutedComplaint | None:
        """The complaint's routing, waiting a while for it: a follow-up can overtake its complaint's routing when
        the router is behind on complaints.normalized (other complaints' follow-ups go on meanwhile)."""
        for _ in range(ROUTING_WAIT_S * 2):
            routed = await self.lifecycle.current(complaint_id)
            if routed is not None:
                return routed
            await asyncio.sleep(0.5)
        return await self.lifecycle.current(complaint_id)


def install(app: faust.App, runtime: Runtime, options: dict[str, object]) -> RoleParts:
    settings = runtime.settings
    outbox = Outbox(app)
    lifecycle = Lifecycle(runtime, outbox, Classifier.load(), RoutingTable.load(settings.routing_table))
    attempts = settings.max_handler_attempts
    add_stage(
        app,
        runtime.topics.normalized,
        StageRunner("router", ComplaintRouter(runtime, outbox, lifecycle), outbox, runtime.topics, attempts),
        settings,
    )
    add_stage(
        app,
        runtime.topics.status,
        StageRunner("router.status", StatusApplier(lifecycle, attempts), outbox, runtime.topics, attempts),
        settings,
    )
    add_stage(
        app,
        runtime.topics.followups,
        StageRunner("router.follow_up", FollowUpForwarder(lifecycle), outbox, runtime.topics, attempts),
        settings,
    )
    clock = SlaClock(runtime, lifecycle)

    app.timer(settings.sla_sweep_interval_s, name="sla_sweeper")(guarded("sla_sweeper", clock.sweep))

    return RoleParts()


__all__ = ["ComplaintRouter", "FollowUpForwarder", "RoutedComplaint", "StatusApplier", "install"]
