"""A stage logs what it handled as one summary line per interval, not a line per message; the metrics still count
every message by topic and outcome."""

from __future__ import annotations

import asyncio
import logging

from prometheus_client import REGISTRY

from kernel.stage import StageRunner
from kernel.streams import InboundMessage
from kernel.topics import Topics

STAGE = "summary_test"
TOPIC = "complaints.raw.webform"


async def by_offset(message: InboundMessage) -> str:
    return "duplicate" if message.offset % 3 == 0 else "complaint"


def handled(outcome: str) -> float:
    value = REGISTRY.get_sample_value(
        "complaintflow_messages_total", {"stage": STAGE, "topic": TOPIC, "outcome": outcome}
    )
    return value or 0.0


def test_a_stage_counts_every_message_and_logs_one_summary_line(caplog):
    caplog.set_level(logging.DEBUG)
    runner = StageRunner(STAGE, by_offset, outbox=None, topics=Topics())  # type: ignore[arg-type]
    before = handled("complaint"), handled("duplicate")

    async def scenario() -> list[str]:
        outcomes = [await runner.run(InboundMessage(TOPIC, 0, offset, b"k", b"{}")) for offset in range(7)]
        runner.count(TOPIC, "ignored")  # a record passed over without a handler is in the summary too
        assert not [r for r in caplog.records if r.levelno >= logging.INFO and r.name == "kernel.streams"]
        runner.summary.flush()
        runner.summary.flush()  # nothing new: no second line
        return outcomes

    outcomes = asyncio.run(scenario())

    assert outcomes.count("duplicate") == 3 and outcomes.count("complaint") == 4
    assert (handled("complaint") - before[0], handled("duplicate") - before[1]) == (4, 3)
    lines = [r for r in caplog.records if r.getMessage() == "messages handled"]
    assert len(lines) == 1
    line = lines[0]
    assert line.levelno == logging.INFO
    assert line.stage == STAGE  # type: ignore[attr-defined]
    assert line.handled == 8  # type: ignore[attr-defined]
    assert line.outcomes == {"complaint": 4, "duplicate": 3, "ignored": 1}  # type: ignore[attr-defined]
