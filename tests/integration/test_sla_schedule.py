"""The SLA schedule against the real redis-server: counts per alert kind stay exact as alerts come and go.

A database of its own (15), so the shared stack's schedule and this file's never meet.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta

from kernel.embedded import EmbeddedStack
from kernel.state import Keys, SlaAlert, SlaSchedule
from kernel.state import sla_clock_states as clock_states
from schemas import RoutedComplaint, complaint_id_for
from services.router.sla import planned_alerts
from tests.conftest import on_own_redis_database
from tests.test_schemas import NOW, sample_routed


def _routed(n: int, first_contact: timedelta = timedelta(days=2)) -> RoutedComplaint:
    routed = sample_routed()
    complaint = routed.complaint.model_copy(
        update={"complaint_id": complaint_id_for(routed.complaint.channel, f"sla-{n}")}
    )
    deadlines = routed.deadlines.model_copy(update={"first_contact_by": NOW + first_contact})
    return routed.model_copy(update={"complaint": complaint, "deadlines": deadlines})


async def _plan(schedule: SlaSchedule, routed: RoutedComplaint) -> None:
    cid = routed.complaint.complaint_id
    await schedule.plan(
        cid, [SlaAlert(cid, *a) for a in planned_alerts(routed.complaint.received_at, routed.deadlines)]
    )


def _on_own_database(embedded: EmbeddedStack, scenario: Callable[[SlaSchedule], Awaitable[None]]) -> None:
    on_own_redis_database(embedded, 15, lambda client: scenario(SlaSchedule(client)))


def test_counts_follow_plans_claims_and_cancellations(embedded: EmbeddedStack) -> None:
    async def scenario(schedule: SlaSchedule) -> None:
        complaints = [_routed(n) for n in range(5)]
        await asyncio.gather(*(_plan(schedule, r) for r in complaints))
        await _plan(schedule, complaints[0])  # a redelivery plans the same alerts again
        assert await clock_states(schedule.redis) == {"open": 10, "warning": 0}

        # 80 % of two days: every first-contact warning is due, no breach yet.
        claimed = await schedule.claim_due(NOW + timedelta(days=1, hours=16))
        assert sorted(m.split("|")[1:3] for m in claimed) == [["first_contact", "sla_warning"]] * 5
        assert await clock_states(schedule.redis) == {"open": 10, "warning": 5}

        # Two routers sweeping the same instant: each breach is claimed once, and counted down once.
        both = await asyncio.gather(*(schedule.claim_due(NOW + timedelta(days=2)) for _ in range(2)))
        assert sorted(len(c) for c in both) in ([0, 5], [1, 4], [2, 3])
        assert await clock_states(schedule.redis) == {"open": 5, "warning": 0}

        await schedule.cancel(complaints[1].complaint.complaint_id, None)
        await schedule.cancel(complaints[1].complaint.complaint_id, None)  # cancelling twice removes nothing more
        assert await clock_states(schedule.redis) == {"open": 4, "warning": 0}
        # Left in the schedule: the decision warning and breach of each of the four others.
        assert await schedule.redis.zcard(Keys.SLA_DUE) == 8

    _on_own_database(embedded, scenario)


def test_a_schedule_without_counts_is_counted_once_from_its_members(embedded: EmbeddedStack) -> None:
    async def scenario(schedule: SlaSchedule) -> None:
        await asyncio.gather(*(_plan(schedule, _routed(n)) for n in range(3)))
        await schedule.claim_due(NOW + timedelta(days=1, hours=16))
        expected = await clock_states(schedule.redis)
        # A store whose schedule predates the counts (or whose counts were lost): counted once from the set.
        await schedule.redis.delete(Keys.SLA_COUNTS)
        assert await clock_states(schedule.redis) == expected == {"open": 6, "warning": 3}
        await _plan(schedule, _routed(3))
        assert await clock_states(schedule.redis) == {"open": 8, "warning": 3}

    _on_own_database(embedded, scenario)
