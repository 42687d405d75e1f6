"""A dead letter the broker does not take: retried, then its stage is unhealthy and the message waits (never
skipped); once the broker takes it, the stage is healthy again and the message counts as handled.

The broker's refusals come from a stand-in for the producer (``RefusingOutbox``): the policy under test is
StageRunner's, and a real broker cannot be made to refuse a record on demand. The size half of the story (no
letter is larger than a record may be) runs against the real broker in tests/reliability/test_hostile_input.py.
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from prometheus_client import REGISTRY

from kernel import stage as stage_module
from kernel.health import HEALTH
from kernel.stage import StageRunner
from kernel.streams import InboundMessage, PermanentError
from kernel.topics import Topics
from schemas import DeadLetter


class RefusingOutbox:
    """Refuses the first ``refusals`` sends as the producer would (the error faust raises), then accepts."""

    def __init__(self, refusals: int) -> None:
        self.refusals = refusals
        self.accepted: list[tuple[str, bytes | None, bytes]] = []
        self.app = SimpleNamespace(conf=SimpleNamespace(producer_max_request_size=1024 * 1024))

    async def send_and_wait(self, topic: str, key: bytes | None, value: bytes) -> None:
        from faust.exceptions import ProducerSendError

        if self.refusals:
            self.refusals -= 1
            raise ProducerSendError("Error while sending: KafkaTimeoutError()")
        self.accepted.append((topic, key, value))


async def refuse_the_form(message: InboundMessage) -> str:
    raise PermanentError("webform payload rejected: description: Field required", "validation_error")


def failures(stage: str) -> float:
    value = REGISTRY.get_sample_value(
        "complaintflow_dead_letter_publish_failures_total", {"stage": stage, "error_type": "ProducerSendError"}
    )
    return value or 0.0


def test_an_unpublished_dead_letter_stops_its_message_loudly_until_the_broker_takes_it(monkeypatch):
    monkeypatch.setattr(stage_module, "DEAD_LETTER_TRIES", 2)
    slept: list[float] = []
    real_sleep = asyncio.sleep

    async def no_wait(seconds: float) -> None:
        slept.append(seconds)
        await real_sleep(0)

    monkeypatch.setattr(stage_module.asyncio, "sleep", no_wait)
    stage = "intake.webform.dlq-test"
    outbox = RefusingOutbox(refusals=4)
    runner = StageRunner(stage, refuse_the_form, outbox, Topics("t."))  # type: ignore[arg-type]
    message = InboundMessage("t.complaints.raw.webform", 1, 77, b"form-1", b'{"channel": "webform"}')
    health: list[bool] = []
    original_report = HEALTH.report

    def watch(component: str, ok: bool, detail: str = "") -> None:
        if component == f"{stage}.dead_letters":
            health.append(ok)
        original_report(component, ok, detail)

    monkeypatch.setattr(HEALTH, "report", watch)
    before = failures(stage)

    assert asyncio.run(runner.run(message)) == "dead_letter"

    assert failures(stage) - before == 4 and len(slept) == 4
    assert health[0] is False and health[-1] is True  # unhealthy while stopped, healthy once published
    ((topic, key, value),) = outbox.accepted
    letter = DeadLetter.model_validate_json(value)
    assert topic == "t.complaints.deadletter" and key == b"form-1"
    assert (letter.source_topic, letter.partition, letter.offset) == ("t.complaints.raw.webform", 1, 77)
