"""The SLA clock's edge: deadlines live in a Redis sorted set; a sweeper emits each alert exactly once.

Each planned alert is one member (complaint, deadline kind, alert kind, deadline instant). The sweeper
claims a due member by removing it (ZREM answers 1 to one caller only), so however many routers sweep,
every warning and breach is emitted once. Moving a deadline replaces its members.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import redis.asyncio as aioredis

from complaintflow.metrics import SLA_CLOCKS
from complaintflow.runtime import Runtime
from schemas import Department, EventKind, RoutedComplaint

log = logging.getLogger(__name__)

DUE = "cf:sla:due"
WARN_AT_FRACTION = 0.8  # warn when 80 % of the allowed time has gone


def _members_key(complaint_id: str) -> str:
    return f"cf:sla:members:{complaint_id}"


def _member(complaint_id: str, which: str, kind: str, deadline: datetime) -> str:
    return f"{complaint_id}|{which}|{kind}|{int(deadline.timestamp())}"


class SlaSchedule:
    def __init__(self, client: aioredis.Redis) -> None:
        self.redis = client

    async def plan(self, routed: RoutedComplaint, only: str | None = None) -> None:
        cid = routed.complaint.complaint_id
        received = routed.complaint.received_at
        entries: dict[str, float] = {}
        for which, deadline in (
            ("first_contact", routed.deadlines.first_contact_by),
            ("decision", routed.deadlines.decision_by),
        ):
            if only and which != only:
                continue
            warn_at = received + (deadline - received) * WARN_AT_FRACTION
            entries[_member(cid, which, EventKind.sla_warning.value, deadline)] = warn_at.timestamp()
            entries[_member(cid, which, EventKind.sla_breached.value, deadline)] = deadline.timestamp()
        pipe = self.redis.pipeline(transaction=False)
        pipe.zadd(DUE, entries)
        pipe.sadd(_members_key(cid), *entries)
        await pipe.execute()

    async def cancel(self, routed: RoutedComplaint, which: str | None) -> None:
        cid = routed.complaint.complaint_id
        members = [m for m in await self.redis.smembers(_members_key(cid)) if which is None or m.split("|")[1] == which]
        if members:
            pipe = self.redis.pipeline(transaction=False)
            pipe.zrem(DUE, *members)
            pipe.srem(_members_key(cid), *members)
            await pipe.execute()

    async def claim_due(self, now: datetime, limit: int = 500) -> list[str]:
        due = await self.redis.zrangebyscore(DUE, "-inf", now.timestamp(), start=0, num=limit)
        if not due:
            return []
        pipe = self.redis.pipeline(transaction=False)
        for member in due:
            pipe.zrem(DUE, member)
        claimed = await pipe.execute()
        return [member for member, won in zip(due, claimed, strict=True) if won]

    async def open_clocks(self) -> int:
        return int(await self.redis.zcard(DUE))


class SlaClock:
    def __init__(self, runtime: Runtime, lifecycle: object) -> None:
        from services.router.lifecycle import Lifecycle

        assert isinstance(lifecycle, Lifecycle)
        self.runtime = runtime
        self.lifecycle = lifecycle
        self.schedule = lifecycle.schedule

    async def sweep(self, now: datetime | None = None) -> int:
        """Emit every alert due at ``now`` (injectable, so tests and operators can sweep at any instant)."""
        now = now or datetime.now(UTC)
        emitted = 0
        for member in await self.schedule.claim_due(now):
            cid, which, kind, _ = member.split("|")
            routed = await self.lifecycle.current(cid)
            if routed is None:
                continue
            await self.runtime.redis.srem(_members_key(cid), member)
            await self._alert(routed, which, EventKind(kind), member, now)
            emitted += 1
        return emitted

    async def _alert(self, routed: RoutedComplaint, which: str, kind: EventKind, member: str, now: datetime) -> None:
        deadline = routed.deadlines.first_contact_by if which == "first_contact" else routed.deadlines.decision_by
        details = {"deadline_kind": which}
        await self.lifecycle.emit(routed, kind, member, at=now, deadline=deadline, details=details)
        if kind == EventKind.sla_breached:  # open and warning are set from the schedule (complaintflow.operations)
            SLA_CLOCKS.labels("breached").inc()
        log.warning(
            "sla alert",
            extra={"complaint_id": routed.complaint.complaint_id, "kind": kind.value, "deadline_kind": which},
        )
        if kind != EventKind.sla_breached:
            return
        cid = routed.complaint.complaint_id
        escalation = Department.consumer_protection
        await self.lifecycle.outbox.send(
            self.runtime.topics.department(escalation), cid, routed.model_dump_json().encode()
        )
        await self.lifecycle.emit(
            routed,
            EventKind.escalated,
            member,
            at=now,
            details={"escalate_to": escalation.value, "cause": f"sla_breached:{which}"},
        )
        if which == "decision" and self.runtime.settings.sla_breach_apology:
            await self.lifecycle.emit(routed, EventKind.sla_breach_apology, member, at=now, deadline=deadline)
