"""The router's answer to each status update (``Lifecycle.answer_status``) over every status, on the real Redis.

What is sent to Kafka is recorded by the outbox the lifecycle is given (the sending itself is the stream
plumbing's, tested end to end in test_department_loop.py). A database of its own (11).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest

from kernel.embedded import EmbeddedStack
from kernel.runtime import Runtime
from kernel.settings import Settings
from kernel.state import Keys
from kernel.streams import InboundMessage
from kernel.topics import Topics
from schemas import (
    ComplaintEvent,
    RoutedComplaint,
    StatusOutcome,
    StatusUpdate,
    complaint_id_for,
    complaint_number_for,
)
from services.router.lifecycle import Lifecycle
from services.router.routing import RoutingTable
from services.router.worker import StatusApplier
from tests.conftest import on_own_redis_database
from tests.test_schemas import NOW, sample_routed

pytestmark = pytest.mark.integration
TOPICS = Topics("")


@dataclass
class RecordingOutbox:
    sent: list[tuple[str, str | bytes | None, bytes]] = field(default_factory=list)

    async def send(self, topic: str, key: str | bytes | None, value: bytes) -> None:
        self.sent.append((topic, key, value))

    def on(self, topic: str) -> list[bytes]:
        return [value for sent_to, _, value in self.sent if sent_to == topic]

    def event_kinds(self) -> list[str]:
        return [ComplaintEvent.model_validate_json(v).kind.value for v in self.on(TOPICS.events)]


async def _lifecycle(client: Any, outbox: RecordingOutbox) -> Lifecycle:
    runtime = Runtime(Settings(), "", "", "", 0, TOPICS, _redis=client)
    # No complaint is classified here: the status path never calls the classifier.
    return Lifecycle(runtime, outbox, None, RoutingTable.load())  # type: ignore[arg-type]


async def _routed_complaint(lifecycle: Lifecycle, extensions: int = 0) -> RoutedComplaint:
    routed = sample_routed()
    complaint_id = complaint_id_for(routed.complaint.channel, f"outcome-{uuid.uuid4()}")
    complaint = routed.complaint.model_copy(
        update={"complaint_id": complaint_id, "complaint_number": complaint_number_for(complaint_id, NOW.date())}
    )
    deadlines = routed.deadlines.model_copy(
        update={"extensions": extensions, "decision_by": NOW + timedelta(days=30 if extensions else 15)}
    )
    routed = routed.model_copy(update={"complaint": complaint, "deadlines": deadlines})
    await lifecycle.runtime.store.record_new(complaint)
    await lifecycle.runtime.redis.set(Keys.routed(complaint_id), routed.model_dump_json())
    return routed


def _update(number: str, status: str, **fields: Any) -> StatusUpdate:
    return StatusUpdate(
        update_id=f"upd-{uuid.uuid4()}", complaint_number=number, status=status, department="cards", at=NOW, **fields
    )


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
    embedded: EmbeddedStack, status: str, fields: dict, extensions: int, outcome: str, code: str | None, events: list
) -> None:
    async def scenario(client: Any) -> None:
        outbox = RecordingOutbox()
        lifecycle = await _lifecycle(client, outbox)
        routed = await _routed_complaint(lifecycle, extensions)
        update = _update(routed.complaint.complaint_number, status, **fields)
        answer, decided_now = await lifecycle.answer_status(update, NOW + timedelta(hours=1))
        assert decided_now
        assert (answer.outcome.value, answer.code) == (outcome, code)
        assert answer.update_id == update.update_id and answer.status == status
        if outcome == "refused":
            assert answer.reason, "a refusal says why"
        [published] = outbox.on(TOPICS.status_outcomes)
        assert StatusOutcome.model_validate_json(published) == answer
        assert outbox.event_kinds() == events  # a refusal tells the customer nothing
        if status == "transferred" and outcome == "applied":
            assert answer.detail == "now with payments"
            assert outbox.on(TOPICS.department("payments")), "the new department receives the complaint"

    on_own_redis_database(embedded, 11, scenario)


def test_unknown_number_is_refused_with_the_number(embedded: EmbeddedStack) -> None:
    async def scenario(client: Any) -> None:
        outbox = RecordingOutbox()
        lifecycle = await _lifecycle(client, outbox)
        answer, _ = await lifecycle.answer_status(_update("CF-20261122-ZZZZZZ", "accepted"), NOW)
        assert (answer.outcome.value, answer.code) == ("refused", "unknown_complaint")
        assert "CF-20261122-ZZZZZZ" in (answer.reason or "")
        assert outbox.on(TOPICS.deadletter) == [] and outbox.event_kinds() == []

    on_own_redis_database(embedded, 11, scenario)


@pytest.mark.parametrize("status", ["resolved", "extended", "transferred"])
def test_a_resent_update_gets_the_same_outcome_and_applies_once(embedded: EmbeddedStack, status: str) -> None:
    async def scenario(client: Any) -> None:
        outbox = RecordingOutbox()
        lifecycle = await _lifecycle(client, outbox)
        routed = await _routed_complaint(lifecycle)
        fields = {"to_department": "payments"} if status == "transferred" else {}
        update = _update(routed.complaint.complaint_number, status, **fields)
        first, first_now = await lifecycle.answer_status(update, NOW + timedelta(hours=1))
        events_once = outbox.event_kinds()
        second, second_now = await lifecycle.answer_status(update, NOW + timedelta(hours=2))
        assert (first_now, second_now) == (True, False)
        assert first == second and first.outcome.value == "applied"
        assert outbox.event_kinds() == events_once, "a redelivered update is not applied twice"
        first_bytes, second_bytes = outbox.on(TOPICS.status_outcomes)
        assert first_bytes == second_bytes, "the outcome is published again, unchanged, for the resent update"

    on_own_redis_database(embedded, 11, scenario)


def test_a_refused_update_stays_refused_when_resent(embedded: EmbeddedStack) -> None:
    async def scenario(client: Any) -> None:
        outbox = RecordingOutbox()
        lifecycle = await _lifecycle(client, outbox)
        routed = await _routed_complaint(lifecycle, extensions=1)
        update = _update(routed.complaint.complaint_number, "extended", reason="x")
        first, _ = await lifecycle.answer_status(update, NOW)
        second, decided_now = await lifecycle.answer_status(update, NOW)
        assert first == second and first.code == "extension_refused" and not decided_now
        assert "approver" in (first.reason or "")

    on_own_redis_database(embedded, 11, scenario)


def test_an_update_the_router_cannot_apply_is_answered_on_its_last_attempt(embedded: EmbeddedStack) -> None:
    async def scenario(client: Any) -> None:
        outbox = RecordingOutbox()
        lifecycle = await _lifecycle(client, outbox)
        routed = await _routed_complaint(lifecycle)
        await client.set(Keys.routed(routed.complaint.complaint_id), '{"routing_id": "truncated by a bad restore"')
        update = _update(routed.complaint.complaint_number, "accepted")
        message = InboundMessage(
            TOPICS.status, 0, 7, update.complaint_number.encode(), update.model_dump_json().encode()
        )
        applier = StatusApplier(lifecycle, max_attempts=3)
        for attempt in range(3):
            with pytest.raises(ValueError):
                await applier(message)
            assert len(outbox.on(TOPICS.status_outcomes)) == (1 if attempt == 2 else 0)
        [answer] = [StatusOutcome.model_validate_json(v) for v in outbox.on(TOPICS.status_outcomes)]
        assert (answer.outcome.value, answer.code, answer.update_id) == ("refused", "failed", update.update_id)
        assert "dead letters" in (answer.reason or "")

    on_own_redis_database(embedded, 11, scenario)
