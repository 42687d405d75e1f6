"""Scenario 7: a message that always makes its handler fail is dead-lettered and does not block its partition.

The poison is a status update for a complaint whose stored routing in Redis is corrupt: applying it raises a
validation error every time, which is neither "the message is wrong" nor "a dependency is down", so the
router retries it ``COMPLAINTFLOW_MAX_HANDLER_ATTEMPTS`` times and then dead-letters it. The topics have one
partition, so the update sent right after it is on the same partition and must still be applied.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime

import pytest
import redis
from kafka import KafkaProducer

from kernel.state import Keys
from kernel.topics import Topics
from schemas import ComplaintStatus, DeadLetter, Department, StatusUpdate, event_id_for
from tests.conftest import stack_env, start_stack, stop_stack
from tests.delivery_servers import wait_until
from tests.kafka_support import wait_for_records
from tests.reliability.support import Tally, http_status

pytestmark = [pytest.mark.integration, pytest.mark.reliability]

MAX_ATTEMPTS = 3


def test_a_poison_status_update_is_dead_lettered_after_bounded_tries_and_the_next_one_is_applied(
    embedded, summary, scenario_dir
):
    prefix = "rl7."
    topics = Topics(prefix)
    env = stack_env(
        embedded,
        scenario_dir,
        prefix,
        COMPLAINTFLOW_TOPIC_PARTITIONS="1",
        COMPLAINTFLOW_MAX_HANDLER_ATTEMPTS=str(MAX_ATTEMPTS),
    )
    stack = start_stack(["run"], env, scenario_dir)
    store = redis.Redis.from_url(embedded.redis_url or "", decode_responses=True)
    bootstrap = embedded.kafka_bootstrap_servers or ""
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    run = uuid.uuid4().hex[:8]
    try:
        accepted = []
        for name in ("poison", "healthy"):
            status, body = stack.post(
                "/api/v1/complaints",
                {
                    "submission_id": f"rl7-{run}-{name}",
                    "name": "周杰",
                    "email": f"zhou.jie.{run}.{name}@example.cn",
                    "description": "理财产品到期后本金迟迟没有到账，已经超过十个工作日。",
                    "consent": True,
                },
            )
            assert status == 202, body
            accepted.append((body["complaint_id"], body["complaint_number"]))
        for complaint_id, _ in accepted:
            wait_until(lambda cid=complaint_id: store.exists(Keys.routed(cid)), 60, "the routing", stack)
        (poison_id, poison_number), (healthy_id, healthy_number) = accepted
        store.set(Keys.routed(poison_id), '{"routing_id": "truncated by a bad restore", "revision": "x"')

        updates = [
            StatusUpdate(
                update_id=f"upd-{run}-{which}",
                complaint_number=number,
                status=ComplaintStatus.accepted,
                department=Department.wealth,
                at=datetime.now(UTC),
            )
            for which, number in (("poison", poison_number), ("healthy", healthy_number))
        ]
        sent_at = time.monotonic()
        for update in updates:  # the poison first, then a healthy one behind it on the same partition
            producer.send(topics.status, key=update.complaint_number.encode(), value=update.model_dump_json().encode())
        producer.flush()

        letters = wait_for_records(bootstrap, topics.deadletter, lambda r: r.get("stage") == "router.status", 1, 60)
        applied = wait_for_records(
            bootstrap,
            topics.events,
            lambda r: r.get("event_id") == event_id_for(healthy_id, "in_progress", updates[1].update_id),
            1,
            60,
        )
        elapsed = time.monotonic() - sent_at
        [letter] = [DeadLetter.model_validate({k: v for k, v in r.items() if not k.startswith("_")}) for r in letters]
        figures = Tally(
            offered=2,
            delivered=len(applied),
            lost=2 - len(applied) - 1,
            duplicated=max(0, len(applied) - 1),
            extra={"dead_lettered": 1, "attempts": letter.attempts, "seconds_to_unblock": round(elapsed, 1)},
        )
        print(summary.record("poison_message", figures))

        assert letter.attempts == MAX_ATTEMPTS
        assert letter.source_topic == topics.status and letter.partition == 0
        assert letter.reason.startswith(f"handler failed {MAX_ATTEMPTS} times: ValidationError")
        assert len(applied) == 1
        assert elapsed < 30
        assert stack.process.poll() is None and http_status(stack, "/healthz") == 200
    finally:
        producer.close()
        stop_stack(stack)
