"""Cheap Redis counters the workers keep for the live dashboard (one pipeline round trip per call)."""

from __future__ import annotations

import json
import time

import redis.asyncio as aioredis

INTAKE_KEY = "cf:dash:intake:{channel}"
INCIDENTS_KEY = "cf:dash:incidents"
KEEP_MINUTES = 180
KEEP_INCIDENTS = 20


def minute_of(epoch: float) -> int:
    return int(epoch // 60) * 60


async def record_intake(client: aioredis.Redis, channel: str, at_epoch: float | None = None) -> None:
    """One new complaint on ``channel``: a per-minute field in the channel's hash."""
    key = INTAKE_KEY.format(channel=channel)
    pipe = client.pipeline(transaction=False)
    pipe.hincrby(key, str(minute_of(at_epoch or time.time())), 1)
    pipe.expire(key, KEEP_MINUTES * 60)
    await pipe.execute()


async def record_incident(client: aioredis.Redis, incident: dict[str, str]) -> None:
    """A complaint storm (ids and categories only): the newest first, a short list kept."""
    pipe = client.pipeline(transaction=False)
    pipe.lpush(INCIDENTS_KEY, json.dumps(incident, ensure_ascii=False))
    pipe.ltrim(INCIDENTS_KEY, 0, KEEP_INCIDENTS - 1)
    await pipe.execute()


async def intake_per_minute(
    client: aioredis.Redis, channels: list[str], minutes: int, now_epoch: float | None = None
) -> tuple[list[int], dict[str, list[int]]]:
    """The last ``minutes`` minute starts (oldest first) and each channel's count in each."""
    last = minute_of(now_epoch or time.time())
    starts = [last - 60 * i for i in range(minutes - 1, -1, -1)]
    pipe = client.pipeline(transaction=False)
    for channel in channels:
        pipe.hmget(INTAKE_KEY.format(channel=channel), [str(s) for s in starts])
    answers = await pipe.execute()
    return starts, {channel: [int(v or 0) for v in values] for channel, values in zip(channels, answers, strict=True)}


async def latest_incidents(client: aioredis.Redis, limit: int = 10) -> list[dict[str, str]]:
    return [json.loads(item) for item in await client.lrange(INCIDENTS_KEY, 0, limit - 1)]
