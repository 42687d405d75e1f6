"""Turn batching against the real embedded redis-server: shared round trips, each caller's own answers."""

from __future__ import annotations

import asyncio

import pytest
import redis.exceptions

from kernel.batching import AutoPipelineRedis, TurnBatcher
from kernel.embedded import EmbeddedStack, free_port
from kernel.state import redis_client


def _client(embedded: EmbeddedStack) -> AutoPipelineRedis:
    assert embedded.redis_url
    client = redis_client(embedded.redis_url)
    assert isinstance(client, AutoPipelineRedis)
    return client


def test_concurrent_commands_share_round_trips_and_get_their_own_replies(embedded: EmbeddedStack) -> None:
    async def scenario() -> None:
        client = _client(embedded)
        try:

            async def handler(n: int) -> tuple[bool, str | None, list[tuple[str, float]]]:
                created = await client.set(f"batching:complaint:{n}", f"CF-20261122-{n:06d}", nx=True)
                number = await client.get(f"batching:complaint:{n}")
                pipe = client.pipeline(transaction=False)
                pipe.zadd(f"batching:history:{n}", {f"c{n}|email": 1.0, f"c{n}|sms": 2.0})
                pipe.zrangebyscore(f"batching:history:{n}", 0, "+inf", withscores=True)
                _, history = await pipe.execute()
                return bool(created), number, history

            results = await asyncio.gather(*(handler(n) for n in range(64)))
            for n, (created, number, history) in enumerate(results):
                assert created
                assert number == f"CF-20261122-{n:06d}"
                assert history == [(f"c{n}|email", 1.0), (f"c{n}|sms", 2.0)]
            # Three steps per handler, 64 handlers: the steps of all handlers travel together.
            assert client.batching.items == 3 * 64
            assert client.batching.batches <= 6
            again = await asyncio.gather(*(client.set(f"batching:complaint:{n}", "x", nx=True) for n in range(64)))
            assert again == [None] * 64
        finally:
            await client.aclose()

    asyncio.run(scenario())


def test_a_command_error_reaches_only_its_caller(embedded: EmbeddedStack) -> None:
    async def scenario() -> None:
        client = _client(embedded)
        try:
            await client.set("batching:text", "not a number")
            outcomes = await asyncio.gather(
                client.incr("batching:counter"),
                client.incr("batching:text"),
                client.get("batching:text"),
                return_exceptions=True,
            )
            assert isinstance(outcomes[0], int)
            assert isinstance(outcomes[1], redis.exceptions.ResponseError)
            assert outcomes[2] == "not a number"
            pipe = client.pipeline(transaction=False)
            pipe.get("batching:text")
            pipe.incr("batching:text")
            with pytest.raises(redis.exceptions.ResponseError):
                await pipe.execute()
        finally:
            await client.aclose()

    asyncio.run(scenario())


def test_transactions_keep_their_own_connection(embedded: EmbeddedStack) -> None:
    async def scenario() -> None:
        client = _client(embedded)
        try:
            pipe = client.pipeline(transaction=True)
            pipe.set("batching:tx", "1")
            pipe.incr("batching:tx")
            assert await pipe.execute() == [True, 2]
            shared = client.pipeline(transaction=False)
            with pytest.raises(TypeError, match="WATCH"):
                await shared.watch("batching:tx")
        finally:
            await client.aclose()

    asyncio.run(scenario())


def test_an_unreachable_server_fails_every_caller_of_the_round_trip() -> None:
    async def scenario() -> None:
        client = redis_client(f"redis://127.0.0.1:{free_port()}/0")
        try:
            outcomes = await asyncio.gather(*(client.get(f"k{n}") for n in range(5)), return_exceptions=True)
            assert all(isinstance(o, redis.exceptions.ConnectionError) for o in outcomes)
        finally:
            await client.aclose()

    asyncio.run(scenario())


def test_turn_batcher_runs_once_per_turn_and_keeps_failures_apart() -> None:
    calls: list[list[int]] = []

    async def square_or_fail(items: list[int]) -> list[int | BaseException]:
        calls.append(items)
        return [ValueError(f"odd {i}") if i % 2 else i * i for i in items]

    async def scenario() -> None:
        batcher: TurnBatcher[int, int] = TurnBatcher(square_or_fail)
        outcomes = await asyncio.gather(*(batcher(i) for i in range(6)), return_exceptions=True)
        assert outcomes[0::2] == [0, 4, 16]
        assert all(isinstance(o, ValueError) for o in outcomes[1::2])
        assert calls == [[0, 1, 2, 3, 4, 5]]
        assert await batcher(8) == 64  # a lone call completes at the end of its turn too
        with pytest.raises(ValueError):
            await batcher(7)

    asyncio.run(scenario())


def test_calls_made_while_a_batch_is_in_flight_leave_together_in_the_next() -> None:
    calls: list[list[int]] = []
    running = 0
    most_running = 0

    async def slow_echo(items: list[int]) -> list[int]:
        nonlocal running, most_running
        calls.append(items)
        running += 1
        most_running = max(most_running, running)
        await asyncio.sleep(0.01)
        running -= 1
        return items

    async def scenario() -> None:
        batcher: TurnBatcher[int, int] = TurnBatcher(slow_echo, max_in_flight=1)

        async def late(item: int, delay: float) -> int:
            await asyncio.sleep(delay)
            return await batcher(item)

        # 0 leaves alone; 1-3 arrive while it is on the wire and wait for it; 4 comes after both are done.
        assert await asyncio.gather(late(0, 0), late(1, 0.002), late(2, 0.004), late(3, 0.006)) == [0, 1, 2, 3]
        assert await batcher(4) == 4
        assert calls == [[0], [1, 2, 3], [4]]
        assert most_running == 1

    asyncio.run(scenario())
    with pytest.raises(ValueError):
        TurnBatcher(slow_echo, max_in_flight=0)
