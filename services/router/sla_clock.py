"""The SLA clock's edge: deadlines live in a Redis sorted set; a sweeper emits each alert exactly once.

Each planned alert is one member (complaint, deadline kind, alert kind, deadline instant). The sweeper
claims a due member by removing it (ZREM answers 1 to one caller only), so however many routers sweep,
every warning and breach is emitted once. Moving a deadline replaces its members.

Beside the set, a hash counts its members per alert kind; the same Lua script that adds or removes a member
moves the count, so the count stays exact under redelivery and concurrent routers, and the open-clock gauges
read two numbers instead of the whole schedule (which grows with every open complaint).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

import redis.asyncio as aioredis

from kernel.metrics import SLA_CLOCKS
from kernel.runtime import Runtime
from kernel.state import Keys
from schemas import Department, DepartmentRecord, EventKind, RoutedComplaint
from services.router.department_feed import escalation_record, sla_record

log = logging.getLogger(__name__)

DUE = Keys.SLA_DUE
COUNTS = Keys.SLA_COUNTS
WARN_AT_FRACTION = 0.8  # warn when 80 % of the allowed time has gone
_COUNTED = "exact"  # field of COUNTS set once the counts were taken from the whole schedule

# KEYS: due, counts. ARGV: member, score, alert kind, ... A member already planned only gets its score back.
_ADD = """
for i = 1, #ARGV, 3 do
  if redis.call('ZADD', KEYS[1], ARGV[i + 1], ARGV[i]) == 1 then
    redis.call('HINCRBY', KEYS[2], ARGV[i + 2], 1)
  end
end
"""
# KEYS: due, counts. ARGV: member, alert kind, ... Answers 1 for each member this call removed, else 0.
_REMOVE = """
local removed = {}
for i = 1, #ARGV, 2 do
  removed[#removed + 1] = redis.call('ZREM', KEYS[1], ARGV[i])
  if removed[#removed] == 1 then
    redis.call('HINCRBY', KEYS[2], ARGV[i + 1], -1)
  end
end
return removed
"""
# KEYS: due, counts. Counts the whole schedule once (a store that had a schedule before it had counts).
_RECOUNT = """
local counts = {sla_warning = 0, sla_breached = 0}
for _, member in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local kind = string.match(member, '^[^|]*|[^|]*|([^|]*)|')
  if counts[kind] then counts[kind] = counts[kind] + 1 end
end
redis.call('HSET', KEYS[2], 'sla_warning', counts.sla_warning, 'sla_breached', counts.sla_breached, 'exact', 1)
"""


def _members_key(complaint_id: str) -> str:
    return f"cf:sla:members:{complaint_id}"


def _member(complaint_id: str, which: str, kind: str, deadline: datetime) -> str:
    return f"{complaint_id}|{which}|{kind}|{int(deadline.timestamp())}"


def _alert_kind(member: str) -> str:
    return member.split("|")[2]


async def clock_states(client: aioredis.Redis) -> dict[str, int]:
    """Open clocks (a breach alert still ahead) and, of those, the ones already past their warning.

    Every clock is planned with a warning and a breach alert and the warning falls due first, so the clocks
    past their warning are the breach alerts left beyond the warning alerts left."""
    counts = await client.hgetall(COUNTS)
    if _COUNTED not in counts:
        await client.eval(_RECOUNT, 2, DUE, COUNTS)
        counts = await client.hgetall(COUNTS)
    breach, warning = int(counts.get("sla_breached", 0)), int(counts.get("sla_warning", 0))
    return {"open": breach, "warning": max(0, breach - warning)}


class SlaSchedule:
    def __init__(self, client: aioredis.Redis) -> None:
        self.redis = client
        self._add = client.register_script(_ADD)
        self._remove = client.register_script(_REMOVE)

    async def plan(self, routed: RoutedComplaint, only: str | None = None) -> None:
        cid = routed.complaint.complaint_id
        received = routed.complaint.received_at
        entries: dict[str, tuple[float, str]] = {}
        for which, deadline in (
            ("first_contact", routed.deadlines.first_contact_by),
            ("decision", routed.deadlines.decision_by),
        ):
            if only and which != only:
                continue
            warn_at = received + (deadline - received) * WARN_AT_FRACTION
            for kind, at in ((EventKind.sla_warning, warn_at), (EventKind.sla_breached, deadline)):
                entries[_member(cid, which, kind.value, deadline)] = (at.timestamp(), kind.value)
        if not entries:
            return
        await asyncio.gather(
            self._add(keys=[DUE, COUNTS], args=[x for m, (at, kind) in entries.items() for x in (m, at, kind)]),
            self.redis.sadd(_members_key(cid), *entries),
        )

    async def cancel(self, routed: RoutedComplaint, which: str | None) -> None:
        cid = routed.complaint.complaint_id
        members = [m for m in await self.redis.smembers(_members_key(cid)) if which is None or m.split("|")[1] == which]
        if members:
            await asyncio.gather(self._release(members), self.redis.srem(_members_key(cid), *members))

    async def _release(self, members: list[str]) -> list[int]:
        """Takes ``members`` out of the schedule; 1 for each one this call removed, 0 if it was gone already."""
        return await self._remove(keys=[DUE, COUNTS], args=[x for m in members for x in (m, _alert_kind(m))])

    async def claim_due(self, now: datetime, limit: int = 500) -> list[str]:
        due = await self.redis.zrangebyscore(DUE, "-inf", now.timestamp(), start=0, num=limit)
        if not due:
            return []
        claimed = await self._release(due)
        return [member for member, won in zip(due, claimed, strict=True) if won]


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
            try:
                routed = await self.lifecycle.current(cid)
            except ValueError:  # a corrupt stored routing must not stop every other complaint's alerts
                log.error("sla alert dropped: stored routing unreadable", extra={"complaint_id": cid, "kind": kind})
                continue
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
