"""The router's answer to each status update (``Lifecycle.answer_status``) over every status, on the real Redis.

What the lifecycle sends goes to the session's broker, under this module's topic prefix, and is read back from
there (the stream plumbing around it is tested end to end in test_department_loop.py). A database of its own (11).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from kernel.embedded import EmbeddedStack
from kernel.state import Keys
from kernel.streams import InboundMessage
from schemas import ComplaintEvent, StatusOutcome, StatusUpdate
from services.router.worker import StatusApplier
from tests.conftest import on_own_redis_database
from tests.kafka_support import BrokerOutbox
from tests.lifecycle_support import lifecycle_on, routed_complaint, status_update
from tests.test_schemas import NOW


def _update(number: str, status: str, **fields: Any) -> StatusUpdate:
    return status_update(number, status, NOW, **fields)


pytestmark = pytest.mark.integration


def _event_kinds(outbox: BrokerOutbox) -> list[str]:
    return [ComplaintEvent.model_validate_json(v).kind.value for v in outbox.on(outbox.topics.events)]


# status, update fields, extensions already granted, outcome, refusal code, events the customer's side sees
CASES = [
    ("accepted", {}, 0, "applied", None, ["in_progress"]),
    ("investigating", {}, 0, "applied", None, ["in_progress"]),
    (
        "need_info",
        {"note": "请提供交易流水"},
        0,
        "applied",
        None,
        ["need_info", "sla_paused"],
    ),  # the cn profile stops the decision clock
    ("proposal", {"note": "退还年费300元"}, 0, "applied", None, ["in_progress"]),
    ("resolved", {"note": "已退还"}, 0, "applied", None, ["resolved"]),
    ("rejected", {"reason": "年费按合同收取"}, 0, "applied", None, ["rejected"]),
    ("closed", {}, 0, "applied", None, ["closed"]),
    (
        "transferred",
        {"to_department": "payments", "reason": "转账问题"},
        0,
        "applied",
        None,
        ["transferred", "assigned"],
    ),
    ("transferred", {}, 0, "refused", "invalid", []),
    ("transferred", {"to_department": "cards"}, 0, "refused", "invalid", []),
    ("extended", {"reason": "需调取录像"}, 0, "applied", None, ["extended"]),
    ("extended", {"reason": "案情复杂"}, 1, "refused", "extension_refused", []),
    ("extended", {"reason": "案情复杂", "approver": "李行长"}, 1, "applied", None, ["extended"]),
    ("received", {}, 0, "refused", "not_allowed", []),
    ("routed", {}, 0, "refused", "not_allowed", []),
]


@pytest.mark.parametrize(
    ("status", "fields", "extensions", "outcome", "code", "events"),
    CASES,
    ids=[f"{c[0]}-{c[3]}-{i}" for i, c in enumerate(CASES)],
)
def test_every_status_update_gets_an_outcome(
    embedded: EmbeddedStack,
    broker_outbox: BrokerOutbox,
    status: str,
    fields: dict,
    extensions: int,
    outcome: str,
    code: str | None,
    events: list,
) -> None:
    outbox = broker_outbox

    async def scenario(client: Any) -> None:
        lifecycle = lifecycle_on(client, outbox)
        routed = await routed_complaint(lifecycle, extensions)
        update = _update(routed.complaint.complaint_number, status, **fields)
        answer, decided_now = await lifecycle.answer_status(update, NOW + timedelta(hours=1))
        assert decided_now
        assert (answer.outcome.value, answer.code) == (outcome, code)
        assert answer.update_id == update.update_id and answer.status == status
        if outcome == "refused":
            assert answer.reason, "a refusal says why"
        [published] = outbox.on(outbox.topics.status_outcomes)
        assert StatusOutcome.model_validate_json(published) == answer
        assert _event_kinds(outbox) == events  # a refusal tells the customer nothing
        if status == "transferred" and outcome == "applied":
            assert answer.detail == "now with payments"
            assert outbox.on(outbox.topics.department("payments")), "the new department receives the complaint"

    on_own_redis_database(embedded, 11, scenario)


def test_unknown_number_is_refused_with_the_number(embedded: EmbeddedStack, broker_outbox: BrokerOutbox) -> None:
    outbox = broker_outbox

    async def scenario(client: Any) -> None:
        lifecycle = lifecycle_on(client, outbox)
        answer, _ = await lifecycle.answer_status(_update("CF-20261122-ZZZZZZ", "accepted"), NOW)
        assert (answer.outcome.value, answer.code) == ("refused", "unknown_complaint")
        assert "CF-20261122-ZZZZZZ" in (answer.reason or "")
        assert outbox.on(outbox.topics.deadletter) == [] and _event_kinds(outbox) == []

    on_own_redis_database(embedded, 11, scenario)


@pytest.mark.parametrize("status", ["resolved", "extended", "transferred"])
def test_a_resent_update_gets_the_same_outcome_and_applies_once(
    embedded: EmbeddedStack, broker_outbox: BrokerOutbox, status: str
) -> None:
    outbox = broker_outbox

    async def scenario(client: Any) -> None:
        lifecycle = lifecycle_on(client, outbox)
        routed = await routed_complaint(lifecycle)
        fields = {"to_department": "payments"} if status == "transferred" else {}
        update = _update(routed.complaint.complaint_number, status, **fields)
        first, first_now = await lifecycle.answer_status(update, NOW + timedelta(hours=1))
        events_once = _event_kinds(outbox)
        second, second_now = await lifecycle.answer_status(update, NOW + timedelta(hours=2))
        assert (first_now, second_now) == (True, False)
        assert first == second and first.outcome.value == "applied"
        assert _event_kinds(outbox) == events_once, "a redelivered update is not applied twice"
        first_bytes, second_bytes = outbox.on(outbox.topics.status_outcomes)
        assert first_bytes == second_bytes, "the outcome is published again, unchanged, for the resent update"

    on_own_redis_database(embedded, 11, scenario)


def test_a_refused_update_stays_refused_when_resent(embedded: EmbeddedStack, broker_outbox: BrokerOutbox) -> None:
    outbox = broker_outbox

    async def scenario(client: Any) -> None:
        lifecycle = lifecycle_on(client, outbox)
        routed = await routed_complaint(lifecycle, extensions=1)
        update = _update(routed.complaint.complaint_number, "extended", reason="x")
        first, _ = await lifecycle.answer_status(update, NOW)
        second, decided_now = await lifecycle.answer_status(update, NOW)
        assert first == second and first.code == "extension_refused" and not decided_now
        assert "approver" in (first.reason or "")

    on_own_redis_database(embedded, 11, scenario)


def test_an_update_the_router_cannot_apply_is_answered_on_its_last_attempt(
    embedded: EmbeddedStack, broker_outbox: BrokerOutbox
) -> None:
    outbox = broker_outbox

    async def scenario(client: Any) -> None:
        lifecycle = lifecycle_on(client, outbox)
        routed = await routed_complaint(lifecycle)
        await client.set(Keys.routed(routed.complaint.complaint_id), '{"routing_id": "truncated by a bad restore"')
        update = _update(routed.complaint.complaint_number, "accepted")
        message = InboundMessage(
            outbox.topics.status, 0, 7, update.complaint_number.encode(), update.model_dump_json().encode()
        )
        applier = StatusApplier(lifecycle, max_attempts=3)
        for attempt in range(3):
            with pytest.raises(ValueError):
                await applier(message)
            assert len(outbox.on(outbox.topics.status_outcomes)) == (1 if attempt == 2 else 0)
        [answer] = [StatusOutcome.model_validate_json(v) for v in outbox.on(outbox.topics.status_outcomes)]
        assert (answer.outcome.value, answer.code, answer.update_id) == ("refused", "failed", update.update_id)
        assert "dead letters" in (answer.reason or "")

    on_own_redis_database(embedded, 11, scenario)
