"""Scenario 4: the broker restarts.

The embedded broker (tansu) keeps everything in memory: a restart loses every topic, message and committed
offset. That is data loss by design of a development broker, and production runs Apache Kafka. What this
proves is that a worker notices, re-creates the topics and exits with code 75 and a clear log line instead
of hanging or spinning (faust's consumers do not recover in-process), and that once restarted, as a
supervisor would, it carries on: a complaint submitted after the broker restart is routed and acknowledged.
"""

from __future__ import annotations

import time
import uuid

import pytest

from kernel.brokerwatch import EXIT_BROKER_LOST
from kernel.embedded import ChildService, embedded_broker
from kernel.kafka import admin_client
from kernel.topics import Topics
from schemas import Channel, complaint_id_for
from tests.conftest import stack_env, start_stack, stop_stack
from tests.delivery_servers import RecordingSmtp, SmtpServer, wait_until
from tests.reliability.support import DepartmentView, Offered, Tally, http_status, settle, tally

pytestmark = [pytest.mark.integration, pytest.mark.reliability]


def form(tag: str) -> dict[str, object]:
    return {
        "submission_id": f"rl4-{tag}",
        "name": "陈静",
        "email": f"chen.jing.{tag}@example.cn",
        "description": "信用卡年费被重复扣了两次，共600元，请退还。",
        "preferred_contact": "email",
        "consent": True,
    }


def topics_present(bootstrap: str, wanted: set[str]) -> bool:
    try:
        admin = admin_client(bootstrap, timeout_s=2)
    except Exception:
        return False
    try:
        return wanted <= set(admin.list_topics())
    finally:
        admin.close()


def test_workers_recreate_topics_and_carry_on_after_a_broker_restart(embedded, summary, scenario_dir):
    prefix = "rl4."
    first = embedded_broker(scenario_dir)
    first.start()
    bootstrap = f"{first.host}:{first.port}"
    handler = RecordingSmtp()
    smtp = SmtpServer(handler).start()
    env = stack_env(
        embedded,
        scenario_dir / "var",
        prefix,
        KAFKA_BOOTSTRAP_SERVERS=bootstrap,
        SMTP_HOST="127.0.0.1",
        SMTP_PORT=str(smtp.port),
        COMPLAINTFLOW_TOPIC_PARTITIONS="2",
    )
    stack = start_stack(["run"], env, scenario_dir / "var")
    broker: ChildService = first
    offered: list[Offered] = []
    run = uuid.uuid4().hex[:8]

    def submit(tag: str) -> bool:
        status, _ = stack.post("/api/v1/complaints", form(tag))
        if status != 202:
            return False
        offered.append(Offered(complaint_id_for(Channel.webform, f"rl4-{tag}"), Channel.webform, "email"))
        return True

    try:
        assert submit(f"{run}-before")
        wait_until(lambda: len(handler.received()) == 1, 60, "the acknowledgement before the restart", stack)

        broker.stop()
        time.sleep(2.0)
        broker = ChildService(first.name, first.argv, first.port, first.host, first.log_path)
        broker.start()
        restarted = time.monotonic()
        wanted = set(Topics(prefix).all(2))
        wait_until(lambda: topics_present(bootstrap, wanted), 60, "the worker to re-create the topics", stack)
        wait_until(lambda: stack.process.poll() is not None, 60, "the worker to exit for a restart", stack)
        assert stack.process.returncode == EXIT_BROKER_LOST
        assert "the broker lost its topics" in stack.log_text()
        stack = start_stack(["run"], env, scenario_dir / "var")  # what the supervisor does
        wait_until(lambda: submit(f"{run}-after"), 60, "the HTTP entry point to accept again", stack)
        wait_until(lambda: len(handler.received()) == 2, 90, "the acknowledgement after the restart", stack)
        recovery_s = time.monotonic() - restarted

        view = DepartmentView(bootstrap, prefix)
        try:
            settle(lambda: view.poll() or offered[-1].complaint_id in view.deliveries, 30)
            figures, problems = tally(offered[-1:], view, handler, None)
        finally:
            view.close()
        figures = Tally(
            offered=len(offered),
            delivered=figures.delivered + 1,  # the first complaint's topic is gone with the old broker
            lost=figures.lost,
            duplicated=figures.duplicated,
            extra={
                **figures.extra,
                "acknowledged": len(handler.received()),
                "exit_code": EXIT_BROKER_LOST,
                "recovery_s": round(recovery_s),
            },
        )
        print(summary.record("broker_restart", figures))
        assert not problems, problems
        assert stack.process.poll() is None and http_status(stack, "/healthz") == 200
    finally:
        stop_stack(stack)
        broker.stop()
        smtp.stop()
