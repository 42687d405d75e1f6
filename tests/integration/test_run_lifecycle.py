"""`complaintflow run` on embedded services: it comes up, and SIGINT/SIGTERM stop every process it started."""

from __future__ import annotations

import os
import signal
import time

import psutil
import pytest

from tests.conftest import start_stack, stop_stack


def _clean_env(tmp_path) -> dict[str, str]:
    from kernel.embedded import free_port

    env = {k: v for k, v in os.environ.items() if not k.startswith(("SMTP_", "KAFKA_", "REDIS_", "COMPLAINTFLOW_"))}
    env.update(
        {
            "COMPLAINTFLOW_VAR_DIR": str(tmp_path),
            "HTTP_PORT": str(free_port()),
            "SMTP_INTAKE_PORT": str(free_port()),
            "COMPLAINTFLOW_LOG_FORMAT": "json",
        }
    )
    return env


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_run_with_embedded_services_stops_everything_it_started(tmp_path, sig) -> None:
    running = start_stack(["run"], _clean_env(tmp_path), tmp_path)
    children = psutil.Process(running.process.pid).children(recursive=True)
    names = " ".join(" ".join(c.cmdline()) for c in children)
    assert "tansu" in names and "redis-server" in names
    assert "keeps NOTHING" in running.log_text()  # the embedded broker's warning is printed

    took = stop_stack(running, sig)
    assert took < 10, f"took {took:.1f}s to stop"
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(c.is_running() and c.status() != psutil.STATUS_ZOMBIE for c in children):
        time.sleep(0.1)
    assert not [c.pid for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]
    assert not (tmp_path / "stack.json").exists()
