"""Scenario 2: Redis goes away under load and comes back.

The outage lasts ``COMPLAINTFLOW_SOAK_REDIS_OUTAGE_S`` seconds: 20 in the regular suite to keep it short,
30 (the issue's figure) or more under ``make soak``.

The stack has a Redis of its own on a fixed port, started with an append-only file (``--appendonly yes``,
fsync on every write), as production Redis runs: when it comes back it has its data, so the idempotency
markers, routing decisions and notification claims taken before the outage still hold. (A Redis that comes
back empty forgets those markers; redelivered messages would then be handled as new.)

While Redis is down every worker holds its partitions and retries with backoff, ``/healthz`` answers 503,
and nothing is dead-lettered, routed without state, or crashes.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from kernel.embedded import ChildService, free_port, redis_binary
from kernel.topics import Topics
from tests.conftest import stack_env, start_stack, stop_stack
from tests.delivery_servers import RecordingSmtp, SmsGateway, SmtpServer, wait_until
from tests.kafka_support import records_now
from tests.reliability.support import (
    DepartmentView,
    LoadGenerator,
    delivery_env,
    expected_acks,
    http_status,
    settle,
    tally,
)

pytestmark = [pytest.mark.integration, pytest.mark.reliability]

OUTAGE_S = float(os.environ.get("COMPLAINTFLOW_SOAK_REDIS_OUTAGE_S", "20"))
RATE_PER_S = 12.0


def persistent_redis(port: int, data_dir: Path) -> ChildService:
    argv = [
        redis_binary(),
        *("--port", str(port), "--bind", "127.0.0.1", "--save", ""),
        *("--appendonly", "yes", "--appendfsync", "always", "--dir", str(data_dir)),
    ]
    return ChildService("redis", argv, port, log_path=data_dir / "redis.log")


def test_a_redis_outage_pauses_the_workers_and_loses_nothing(embedded, summary, scenario_dir):
    prefix = "rl2."
    data_dir = scenario_dir / "redis-data"
    data_dir.mkdir()
    port = free_port()
    redis_server = persistent_redis(port, data_dir)
    redis_server.start()
    handler, gateway = RecordingSmtp(), SmsGateway()
    smtp = SmtpServer(handler).start()
    env = stack_env(
        embedded,
        scenario_dir / "var",
        prefix,
        REDIS_URL=f"redis://127.0.0.1:{port}/0",
        **delivery_env(smtp, gateway),
    )
    stack = start_stack(["run"], env, scenario_dir / "var")
    bootstrap = embedded.kafka_bootstrap_servers or ""
    load = LoadGenerator(bootstrap, prefix, "r2")
    view = DepartmentView(bootstrap, prefix)
    publishing = threading.Thread(
        target=load.publish, args=(int(RATE_PER_S * (OUTAGE_S + 12)), RATE_PER_S), daemon=True
    )
    try:
        publishing.start()
        time.sleep(6.0)
        redis_server.stop()
        down_at = time.monotonic()
        wait_until(lambda: http_status(stack, "/healthz") == 503, 15, "/healthz to report the outage", stack)
        while time.monotonic() - down_at < OUTAGE_S:
            assert stack.process.poll() is None, "the stack died during the Redis outage"
            time.sleep(1.0)
        unhealthy_during = http_status(stack, "/healthz")
        redis_server = persistent_redis(port, data_dir)  # the same port, the same append-only file
        redis_server.start()
        wait_until(lambda: http_status(stack, "/healthz") == 200, 30, "/healthz healthy again", stack)
        publishing.join()

        owed = expected_acks(load.offered)

        def all_through() -> bool:
            view.poll()
            return (
                len(view.deliveries) >= len(load.offered) and len(handler.received()) + len(gateway.received()) >= owed
            )

        settle(all_through, 90)
        time.sleep(2.0)
        view.poll()
        figures, problems = tally(load.offered, view, handler, gateway)
        dead = records_now(bootstrap, Topics(prefix).deadletter, lambda r: True)
        figures.extra.update(outage_s=int(OUTAGE_S), dead_letters=len(dead))
        print(summary.record("redis_outage", figures))

        assert unhealthy_during == 503
        assert stack.process.poll() is None and http_status(stack, "/healthz") == 200
        assert not problems[:20], problems[:20]
        assert figures.lost == 0 and figures.duplicated == 0
        assert figures.extra["ack_lost"] == 0 and figures.extra["ack_duplicated"] == 0
        assert dead == [], [(r.get("stage"), r.get("reason")) for r in dead[:5]]
        assert "dependency unavailable; holding partition" in stack.log_text()
    finally:
        load.close()
        view.close()
        stop_stack(stack)
        redis_server.stop()
        smtp.stop()
        gateway.close()
