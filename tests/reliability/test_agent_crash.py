"""Scenario: a stage's agent crashes with records in hand; none of them is skipped.

Eight records on a one-partition topic: three that the agent is handling, one on which its filter raises (a bug),
four behind. faust starts the crashed agent again, and it handles the four behind; the three in hand were
cancelled with it. faust alone then commits past them (the restarted agent's acknowledgements form a run), and
a restart never reads them again. With the commit guard the partition's commit stays below them, the stage says
it is unhealthy, and a restart of the worker handles them.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid

import pytest
from kafka import KafkaProducer

from kernel.kafka import ensure_topics
from tests.conftest import REPO, stack_env
from tests.reliability.support import Tally, settle

pytestmark = [pytest.mark.integration, pytest.mark.reliability]

VALUES = ["r0", "r1", "r2", "crash", "r4", "r5", "r6", "r7"]


def test_records_in_hand_when_an_agent_crashes_are_read_again_after_a_restart(embedded, summary, scenario_dir):
    bootstrap = embedded.kafka_bootstrap_servers or ""
    topic = f"rl8.crashing.{uuid.uuid4().hex[:6]}"
    ensure_topics(bootstrap, {topic: 1})
    handled, marker = scenario_dir / "handled.txt", scenario_dir / "crashed-once"
    env = stack_env(
        embedded,
        scenario_dir,
        "rl8.",
        CRASH_TOPIC=topic,
        CRASH_HANDLED=str(handled),
        CRASH_MARKER=str(marker),
        COMPLAINTFLOW_KAFKA_SESSION_TIMEOUT_S="3",
        PYTHONPATH=os.environ.get("PYTHONPATH", str(REPO)),
    )

    def handled_values() -> list[str]:
        return handled.read_text().split() if handled.exists() else []

    def start(run: int) -> subprocess.Popen[bytes]:
        log = (scenario_dir / f"worker-{run}.log").open("ab")
        return subprocess.Popen(
            [sys.executable, "-m", "tests.reliability.crashing_agent"],
            env=env,
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    for value in VALUES:
        producer.send(topic, key=value.encode(), value=value.encode())
    producer.flush()
    producer.close()

    worker = start(1)
    try:
        # The crash, and the restarted agent's work on the records behind it.
        assert settle(lambda: marker.exists() and {"r4", "r5", "r6", "r7"} <= set(handled_values()), 90)
        first_run = set(handled_values())
        worker.send_signal(signal.SIGTERM)  # a clean stop commits what may be committed
        worker.wait(60)
        worker = start(2)
        everything = set(VALUES)
        settle(lambda: everything <= set(handled_values()), 90)
        missing = sorted(everything - set(handled_values()))
        again = len(handled_values()) - len(set(handled_values()))
        figures = Tally(len(VALUES), len(VALUES) - len(missing), len(missing), 0, {"handled_again": again})
        print(summary.record("agent_crash", figures), "first run:", sorted(first_run))
        assert not missing, missing
        log = (scenario_dir / "worker-1.log").read_text(errors="replace")
        assert "agent crashed" in log
    finally:
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(30)
            except subprocess.TimeoutExpired:
                worker.kill()
