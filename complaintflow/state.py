"""Operational state in Redis: the one place that knows the key names.

Kafka is the durable log; Redis holds what must be looked up fast: complaint status, number and
Message-ID lookups, idempotency markers, customer history, SLA deadlines, notification claims.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from datetime import date
from typing import Any

import redis.asyncio as aioredis

from complaintflow.batching import AutoPipelineRedis
from schemas import Complaint, Customer, complaint_number_for

PREFIX = "cf"
IDEMPOTENCY_TTL_S = 60 * 60 * 24 * 90  # markers outlive any plausible redelivery
NUMBER_SALT_LIMIT = 50
HISTORY_READ_LIMIT = 50  # per identity: enough to see a repeat complainant, bounded for a shared number


class Keys:
    @staticmethod
    def complaint(complaint_id: str) -> str:
        return f"{PREFIX}:complaint:{complaint_id}"

    @staticmethod
    def number(number: str) -> str:
        return f"{PREFIX}:number:{number}"

    @staticmethod
    def message_id(message_id: str) -> str:
        return f"{PREFIX}:msgid:{message_id.strip().strip('<>').lower()}"

    @staticmethod
    def done(stage: str, item_id: str) -> str:
        return f"{PREFIX}:done:{stage}:{item_id}"

    @staticmethod
    def notification(event_id: str, channel: str) -> str:
        return f"{PREFIX}:notify:{event_id}:{channel}"

    @staticmethod
    def customer_history(customer_key: str) -> str:
        return f"{PREFIX}:customer:{customer_key}"

    @staticmethod
    def storm(bucket: str) -> str:
        return f"{PREFIX}:storm:{bucket}"

    SLA_DUE = f"{PREFIX}:sla:due"
    SLA_COUNTS = f"{PREFIX}:sla:counts"  # members of SLA_DUE per alert kind (services/router/sla_clock.py)


def redis_client(url: str) -> aioredis.Redis:
    """The process's Redis client: commands issued together by concurrent handlers share a round trip."""
    return AutoPipelineRedis.from_url(
        url, decode_responses=True, socket_timeout=5, socket_connect_timeout=3, health_check_interval=15
    )


class ComplaintStore:
    def __init__(self, client: aioredis.Redis) -> None:
        self.redis = client

    async def ping(self) -> bool:
        return bool(await self.redis.ping())

    async def claim_number(self, complaint_id: str, received_on: date) -> str:
        """The complaint's number, claimed for it alone; the same id always gets the same number back."""
        for salt in range(NUMBER_SALT_LIMIT):
            number = complaint_number_for(complaint_id, received_on, salt)
            if await self.redis.set(Keys.number(number), complaint_id, nx=True):
                return number
            if await self.redis.get(Keys.number(number)) == complaint_id:
                return number
        raise RuntimeError("no free complaint number after many attempts")

    async def mark_once(self, stage: str, item_id: str, ttl_s: int = IDEMPOTENCY_TTL_S) -> bool:
        """True the first time ``item_id`` is seen by ``stage``; False on every redelivery."""
        return bool(await self.redis.set(Keys.done(stage, item_id), "1", nx=True, ex=ttl_s))

    async def forget(self, stage: str, item_id: str) -> None:
        await self.redis.delete(Keys.done(stage, item_id))

    async def record_new(self, complaint: Complaint) -> bool:
        """Store the complaint's summary; False when it was already recorded (a redelivery)."""
        key = Keys.complaint(complaint.complaint_id)
        customer = complaint.customer
        pipe = self.redis.pipeline(transaction=False)
        pipe.hsetnx(key, "number", complaint.complaint_number)
        pipe.hsetnx(key, "status", "received")  # a redelivery must not reset a status moved on since
        pipe.hset(
            key,
            mapping={
                "complaint_id": complaint.complaint_id,
                "channel": complaint.channel.value,
                "language": complaint.language.value,
                "received_at": complaint.received_at.isoformat(),
                "phone_last4": (customer.phone or "")[-4:],
                "email": (customer.email or "").lower(),
            },
        )
        pipe.set(Keys.number(complaint.complaint_number), complaint.complaint_id)
        if complaint.email and complaint.email.message_id:
            pipe.set(Keys.message_id(complaint.email.message_id), complaint.complaint_id)
        created, *_ = await pipe.execute()
        return bool(created)

    async def update(self, complaint_id: str, **fields: Any) -> None:
        mapping = {
            k: (json.dumps(v, default=str) if isinstance(v, dict | list) else str(v))
            for k, v in fields.items()
            if v is not None
        }
        if mapping:
            await self.redis.hset(Keys.complaint(complaint_id), mapping=mapping)

    async def get(self, complaint_id: str) -> dict[str, str]:
        return await self.redis.hgetall(Keys.complaint(complaint_id))

    async def id_for_number(self, number: str) -> str | None:
        return await self.redis.get(Keys.number(number))

    async def link_message_id(self, message_id: str, complaint_id: str) -> None:
        await self.redis.set(Keys.message_id(message_id), complaint_id)

    async def id_for_message_ids(self, message_ids: Iterable[str]) -> str | None:
        ids = [Keys.message_id(m) for m in message_ids if m and m.strip()]
        if not ids:
            return None
        for owner in await self.redis.mget(ids):
            if owner:
                return owner
        return None


def customer_keys(customer: Customer) -> list[str]:
    """Hashed identities of a customer (phone, e-mail, customer id, social handle): no personal data in keys."""
    raw = [
        f"phone:{customer.phone}" if customer.phone else None,
        f"email:{customer.email.lower()}" if customer.email else None,
        f"cid:{customer.customer_id}" if customer.customer_id else None,
        f"social:{customer.social_platform}:{customer.social_handle.lower()}"
        if customer.social_platform and customer.social_handle
        else None,
    ]
    return [hashlib.sha256(item.encode()).hexdigest()[:24] for item in raw if item]


async def record_customer_complaint(
    client: aioredis.Redis,
    customer: Customer,
    complaint_id: str,
    channel: str,
    at_epoch: float,
    *,
    look_back_s: float,
    look_ahead_s: float = 0.0,
    limit: int = HISTORY_READ_LIMIT,
    keep_days: int = 400,
) -> dict[str, tuple[str, float]]:
    """Add the complaint to the customer's history; return the other complaints received from ``look_back_s``
    before it to ``look_ahead_s`` after it (complaint id → (channel, epoch)), the nearest ``limit`` per identity.

    The read is bounded by the caller's window and by ``limit`` because one identity can collect thousands of
    complaints (a shared family phone, a number many customers quote): a whole-history read per message would
    make every message of theirs cost more than the last. Entries older than ``keep_days`` are dropped.
    """
    keys = customer_keys(customer)
    if not keys:
        return {}
    member = f"{complaint_id}|{channel}"
    pipe = client.pipeline(transaction=False)
    for key in keys:
        history_key = Keys.customer_history(key)
        pipe.zadd(history_key, {member: at_epoch})
        pipe.zremrangebyscore(history_key, "-inf", at_epoch - keep_days * 86400)
        pipe.zrevrangebyscore(
            history_key, at_epoch + look_ahead_s, at_epoch - look_back_s, start=0, num=limit + 1, withscores=True
        )
        pipe.expire(history_key, keep_days * 86400)
    results = await pipe.execute()
    history: dict[str, tuple[str, float]] = {}
    for entries in results[2::4]:
        for entry, score in entries:
            other_id, _, other_channel = entry.partition("|")
            if other_id != complaint_id:
                history[other_id] = (other_channel, float(score))
    return history
