"""Storms in the real embedded redis-server and broker: distinct customers per window, each counted once; twenty
complaints from two senders raise nothing; the incident, once raised, links the complaints counted before it."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import pytest
import redis.asyncio as aioredis

from kernel.embedded import EmbeddedStack
from kernel.kafka import KafkaSender, ensure_topics
from kernel.runtime import Runtime
from kernel.settings import get_settings
from kernel.state import PREFIX, Keys, count_storm_customer, redis_client, storm_complaints
from kernel.topics import Topics
from schemas import Channel, Complaint, Customer, Language, complaint_id_for, complaint_number_for
from services.router.classifier import Classifier
from services.router.lifecycle import Lifecycle
from services.router.routing import RoutingTable
from tests.conftest import on_own_redis_database
from tests.kafka_support import fields, records_now

pytestmark = pytest.mark.integration

WINDOW = ("credit_cards", "unauthorised_loss", 1968000)


def test_counts_distinct_customers_once_each_and_sets_the_expiry(embedded: EmbeddedStack) -> None:
    async def scenario(client: aioredis.Redis) -> None:
        counts = [await count_storm_customer(client, *WINDOW, f"cust_{n % 2}", f"cmp_{n}", 1800) for n in range(20)]
        assert counts == [1] + [2] * 19  # twenty complaints, two customers
        assert await count_storm_customer(client, *WINDOW, "cust_2", "cmp_20", 1800) == 3
        assert await count_storm_customer(client, *WINDOW, "cust_2", "cmp_20", 1800) == 3  # a redelivery
        assert await storm_complaints(client, *WINDOW) == sorted(f"cmp_{n}" for n in range(21))
        for key in (Keys.storm_customers(*WINDOW), Keys.storm_complaints(*WINDOW)):
            assert 1790 < await client.ttl(key) <= 1800
        assert await count_storm_customer(client, "loans_mortgages", "fees_pricing", 1968000, "cust_0", "x", 1800) == 1

    on_own_redis_database(embedded, 12, scenario)


def test_counts_right_when_many_callers_meet_a_server_that_forgot_its_scripts(embedded: EmbeddedStack) -> None:
    async def scenario(client: aioredis.Redis) -> None:
        await count_storm_customer(client, *WINDOW, "cust_first", "cmp_first", 1800)
        await client.script_flush()
        counts = await asyncio.gather(
            *(count_storm_customer(client, *WINDOW, f"cust_{n}", f"cmp_{n}", 1800) for n in range(20))
        )
        assert sorted(counts) == list(range(2, 22))
        assert await client.scard(Keys.storm_customers(*WINDOW)) == 21

    on_own_redis_database(embedded, 12, scenario)


def _complaint(n: int, customer: Customer) -> Complaint:
    text = f"ATM吞了我的银行卡，取款失败但是账户被扣款了。编号{n}"
    cid = complaint_id_for(Channel.webform, f"storm-{uuid.uuid4().hex}")
    received = datetime.now(UTC)
    return Complaint(
        complaint_id=cid,
        complaint_number=complaint_number_for(cid, received.date()),
        channel=Channel.webform,
        channel_ref=cid,
        received_at=received,
        language=Language.zh,
        text=text,
        redacted_text=text,
        customer=customer,
    )


def test_a_storm_needs_distinct_customers_and_links_the_complaints_before_it(embedded: EmbeddedStack) -> None:
    assert embedded.kafka_bootstrap_servers and embedded.redis_url
    bootstrap = embedded.kafka_bootstrap_servers
    prefix = f"storm{uuid.uuid4().hex[:6]}."
    settings = get_settings().with_overrides(storm_threshold=3, storm_window_s=10_000_000, topic_prefix=prefix)
    topics = Topics(prefix)
    ensure_topics(bootstrap, {topics.events: 1})
    redis_url = embedded.redis_url.rsplit("/", 1)[0] + "/13"
    sender = KafkaSender(bootstrap)
    two_senders = [Customer(email="a@example.com"), Customer(phone="+8613800138000")]

    async def scenario() -> tuple[list, list, list, dict[str, dict[str, str]]]:
        runtime = Runtime(settings, bootstrap, redis_url, "", 0, topics)
        await runtime.redis.flushdb()
        lifecycle = Lifecycle(runtime, sender, Classifier.load(), RoutingTable.load())
        try:
            before = []
            for n in range(20):
                complaint = _complaint(n, two_senders[n % 2])
                await runtime.store.record_new(complaint)  # as the intake does
                before.append((await lifecycle.route(complaint, datetime.now(UTC)))[0])
            after = []
            for n, customer in enumerate([Customer(email="c@example.com"), Customer(email="d@example.com")]):
                complaint = _complaint(20 + n, customer)
                await runtime.store.record_new(complaint)
                after.append((await lifecycle.route(complaint, datetime.now(UTC)))[0])
            again = (await lifecycle.route(after[0].complaint, datetime.now(UTC)))[0]  # a redelivery
            stored = {r.complaint.complaint_id: await runtime.store.get(r.complaint.complaint_id) for r in before}
            return before, after, [again], stored
        finally:
            await runtime.redis.aclose()

    try:
        before, after, again, stored = asyncio.run(scenario())
    finally:
        sender.close()
    # Twenty complaints from two senders: no storm.
    assert all(r.incident_id is None and "storm" not in r.signals for r in before)
    # The third customer makes it one; the fourth is part of it.
    incident_id = after[0].incident_id
    assert incident_id and after[1].incident_id == incident_id and again[0].incident_id == incident_id
    assert all("storm" in r.signals for r in after)
    # The complaints counted before the threshold are linked: the incident id on them and an event each.
    assert all(stored[r.complaint.complaint_id].get("incident_id") == incident_id for r in before)
    events = records_now(
        bootstrap,
        topics.events,
        lambda r: r.get("kind") == "incident" and r["details"]["incident_id"] == incident_id,
    )
    roles = {fields(e)["complaint_id"]: e["details"]["role"] for e in events}
    assert len(events) == len(roles) == 21  # one event per complaint, the raising one included
    assert roles[after[0].complaint.complaint_id] == "raised"
    assert {cid for cid, role in roles.items() if role == "linked"} == {r.complaint.complaint_id for r in before}
    raised = next(e for e in events if e["details"]["role"] == "raised")
    assert raised["details"]["customers"] == "3"
    # No contact details in the storm keys or among the counted customers.
    check = redis_client(redis_url)

    async def keys_and_members() -> list[str]:
        try:
            names = [k async for k in check.scan_iter(f"{PREFIX}:storm:*")]
            return names + [m for k in names if k.endswith(":customers") for m in await check.smembers(k)]
        finally:
            await check.aclose()

    found = asyncio.run(keys_and_members())
    assert len(found) == 2 + 4  # the window's two sets, its four customers
    assert not any("example" in k or "8613800138000" in k for k in found)
