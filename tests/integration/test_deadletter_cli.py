"""`complaintflow deadletter list|show|replay` against the session's broker, Redis and running stack."""

from __future__ import annotations

import time
import uuid

from kafka import KafkaProducer

from tests.conftest import run_cli


def _cli(stack, *args: str) -> str:
    return run_cli(*args, env=stack.env)


def test_garbage_is_dead_lettered_listed_shown_and_replayed_once(stack, embedded) -> None:
    marker = f"garbage-{uuid.uuid4().hex[:8]}"
    kafka = KafkaProducer(bootstrap_servers=embedded.kafka_bootstrap_servers)
    kafka.send("e2e.complaints.raw.hotline", key=marker.encode(), value=f"not json at all {marker}".encode())
    kafka.flush()
    kafka.close()

    deadline = time.monotonic() + 60
    line = ""
    while time.monotonic() < deadline and not line:
        line = next(
            (
                row
                for row in _cli(stack, "deadletter", "list", "--stage", "intake.hotline").splitlines()
                if "e2e.complaints.raw.hotline" in row and "dlq_" in row
            ),
            "",
        )
        time.sleep(0.5)
    assert line, "garbage never reached the dead-letter topic"
    letter_id = next(word for word in line.split() if word.startswith("dlq_"))

    shown = _cli(stack, "deadletter", "show", letter_id)
    assert marker in shown and '"reason"' in shown and "e2e.complaints.raw.hotline" in shown

    assert "replayed 1, skipped 0" in _cli(stack, "deadletter", "replay", letter_id)
    assert "replayed 0, skipped 1" in _cli(stack, "deadletter", "replay", letter_id)
