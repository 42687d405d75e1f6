"""Scenario 1: every worker is killed with SIGKILL mid-stream and restarted; nothing is lost or doubled.

Intake, two routers (one consumer group) and the notifier run as separate ``complaintflow`` processes against
the session's broker and Redis. A Kafka channel adapter publishes complaints of all four channels at a steady
rate the whole time; the notifier is killed right after a burst of complaints has been routed, while their
acknowledgements are being sent. The figures come from the department topics (read with ``DepartmentClient``'s
dedupe), the SMTP server, the SMS gateway and the social notifications topic: every acknowledgement is counted
by its medium, social replies included.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest

from kernel.embedded import EmbeddedStack, free_port
from kernel.settings import Settings
from kernel.topics import Topics
from tests.conftest import RunningStack, stack_env, start_stack, stop_stack, wait_until_ready
from tests.delivery_servers import RecordingSmtp, SmsGateway, SmtpServer
from tests.kafka_support import records_now
from tests.reliability.support import (
    DepartmentView,
    LoadGenerator,
    delivery_env,
    expected_acks,
    settle,
    social_replies,
    tally,
)

pytestmark = [pytest.mark.integration, pytest.mark.reliability]

# The load runs until the last killed worker is back (and at most this many complaints are offered).
COMPLAINTS = int(os.environ.get("COMPLAINTFLOW_SOAK_COMPLAINTS", "2000"))
RATE_PER_S = float(os.environ.get("COMPLAINTFLOW_SOAK_RATE", "25"))
BETWEEN_KILLS_S = float(os.environ.get("COMPLAINTFLOW_SOAK_BETWEEN_KILLS_S", "3"))
# What one notifier can be sending at once: a message on each SMTP connection, an SMS gateway call or a social reply
# for each message of the batch it is handling.
NOTIFIER_SENDS_AT_ONCE = Settings().smtp_connections + Settings().stage_batch_max
# Complaints published at once just before the notifier is killed (a quarter of them social).
BURST = 48


class Workers:
    """The worker processes of one deployment, each with its own ports and var directory."""

    def __init__(self, embedded: EmbeddedStack, root: Path, prefix: str, **settings: str) -> None:
        self.embedded, self.root, self.prefix, self.settings = embedded, root, prefix, settings
        self.running: dict[str, RunningStack] = {}
        self.generation: dict[str, int] = {}

    def start(self, name: str, args: list[str]) -> RunningStack:
        generation = self.generation[name] = self.generation.get(name, 0) + 1
        var_dir = self.root / f"{name}-{generation}"
        env = stack_env(self.embedded, var_dir, self.prefix, **self.settings)
        env["HTTP_PORT"], env["SMTP_INTAKE_PORT"] = str(free_port()), str(free_port())
        self.running[name] = start_stack(args, env, var_dir, wait_ready=False)
        return self.running[name]

    def kill(self, name: str) -> None:
        process = self.running[name].process
        process.send_signal(signal.SIGKILL)
        process.wait(10)
        assert process.returncode == -signal.SIGKILL

    def stop_all(self) -> None:
        for stack in self.running.values():
            stop_stack(stack)


ROLES = {
    "intake": ["intake", "--no-smtp"],
    "router-a": ["router"],
    "router-b": ["router"],
    "notifier": ["notifier"],
}


def test_killing_each_worker_mid_stream_loses_and_doubles_nothing(embedded, summary, scenario_dir):
    prefix = "rl1."
    handler, gateway = RecordingSmtp(), SmsGateway()
    smtp = SmtpServer(handler).start()
    workers = Workers(
        embedded,
        scenario_dir,
        prefix,
        **delivery_env(smtp, gateway),
        # A killed worker leaves its group sooner, and a claim it held expires sooner, so the test is short.
        COMPLAINTFLOW_KAFKA_SESSION_TIMEOUT_S="3",
        COMPLAINTFLOW_NOTIFY_CLAIM_LEASE_S="3",
    )
    bootstrap = embedded.kafka_bootstrap_servers or ""
    load = LoadGenerator(bootstrap, prefix, "c1")
    burst = LoadGenerator(bootstrap, prefix, "b1")
    view = DepartmentView(bootstrap, prefix)
    try:
        for name, args in ROLES.items():
            workers.start(name, args)
        for stack in workers.running.values():
            wait_until_ready(stack)

        stop = threading.Event()
        publishing = threading.Thread(target=load.publish, args=(COMPLAINTS, RATE_PER_S, stop), daemon=True)
        publishing.start()
        killed_at: dict[str, float] = {}
        for name in ("intake", "router-a", "notifier"):
            time.sleep(BETWEEN_KILLS_S)
            assert publishing.is_alive(), "the load ended before the kill: raise COMPLAINTFLOW_SOAK_COMPLAINTS"
            if name == "notifier":
                # A burst routed: the notifier now has their acknowledgements in hand (and social replies in its
                # producer) when it dies.
                burst.publish(BURST)

                def burst_routed() -> bool:
                    view.poll()
                    return all(item.complaint_id in view.deliveries for item in burst.offered)

                settle(burst_routed, 60)
            workers.kill(name)
            killed_at[name] = time.monotonic()
            time.sleep(1.0)
            wait_until_ready(workers.start(name, ROLES[name]))
        time.sleep(BETWEEN_KILLS_S)
        stop.set()
        publishing.join()

        offered = load.offered + burst.offered
        owed = expected_acks(offered)
        owed_social = expected_acks(offered, ("social",))

        def all_through() -> bool:
            view.poll()
            acks = len(handler.received()) + len(gateway.received())
            if len(view.deliveries) < len(offered) or acks < owed:
                return False
            social = social_replies(bootstrap, prefix)
            return sum(1 for item in offered if item.ack_by == "social" and social[item.ack_event_id]) >= owed_social

        settle(all_through, 120)
        time.sleep(3.0)  # time for a second copy to arrive, if there were one
        view.poll()
        social = social_replies(bootstrap, prefix)
        figures, problems = tally(offered, view, handler, gateway, social)
        figures.extra["wire_repeats"] = view.wire_repeats
        dead = records_now(bootstrap, Topics(prefix).deadletter, lambda r: True)
        figures.extra["dead_letters"] = len(dead)
        print(summary.record("worker_crashes", figures))

        assert not problems[:20], problems[:20]
        assert figures.lost == 0 and figures.duplicated == 0
        assert figures.extra["ack_lost"] == 0
        assert figures.extra.get("acknowledged_social", 0) == owed_social > 0
        # The one window no SMTP design closes: the server accepted a message, then the notifier was killed before
        # recording it, so the message goes out once more (with the same Message-ID, which is what is counted).
        # Every message the notifier was sending at that instant can be in that window, and only those.
        first_copy = {**handler.first_accepted_at(), **gateway.first_accepted_at()}
        copies = handler.by_message_id() + gateway.by_message_id()
        repeated = [ack_id for ack_id, count in copies.items() if count > 1]
        assert all(
            killed_at["notifier"] - 5.0 <= first_copy[ack_id] <= killed_at["notifier"] + 0.5 for ack_id in repeated
        ), [(ack_id, round(first_copy[ack_id] - killed_at["notifier"], 3)) for ack_id in repeated]
        assert len(repeated) <= NOTIFIER_SENDS_AT_ONCE
        assert dead == [], [(r.get("stage"), r.get("reason")) for r in dead[:5]]
    finally:
        load.close()
        burst.close()
        view.close()
        workers.stop_all()
        smtp.stop()
        gateway.close()
