"""Router role: classify, score severity, route to a department, run the SLA clock, apply status updates.

Decisions are stored in Redis the first time they are taken and republished unchanged on redelivery, so a
complaint seen twice is routed once, the same way.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import faust

from complaintflow.runner import RoleParts
from complaintflow.runtime import Runtime
from complaintflow.streams import InboundMessage, Outbox, StageRunner, add_stage, guarded, parse_record
from schemas import Complaint, ComplaintEvent, EventKind, RoutedComplaint, StatusUpdate, peek_event_kind
from services.router.classifier import Classifier
from services.router.lifecycle import Lifecycle
from services.router.routing import RoutingTable
from services.router.sla_clock import SlaClock

log = logging.getLogger(__name__)


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
    def __init__(self, lifecycle: Lifecycle) -> None:
        self.lifecycle = lifecycle

    async def __call__(self, message: InboundMessage) -> str:
        update = parse_record(StatusUpdate, message)
        return await self.lifecycle.apply_status(update, datetime.now(UTC))


class CustomerReplies:
    """A customer's reply (a follow-up on ``complaints.events``) starts a decision clock stopped for need_info."""

    def __init__(self, lifecycle: Lifecycle) -> None:
        self.lifecycle = lifecycle

    async def __call__(self, message: InboundMessage) -> str:
        kind = peek_event_kind(message.value)
        if kind is not None and kind != EventKind.follow_up_received.value:
            return "skipped"  # most events: not parsed
        event = parse_record(ComplaintEvent, message)
        if event.kind != EventKind.follow_up_received:
            return "skipped"
        return await self.lifecycle.resume_clock(event.complaint_id, event.event_id, datetime.now(UTC))


def install(app: faust.App, runtime: Runtime, options: dict[str, object]) -> RoleParts:
    settings = runtime.settings
    outbox = Outbox(app)
    lifecycle = Lifecycle(runtime, outbox, Classifier.load(), RoutingTable.load(settings.routing_table))
    attempts = settings.max_handler_attempts
    add_stage(
        app,
        runtime.topics.normalized,
        StageRunner("router", ComplaintRouter(runtime, outbox, lifecycle), outbox, runtime.topics, attempts),
    )
    add_stage(
        app,
        runtime.topics.status,
        StageRunner("router.status", StatusApplier(lifecycle), outbox, runtime.topics, attempts),
    )
    add_stage(
        app,
        runtime.topics.events,
        StageRunner("router.replies", CustomerReplies(lifecycle), outbox, runtime.topics, attempts),
    )
    clock = SlaClock(runtime, lifecycle)

    app.timer(settings.sla_sweep_interval_s, name="sla_sweeper")(guarded("sla_sweeper", clock.sweep))

    return RoleParts()


__all__ = ["ComplaintRouter", "CustomerReplies", "RoutedComplaint", "StatusApplier", "install"]
