"""The customer history in the real embedded redis-server: what a new complaint reads of it is bounded, and exact."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import redis.asyncio as aioredis

from kernel.embedded import EmbeddedStack
from kernel.state import HISTORY_READ_LIMIT, Keys, customer_keys, record_customer_complaint, redis_client
from schemas import Customer
from tests.conftest import on_own_redis_database


def test_customer_history_read_is_bounded_by_window_and_count(embedded: EmbeddedStack) -> None:
    """A number many complaints share must not make each new complaint read the whole history."""

    async def scenario() -> None:
        assert embedded.redis_url
        client = redis_client(embedded.redis_url)
        shared = Customer(phone="+8613912345678")
        now = datetime(2026, 11, 22, 9, 30, tzinfo=UTC).timestamp()
        try:
            for n in range(3 * HISTORY_READ_LIMIT):  # one complaint an hour, the oldest 150 hours ago
                await record_customer_complaint(
                    client, shared, f"cmp_old_{n}", "hotline", now - (n + 1) * 3600, look_back_s=0
                )
            day = await record_customer_complaint(
                client, shared, "cmp_new", "webform", now, look_back_s=86400, look_ahead_s=86400
            )
            assert set(day) == {f"cmp_old_{n}" for n in range(24)}  # one day back, hours 1 to 24
            month = await record_customer_complaint(client, shared, "cmp_new", "webform", now, look_back_s=30 * 86400)
            assert len(month) == HISTORY_READ_LIMIT  # the nearest ones
            assert set(month) == {f"cmp_old_{n}" for n in range(HISTORY_READ_LIMIT)}
            assert month["cmp_old_0"] == ("hotline", now - 3600)
        finally:
            await client.aclose()

    asyncio.run(scenario())


def _on_own_database(embedded: EmbeddedStack, scenario: Callable[[aioredis.Redis], Awaitable[None]]) -> None:
    """A database of its own (14): the shared stack's histories and this file's never meet."""
    on_own_redis_database(embedded, 14, scenario)


NOW = datetime(2026, 11, 22, 9, 30, tzinfo=UTC).timestamp()
DAY = 86400


def test_history_still_recorded_after_the_server_forgot_its_scripts(embedded: EmbeddedStack) -> None:
    """After a Redis restart or SCRIPT FLUSH the script is loaded again, also by many callers in one round trip."""

    async def scenario(client: aioredis.Redis) -> None:
        customer = Customer(phone="+8613700000001", email="li.lei@example.cn")
        await record_customer_complaint(client, customer, "cmp_1", "hotline", NOW - 3600, look_back_s=DAY)
        await client.script_flush()
        # Concurrent callers share one pipeline: every one of them meets NOSCRIPT and still gets its answer.
        answers = await asyncio.gather(
            *(
                record_customer_complaint(client, customer, f"cmp_{n}", "webform", NOW + n, look_back_s=DAY)
                for n in range(2, 12)
            )
        )
        assert all("cmp_1" in answer for answer in answers)
        assert await client.zcard(Keys.customer_history(customer_keys(customer)[0])) == 11

    _on_own_database(embedded, scenario)


def test_history_scores_come_back_exactly(embedded: EmbeddedStack) -> None:
    """Epochs with fractions of a second, beyond what a Lua number prints, return as the same floats."""

    async def scenario(client: aioredis.Redis) -> None:
        customer = Customer(email="exact@example.cn")
        instants = {"cmp_a": NOW + 0.123456789, "cmp_b": NOW - 1e-6, "cmp_c": 1_795_340_000.987654, "cmp_d": NOW}
        for cid, at in instants.items():
            await record_customer_complaint(client, customer, cid, "email", at, look_back_s=0)
        history = await record_customer_complaint(
            client, customer, "cmp_new", "webform", NOW, look_back_s=30 * DAY, look_ahead_s=30 * DAY
        )
        assert history == {cid: ("email", at) for cid, at in instants.items()}
        key = Keys.customer_history(customer_keys(customer)[0])
        assert await client.zscore(key, "cmp_a|email") == NOW + 0.123456789

    _on_own_database(embedded, scenario)


def test_history_drops_entries_older_than_keep_days_and_expires(embedded: EmbeddedStack) -> None:
    async def scenario(client: aioredis.Redis) -> None:
        customer = Customer(customer_id="C000123")
        key = Keys.customer_history(customer_keys(customer)[0])
        for n, age_days in enumerate((50, 31, 29, 1)):
            await record_customer_complaint(
                client, customer, f"cmp_{n}", "hotline", NOW - age_days * DAY, look_back_s=0
            )
        history = await record_customer_complaint(
            client, customer, "cmp_new", "webform", NOW, look_back_s=100 * DAY, keep_days=30
        )
        assert set(history) == {"cmp_2", "cmp_3"}
        assert await client.zrange(key, 0, -1) == ["cmp_2|hotline", "cmp_3|hotline", "cmp_new|webform"]
        assert 30 * DAY - 60 <= await client.ttl(key) <= 30 * DAY

    _on_own_database(embedded, scenario)


def test_history_reads_the_nearest_limit_per_identity(embedded: EmbeddedStack) -> None:
    """Each identity gives its own nearest ``limit``: a busy shared phone does not hide the e-mail's history."""

    async def scenario(client: aioredis.Redis) -> None:
        phone_only, email_only = Customer(phone="+8613700000002"), Customer(email="zhang.wei@example.cn")
        for n in range(10):
            await record_customer_complaint(
                client, phone_only, f"cmp_p{n}", "hotline", NOW - (n + 1) * 60, look_back_s=0
            )
            await record_customer_complaint(
                client, email_only, f"cmp_e{n}", "email", NOW - (n + 1) * 3600, look_back_s=0
            )
        both = Customer(phone="+8613700000002", email="zhang.wei@example.cn")
        history = await record_customer_complaint(client, both, "cmp_new", "webform", NOW, look_back_s=DAY, limit=3)
        assert set(history) == {"cmp_p0", "cmp_p1", "cmp_p2", "cmp_e0", "cmp_e1", "cmp_e2"}
        assert history["cmp_e2"] == ("email", NOW - 3 * 3600)

    _on_own_database(embedded, scenario)


