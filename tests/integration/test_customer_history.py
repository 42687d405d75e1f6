"""The customer history in the real embedded redis-server: what a new complaint reads of it is bounded."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from complaintflow.embedded import EmbeddedStack
from complaintflow.state import HISTORY_READ_LIMIT, record_customer_complaint, redis_client
from schemas import Customer


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
