"""A restart of `complaintflow run` on embedded services keeps what Redis holds (append-only file in the var folder).

Before the restart a complaint is taken in, routed and acknowledged. After it, on a fresh (empty) embedded broker:
the status lookup still answers, a department update on that complaint applies, and the customer's reply to the
acknowledgement is a follow-up of it, not a new complaint.
"""

from __future__ import annotations

import json
import os
import smtplib
import time
import uuid
from collections.abc import Callable
from email import message_from_bytes
from email.message import EmailMessage
from pathlib import Path
from typing import TypeVar

import pytest

from kernel.embedded import free_port
from tests.conftest import RunningStack, run_cli, start_stack, stop_stack
from tests.kafka_support import wait_for_records

pytestmark = pytest.mark.integration
T = TypeVar("T")


def _env(var_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SMTP_", "KAFKA_", "REDIS_", "COMPLAINTFLOW_"))}
    env.update(
        {
            "COMPLAINTFLOW_VAR_DIR": str(var_dir),
            "HTTP_PORT": str(free_port()),
            "SMTP_INTAKE_PORT": str(free_port()),
            "COMPLAINTFLOW_LOG_FORMAT": "json",
            "COMPLAINTFLOW_KAFKA_SESSION_TIMEOUT_S": "6",
            "COMPLAINTFLOW_KAFKA_HEARTBEAT_INTERVAL_S": "1",
        }
    )
    return env


def _until(check: Callable[[], T], timeout: float = 60.0) -> T | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.3)
    return None


def _bootstrap(stack: RunningStack) -> str:
    return json.loads((stack.var_dir / "stack.json").read_text())["kafka_bootstrap_servers"]


def test_lookups_department_updates_and_reply_threading_survive_a_restart(tmp_path: Path) -> None:
    var_dir = tmp_path / "var"
    email = f"restart-{uuid.uuid4().hex[:8]}@example.com"
    stack = start_stack(["run"], _env(var_dir), var_dir)
    try:
        status, answer = stack.post(
            "/api/v1/complaints",
            {
                "name": "Li Wei",
                "email": email,
                "consent": True,
                "description": "My credit card annual fee was charged twice this year and nobody refunds it.",
            },
        )
        assert status == 202, answer
        number = answer["complaint_number"]
        lookup = f"/api/v1/complaints/{number}?verify={email}"
        routed = _until(lambda: (r := stack.get(lookup))[0] == 200 and r[1].get("department") and r[1])
        assert routed, f"never routed:\n{stack.log_text()[-3000:]}"
        ack = _until(lambda: [p for p in (var_dir / "outbox").glob("*.eml") if email in p.read_text(errors="replace")])
        assert ack, "no acknowledgement in the outbox"
        ack_id = message_from_bytes(ack[0].read_bytes())["Message-ID"]
    finally:
        stop_stack(stack)
    assert any((var_dir / "redis-data").rglob("*.aof*"))

    stack = start_stack(["run"], _env(var_dir), var_dir)
    try:
        assert "survive a restart" in stack.log_text()
        status, after = stack.get(lookup)
        assert status == 200 and after["department"] == routed["department"], after

        run_cli(
            "dept",
            "update",
            number,
            "--status",
            "investigating",
            "--department",
            routed["department"],
            env=stack.env,
        )
        assert _until(lambda: stack.get(lookup)[1].get("status") == "investigating"), stack.log_text()[-3000:]

        reply = EmailMessage()
        reply["From"] = email
        reply["To"] = "tousu@bank.example"
        reply["Subject"] = "Re: your complaint"
        reply["Message-ID"] = reply_id = f"<{uuid.uuid4().hex}@example.com>"
        reply["In-Reply-To"] = ack_id
        reply.set_content("I also see a second charge on my statement today.")
        with smtplib.SMTP("127.0.0.1", stack.smtp_intake_port, timeout=30) as client:
            client.sendmail(email, ["tousu@bank.example"], reply.as_bytes())
        [event] = wait_for_records(
            _bootstrap(stack),
            "complaints.events",
            lambda r: r.get("details", {}).get("channel_ref") == reply_id,
            timeout=45,
        )
        assert event["kind"] == "follow_up_received" and event["complaint_number"] == number
    finally:
        stop_stack(stack)
