"""``Lifecycle.apply_status`` over every department status, table-driven, on the session's real Redis.

For each status: the complaint's stored status, its deadlines (moved, paused, resumed or unchanged), the SLA
alerts left planned for it, its department, and the events and records the lifecycle sends (read back from the
session's broker, under this module's topic prefix). Refusals leave all of that as it was. The outcome answer
wrapped around this (``answer_status``) is tested in tests/integration/test_status_outcomes.py. A database of its
own (10).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest

from kernel.embedded import EmbeddedStack
from kernel.state import Keys, SlaAlert
from kernel.streams import PermanentError
from kernel.topics import Topics
from schemas import ComplaintEvent, ComplaintStatus, RoutedComplaint, StatusUpdate
from services.router.lifecycle import Lifecycle
from tests.conftest import on_own_redis_database
from tests.kafka_support import BrokerOutbox
from tests.lifecycle_support import lifecycle_on, routed_complaint, status_update
from tests.test_schemas import NOW

TOPICS = Topics("")  # the topics' names without the module's prefix
DATABASE = 10
AT = NOW + timedelta(days=1)  # when the department's update arrives
ALL_ALERTS = frozenset(
    (which, kind) for which in ("first_contact", "decision") for kind in ("sla_warning", "sla_breached")
)
DECISION_ALERTS = frozenset(a for a in ALL_ALERTS if a[0] == "decision")


def _sent(outbox: BrokerOutbox) -> list[tuple[str, bytes]]:
    """What the test published, by topic name without the module's prefix."""
    return [(topic.removeprefix(outbox.topics.prefix), value) for topic, value in outbox.published()]


def _topics(outbox: BrokerOutbox) -> set[str]:
    return {topic for topic, _ in _sent(outbox)}


def _events(outbox: BrokerOutbox) -> list[ComplaintEvent]:
    return [ComplaintEvent.model_validate_json(v) for t, v in _sent(outbox) if t == TOPICS.events]


@dataclass(frozen=True)
class Case:
    status: str
    fields: dict[str, Any] = field(default_factory=dict)
    extensions: int = 0  # extensions already granted
    paused: bool = False  # the decision clock is stopped, waiting on the customer
    events: tuple[str, ...] = ()
    decision: str = "same"  # same | later | paused | resumed
    alerts: frozenset[tuple[str, str]] = ALL_ALERTS  # what stays planned
    department: str = "cards"
    also_sent_to: frozenset[str] = frozenset()  # topics beyond the events topic
    refused: str | None = None  # the refusal's code; nothing changes


CASES = [
    Case("accepted", events=("in_progress",), alerts=DECISION_ALERTS),
    Case("investigating", events=("in_progress",), alerts=DECISION_ALERTS),
    Case("proposal", {"note": "退还年费300元"}, events=("in_progress",), alerts=DECISION_ALERTS),
    # The department has what it asked for: the stopped clock starts again, moved by the time waited.
    Case(
        "accepted",
        paused=True,
        events=("sla_resumed", "in_progress"),
        decision="resumed",
        alerts=DECISION_ALERTS,
        also_sent_to=frozenset({TOPICS.routed}),
    ),
    # The cn profile stops the decision clock while the customer is asked for information.
    Case(
        "need_info",
        {"note": "请提供交易流水"},
        events=("need_info", "sla_paused"),
        decision="paused",
        alerts=frozenset(),
        also_sent_to=frozenset({TOPICS.routed}),
    ),
    Case("need_info", paused=True, events=("need_info",), decision="paused", alerts=frozenset()),
    Case("resolved", {"note": "已退还"}, events=("resolved",), alerts=frozenset()),
    Case("rejected", {"reason": "年费按合同收取"}, events=("rejected",), alerts=frozenset()),
    Case("closed", events=("closed",), alerts=frozenset()),
    Case(
        "transferred",
        {"to_department": "payments", "reason": "转账问题"},
        events=("transferred", "assigned"),
        department="payments",
        also_sent_to=frozenset({TOPICS.routed, TOPICS.department("payments"), TOPICS.corrections}),
    ),
    Case("transferred", refused="invalid"),
    Case("transferred", {"to_department": "cards"}, refused="invalid"),
    Case(
        "extended",
        {"reason": "需调取录像"},
        events=("extended",),
        decision="later",
        also_sent_to=frozenset({TOPICS.routed}),
    ),
    Case("extended", {"reason": "案情复杂"}, extensions=1, refused="extension_refused"),
    Case(
        "extended",
        {"reason": "案情复杂", "approver": "李行长"},
        extensions=1,
        events=("extended",),
        decision="later",
        also_sent_to=frozenset({TOPICS.routed}),
    ),
]


async def _routed_complaint(lifecycle: Lifecycle, case: Case) -> RoutedComplaint:
    return await routed_complaint(lifecycle, case.extensions, case.paused)


