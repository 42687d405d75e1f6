"""The storm counter in the real embedded redis-server: distinct complaints per bucket, each counted once."""

from __future__ import annotations

import asyncio

import redis.asyncio as aioredis

from complaintflow.embedded import EmbeddedStack
from complaintflow.state import add_and_count
from tests.conftest import on_own_redis_database

KEY = "cf:storm:credit_cards:unauthorised_loss:1968000"


def test_counts_distinct_complaints_once_each_and_sets_the_expiry(embedded: EmbeddedStack) -> None:
    async def scenario(client: aioredis.Redis) -> None:
        counts = [await add_and_count(client, KEY, f"cmp_{n}", 1800) for n in range(5)]
        assert counts == [1, 2, 3, 4, 5]
        assert await add_and_count(client, KEY, "cmp_2", 1800) == 5  # a redelivered complaint is not counted again
        assert 1790 < await client.ttl(KEY) <= 1800
        assert await add_and_count(client, "cf:storm:loans:fees:1968000", "cmp_0", 1800) == 1

    on_own_redis_database(embedded, 12, scenario)


def test_counts_right_when_many_callers_meet_a_server_that_forgot_its_scripts(embedded: EmbeddedStack) -> None:
    async def scenario(client: aioredis.Redis) -> None:
        await add_and_count(client, KEY, "cmp_first", 1800)
        await client.script_flush()
        counts = await asyncio.gather(*(add_and_count(client, KEY, f"cmp_{n}", 1800) for n in range(20)))
        assert sorted(counts) == list(range(2, 22))
        assert await client.scard(KEY) == 21

    on_own_redis_database(embedded, 12, scenario)