def test_history_looks_ahead_only_as_far_as_asked(embedded: EmbeddedStack) -> None:
    """A complaint handled late sees those received after it within the look-ahead, and none beyond."""

    async def scenario(client: aioredis.Redis) -> None:
        customer = Customer(social_platform="weibo", social_handle="Someone")
        for cid, offset in (("cmp_before", -3600), ("cmp_soon", 3600), ("cmp_later", 2 * DAY)):
            await record_customer_complaint(client, customer, cid, "social", NOW + offset, look_back_s=0)
        ahead = await record_customer_complaint(
            client, customer, "cmp_new", "webform", NOW, look_back_s=DAY, look_ahead_s=DAY
        )
        assert ahead == {"cmp_before": ("social", NOW - 3600), "cmp_soon": ("social", NOW + 3600)}
        behind = await record_customer_complaint(client, customer, "cmp_new", "webform", NOW, look_back_s=DAY)
        assert behind == {"cmp_before": ("social", NOW - 3600)}

    _on_own_database(embedded, scenario)


def test_recording_the_same_complaint_twice_changes_nothing(embedded: EmbeddedStack) -> None:
    async def scenario(client: aioredis.Redis) -> None:
        customer = Customer(phone="+8613700000003", email="twice@example.cn")
        await record_customer_complaint(client, customer, "cmp_old", "email", NOW - 3600, look_back_s=0)
        first = await record_customer_complaint(client, customer, "cmp_new", "webform", NOW, look_back_s=DAY)
        second = await record_customer_complaint(client, customer, "cmp_new", "webform", NOW, look_back_s=DAY)
        assert first == second == {"cmp_old": ("email", NOW - 3600)}
        for key in customer_keys(customer):
            assert await client.zrange(Keys.customer_history(key), 0, -1, withscores=True) == [
                ("cmp_old|email", NOW - 3600),
                ("cmp_new|webform", NOW),
            ]

    _on_own_database(embedded, scenario)