async def _planned(client: Any, complaint_id: str) -> frozenset[tuple[str, str]]:
    return frozenset(SlaAlert.parts(m)[1:] for m in await client.smembers(Keys.sla_members(complaint_id)))


def _update(number: str, status: str, **fields: Any) -> StatusUpdate:
    return status_update(number, status, AT, **fields)


def _decision_change(before: RoutedComplaint, after: RoutedComplaint) -> str:
    old, new = before.deadlines, after.deadlines
    if new.paused_at is not None:
        return "paused"
    if old.paused_at is not None:
        return "resumed" if new.decision_by > old.decision_by else "still the same after a pause"
    if new.decision_by > old.decision_by:
        return "later"
    return "same" if new.decision_by == old.decision_by else "earlier"


@pytest.mark.parametrize(
    "case",
    CASES,
    ids=[f"{c.status}{'-paused' if c.paused else ''}-{c.refused or 'applied'}-{i}" for i, c in enumerate(CASES)],
)
def test_lifecycle_applies_each_status(embedded: EmbeddedStack, broker_outbox: BrokerOutbox, case: Case) -> None:
    outbox = broker_outbox

    async def scenario(client: Any) -> None:
        lifecycle = lifecycle_on(client, outbox)
        before = await _routed_complaint(lifecycle, case)
        cid = before.complaint.complaint_id
        planned_before = await _planned(client, cid)
        update = _update(before.complaint.complaint_number, case.status, **case.fields)

        if case.refused:
            with pytest.raises(PermanentError) as refusal:
                await lifecycle.apply_status(update, AT)
            assert refusal.value.error_type == case.refused and refusal.value.reason
            assert _sent(outbox) == [], "a refused update sends nothing"
            assert await lifecycle.current(cid) == before
            assert (await lifecycle.runtime.store.get(cid))["status"] == "routed"
            assert await _planned(client, cid) == planned_before
            return

        assert await lifecycle.apply_status(update, AT) == case.status
        after = await lifecycle.current(cid)
        assert after is not None
        record = await lifecycle.runtime.store.get(cid)
        assert record["status"] == case.status and record["updated_at"] == AT.isoformat()
        assert tuple(e.kind.value for e in _events(outbox)) == case.events
        assert all(e.complaint_id == cid and e.department == after.department for e in _events(outbox))
        assert _topics(outbox) == {TOPICS.events} | case.also_sent_to
        assert after.department.value == case.department
        assert _decision_change(before, after) == case.decision
        assert await _planned(client, cid) == case.alerts
        if case.decision in ("later", "resumed"):
            decision_alerts = [m for m in await client.smembers(Keys.sla_members(cid)) if "|decision|" in m]
            moved_to = f"|{int(after.deadlines.decision_by.timestamp())}"
            assert decision_alerts and all(m.endswith(moved_to) for m in decision_alerts), "alerts follow the deadline"

        # Seen twice (a redelivery): applied once.
        sent_once = _sent(outbox)
        assert await lifecycle.apply_status(update, AT + timedelta(minutes=5)) == "duplicate"
        assert _sent(outbox) == sent_once
        assert await lifecycle.current(cid) == after

    on_own_redis_database(embedded, DATABASE, scenario)


@pytest.mark.parametrize("status", ["received", "routed"])
def test_lifecycle_sets_no_router_status_from_a_department(
    embedded: EmbeddedStack, broker_outbox: BrokerOutbox, status: str
) -> None:
    """The statuses the router sets itself are refused before the lifecycle applies anything."""

    outbox = broker_outbox

    async def scenario(client: Any) -> None:
        lifecycle = lifecycle_on(client, outbox)
        routed = await _routed_complaint(lifecycle, Case(status))
        answer, _ = await lifecycle.answer_status(_update(routed.complaint.complaint_number, status), AT)
        assert (answer.outcome.value, answer.code) == ("refused", "not_allowed")
        assert _events(outbox) == []
        assert await lifecycle.current(routed.complaint.complaint_id) == routed

    on_own_redis_database(embedded, DATABASE, scenario)


def test_lifecycle_refuses_an_unknown_complaint_number(embedded: EmbeddedStack, broker_outbox: BrokerOutbox) -> None:
    outbox = broker_outbox

    async def scenario(client: Any) -> None:
        lifecycle = lifecycle_on(client, outbox)
        with pytest.raises(PermanentError) as refusal:
            await lifecycle.apply_status(_update("CF-20261122-ZZZZZZ", "accepted"), AT)
        assert refusal.value.error_type == "unknown_complaint" and "CF-20261122-ZZZZZZ" in refusal.value.reason
        assert _sent(outbox) == []

    on_own_redis_database(embedded, DATABASE, scenario)


def test_lifecycle_table_covers_every_department_status() -> None:
    router_set = {ComplaintStatus.received, ComplaintStatus.routed}
    department_statuses = {s.value for s in ComplaintStatus} - {s.value for s in router_set}
    assert len(department_statuses) == 9
    assert {c.status for c in CASES if not c.refused} == department_statuses
