"""Operational state in Redis: the one place that knows the key names.

Kafka is the durable log; Redis holds what must be looked up fast: complaint status, number and
Message-ID lookups, idempotency markers, customer history, SLA deadlines, notification claims.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
import weakref
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import redis.asyncio as aioredis
from redis.commands.core import AsyncScript

from kernel.batching import AutoPipelineRedis
from schemas import Complaint, Customer, complaint_number_for

PREFIX = "cf"
IDEMPOTENCY_TTL_S = 60 * 60 * 24 * 90  # markers outlive any plausible redelivery
NUMBER_SALT_LIMIT = 50
HISTORY_READ_LIMIT = 50  # per identity: enough to see a repeat complainant, bounded for a shared number

# KEYS: complaint hash, number lookup, optionally Message-ID lookup. ARGV: number, initial status, complaint id,
# then field, value, ... for the summary. Answers 1 when this call created the complaint, else 0.
_RECORD_NEW = """
local created = redis.call('HSETNX', KEYS[1], 'number', ARGV[1])
redis.call('HSETNX', KEYS[1], 'status', ARGV[2])
redis.call('HSET', KEYS[1], unpack(ARGV, 6))
redis.call('SET', KEYS[2], ARGV[3])
if created == 1 then
  redis.call('HINCRBY', KEYS[3], ARGV[4], 1)
  redis.call('EXPIRE', KEYS[3], ARGV[5])
end
if KEYS[4] then
  redis.call('SET', KEYS[4], ARGV[3])
end
return created
"""

# KEYS: the customer's history keys. ARGV: member, its score, trim bound (older scores are dropped), window top,
# window bottom, entries to read per key, expiry in seconds. Answers member, score, ... for the window of every key
# in turn, newest first. The scores stay the strings Redis replies WITHSCORES: a Lua number in a script's reply is
# cut to an integer, and an epoch's fraction of a second would be lost. The bounds are computed in Python and sent
# as float reprs, so the window and the trim are exactly the caller's, with no arithmetic in Lua.
_RECORD_HISTORY = """
local out = {}
for _, key in ipairs(KEYS) do
  redis.call('ZADD', key, ARGV[2], ARGV[1])
  redis.call('ZREMRANGEBYSCORE', key, '-inf', ARGV[3])
  local entries = redis.call('ZREVRANGEBYSCORE', key, ARGV[4], ARGV[5], 'WITHSCORES', 'LIMIT', 0, ARGV[6])
  for i = 1, #entries do
    out[#out + 1] = entries[i]
  end
  redis.call('EXPIRE', key, ARGV[7])
end
return out
"""
# KEYS: the window's customer set, its complaint set. ARGV: customer key, complaint id, expiry in seconds. Answers
# the number of distinct customers with this one counted; a redelivered complaint or a second complaint by the same
# customer does not raise it.
_STORM_COUNT = """
redis.call('SADD', KEYS[1], ARGV[1])
redis.call('SADD', KEYS[2], ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('EXPIRE', KEYS[2], ARGV[3])
return redis.call('SCARD', KEYS[1])
"""
# KEYS: a counter. ARGV: expiry in seconds, set when this call creates it. Answers the count and its TTL.
_COUNT_IN_WINDOW = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then
  redis.call('EXPIRE', KEYS[1], ARGV[1])
end
return {count, redis.call('TTL', KEYS[1])}
"""
# The script objects of each client, made once: each holds its script's SHA1, which would otherwise be hashed
# again per complaint (a ComplaintStore is made per use).
_scripts: weakref.WeakKeyDictionary[aioredis.Redis, dict[str, AsyncScript]] = weakref.WeakKeyDictionary()


def _script(client: aioredis.Redis, source: str) -> AsyncScript:
    """``source`` registered with ``client``: called, it runs by SHA1 and loads itself again after NOSCRIPT."""
    scripts = _scripts.setdefault(client, {})
    script = scripts.get(source)
    if script is None:
        script = scripts[source] = client.register_script(source)
    return script


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
    def status_outcome(update_id: str) -> str:
        return f"{PREFIX}:outcome:{update_id}"

    @staticmethod
    def notification(event_id: str, medium: str) -> str:
        """The exactly-once claim of one (event, delivery medium): ``pending:<owner>``, ``sent`` or ``failed``.
        The key string is unchanged since the delivery "channel" was renamed "medium" (the medium names are the
        former channel values), so claims in flight across an upgrade still dedupe."""
        return f"{PREFIX}:notify:{event_id}:{medium}"

    @staticmethod
    def customer_history(customer_key: str) -> str:
        return f"{PREFIX}:customer:{customer_key}"

    @staticmethod
    def storm_customers(line: str, reason: str, bucket: int) -> str:
        """Set of the hashed customer keys who complained about ``line``/``reason`` in one storm window."""
        return f"{PREFIX}:storm:{line}:{reason}:{bucket}:customers"

    @staticmethod
    def storm_complaints(line: str, reason: str, bucket: int) -> str:
        """Set of the complaint ids counted in the same window (linked to the incident once it is raised)."""
        return f"{PREFIX}:storm:{line}:{reason}:{bucket}:complaints"

    @staticmethod
    def submission(complaint_id: str) -> str:
        """Digest of the content first accepted under a client's idempotency key (submission id, call id...)."""
        return f"{PREFIX}:submission:{complaint_id}"

    @staticmethod
    def lookup_attempts(number: str) -> str:
        """Proofs tried for one complaint number in the current lockout window, from any address."""
        return f"{PREFIX}:lookup:{number}"

    @staticmethod
    def routed(complaint_id: str) -> str:
        """The current routing of a complaint (JSON of its ``RoutedComplaint``)."""
        return f"{PREFIX}:routed:{complaint_id}"

    @staticmethod
    def notify_scheduled(topic_prefix: str = "") -> str:
        """The notifier's retry/deferral schedule of one deployment. Stacks sharing a Redis (tenants, test
        stacks) have their own topics and SMTP servers, so one must never run another's schedule."""
        base = f"{PREFIX}:notify:scheduled"
        return f"{base}:{topic_prefix}" if topic_prefix else base

    @staticmethod
    def notify_order(scheduled: str, complaint_id: str, medium: str) -> tuple[str, str]:
        """(marker that a message of this complaint and medium waits in the ``scheduled`` schedule, the queue of
        later ones behind it). Same strings as before the rename of the delivery "channel" to "medium"."""
        base = f"{scheduled}:order:{complaint_id}:{medium}"
        return base, f"{base}:queue"

    SLA_DUE = f"{PREFIX}:sla:due"
    SLA_COUNTS = f"{PREFIX}:sla:counts"  # members of SLA_DUE per alert kind (SlaSchedule below)

    @staticmethod
    def sla_members(complaint_id: str) -> str:
        """The members of SLA_DUE planned for one complaint (to cancel them)."""
        return f"{PREFIX}:sla:members:{complaint_id}"

    @staticmethod
    def dash_intake(channel: str) -> str:
        """New complaints of one intake channel per minute (field: the minute's epoch second)."""
        return f"{PREFIX}:dash:intake:{channel}"

    DASH_INCIDENTS = f"{PREFIX}:dash:incidents"  # the latest complaint storms, newest first


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

    async def claim_submission(self, complaint_id: str, digest: str) -> bool:
        """True when ``digest`` is the content first accepted for ``complaint_id`` (now or earlier); False when
        that id was first used for different content."""
        key = Keys.submission(complaint_id)
        if await self.redis.set(key, digest, nx=True, ex=IDEMPOTENCY_TTL_S):
            return True
        return await self.redis.get(key) == digest

    async def count_lookup_attempt(self, number: str, window_s: int) -> tuple[int, int]:
        """Count one proof tried for ``number``; (attempts in the window, seconds left of the window)."""
        count, ttl = await _script(self.redis, _COUNT_IN_WINDOW)(keys=[Keys.lookup_attempts(number)], args=[window_s])
        return int(count), int(ttl)

    async def clear_lookup_attempts(self, number: str) -> None:
        await self.redis.delete(Keys.lookup_attempts(number))

    async def mark_once(self, stage: str, item_id: str, ttl_s: int = IDEMPOTENCY_TTL_S) -> bool:
        """True the first time ``item_id`` is seen by ``stage``; False on every redelivery."""
        return bool(await self.redis.set(Keys.done(stage, item_id), "1", nx=True, ex=ttl_s))

    async def first_copy(self, stage: str, item_id: str, ref: str, ttl_s: int = IDEMPOTENCY_TTL_S) -> str:
        """Where ``stage`` first saw ``item_id`` (e.g. a raw record's topic:partition:offset): ``ref`` itself for the
        first copy and its redeliveries, the first one's for a second copy of the same message sent again."""
        key = Keys.done(stage, item_id)
        if await self.redis.set(key, ref, nx=True, ex=ttl_s):
            return ref
        return await self.redis.get(key) or ref

    async def forget(self, stage: str, item_id: str) -> None:
        await self.redis.delete(Keys.done(stage, item_id))

    async def record_new(self, complaint: Complaint, raw_ref: str | None = None) -> bool:
        """Store the complaint's summary (with ``raw_ref``, the raw record it came from) and, the first time, count
        it in its channel's minute for the live dashboard; False when it was already recorded (a redelivery).

        One script call rather than a pipeline of several commands: every complaint passes here, and the
        client's work per command (packing it, parsing its reply) is a large share of the intake's CPU.
        """
        customer = complaint.customer
        keys = [
            Keys.complaint(complaint.complaint_id),
            Keys.number(complaint.complaint_number),
            Keys.dash_intake(complaint.channel.value),
        ]
        if complaint.email and complaint.email.message_id:
            keys.append(Keys.message_id(complaint.email.message_id))
        summary = {
            "complaint_id": complaint.complaint_id,
            "channel": complaint.channel.value,
            "language": complaint.language.value,
            "received_at": complaint.received_at.isoformat(),
            "phone_last4": (customer.phone or "")[-4:],
            "email": (customer.email or "").lower(),
        }
        if raw_ref:
            summary["raw_ref"] = raw_ref
        # The status is only set when absent: a redelivery must not reset a status moved on since.
        minute = str(minute_of(time.time()))
        args = [complaint.complaint_number, "received", complaint.complaint_id, minute, DASH_KEEP_MINUTES * 60]
        args.extend(item for field_value in summary.items() for item in field_value)
        return bool(await _script(self.redis, _RECORD_NEW)(keys=keys, args=args))

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

    async def recent_complaints_of(self, customer: Customer, limit: int = 20) -> list[tuple[str, str]]:
        """The customer's latest complaints as (complaint id, status), newest first, read from their history
        (phone, e-mail, customer id, social account; see ``record_customer_complaint``) without adding to it."""
        keys = customer_keys(customer)
        if not keys:
            return []
        found: dict[str, float] = {}
        for entries in await asyncio.gather(
            *(self.redis.zrevrange(Keys.customer_history(key), 0, limit - 1, withscores=True) for key in keys)
        ):
            for member, score in entries:
                complaint_id = member.partition("|")[0]
                found[complaint_id] = max(score, found.get(complaint_id, score))
        newest = sorted(found, key=lambda c: -found[c])[:limit]
        statuses = await asyncio.gather(*(self.redis.hget(Keys.complaint(c), "status") for c in newest))
        return [(c, status) for c, status in zip(newest, statuses, strict=True) if status]


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
    # One script call for all identities instead of four commands each: both the intake and the router record
    # every complaint, and the client's work per command (packing it, parsing its reply) is what costs.
    reply = await _script(client, _RECORD_HISTORY)(
        keys=[Keys.customer_history(key) for key in keys],
        args=[
            f"{complaint_id}|{channel}",
            at_epoch,
            at_epoch - keep_days * 86400,
            at_epoch + look_ahead_s,
            at_epoch - look_back_s,
            limit + 1,  # the complaint itself is in its own window
            keep_days * 86400,
        ],
    )
    history: dict[str, tuple[str, float]] = {}
    for entry, score in zip(reply[::2], reply[1::2], strict=True):
        other_id, _, other_channel = entry.partition("|")
        if other_id != complaint_id:
            history[other_id] = (other_channel, float(score))
    return history


def storm_customer_key(customer: Customer, complaint_id: str) -> str:
    """One stable, hashed key per customer for storm counts: the bank's customer id, else the e-mail address, else
    the phone number, else the social handle (the first a complaint carries, so that a customer writing by mail and
    by web form is one customer). A complaint without any contact counts as a customer of its own."""
    for kind, value in (
        ("cid", customer.customer_id),
        ("email", customer.email.lower() if customer.email else None),
        ("phone", customer.phone),
        (
            "social",
            f"{customer.social_platform}:{customer.social_handle.lower()}"
            if customer.social_platform and customer.social_handle
            else None,
        ),
    ):
        if value:
            return hashlib.sha256(f"{kind}:{value}".encode()).hexdigest()[:24]
    return hashlib.sha256(f"complaint:{complaint_id}".encode()).hexdigest()[:24]


async def count_storm_customer(
    client: aioredis.Redis, line: str, reason: str, bucket: int, customer_key: str, complaint_id: str, expire_s: int
) -> int:
    """Count the complaint and its customer in the line/reason window ``bucket``; the window's distinct customers.
    Both sets expire ``expire_s`` after the last complaint. Idempotent: one script call."""
    keys = [Keys.storm_customers(line, reason, bucket), Keys.storm_complaints(line, reason, bucket)]
    return int(await _script(client, _STORM_COUNT)(keys=keys, args=[customer_key, complaint_id, expire_s]))


async def storm_complaints(client: aioredis.Redis, line: str, reason: str, bucket: int) -> list[str]:
    """The complaint ids counted in a storm window, sorted."""
    return sorted(await client.smembers(Keys.storm_complaints(line, reason, bucket)))


# --- the SLA schedule -----------------------------------------------------------------------------------------
# Deadlines live in a sorted set; a sweeper claims each due alert by removing it (ZREM answers 1 to one caller
# only), so however many routers sweep, every warning and breach is emitted once. Beside the set, a hash counts
# its members per alert kind; the same Lua script that adds or removes a member moves the count, so the count
# stays exact under redelivery and concurrent routers, and the open-clock gauges read two numbers instead of the
# whole schedule (which grows with every open complaint).

_SLA_COUNTED = "exact"  # field of SLA_COUNTS set once the counts were taken from the whole schedule

# KEYS: due, counts. ARGV: member, score, alert kind, ... A member already planned only gets its score back.
_SLA_ADD = """
for i = 1, #ARGV, 3 do
  if redis.call('ZADD', KEYS[1], ARGV[i + 1], ARGV[i]) == 1 then
    redis.call('HINCRBY', KEYS[2], ARGV[i + 2], 1)
  end
end
"""
# KEYS: due, counts. ARGV: member, alert kind, ... Answers 1 for each member this call removed, else 0.
_SLA_REMOVE = """
local removed = {}
for i = 1, #ARGV, 2 do
  removed[#removed + 1] = redis.call('ZREM', KEYS[1], ARGV[i])
  if removed[#removed] == 1 then
    redis.call('HINCRBY', KEYS[2], ARGV[i + 1], -1)
  end
end
return removed
"""
# KEYS: due, counts. Counts the whole schedule once (a store that had a schedule before it had counts).
_SLA_RECOUNT = """
local counts = {sla_warning = 0, sla_breached = 0}
for _, member in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local kind = string.match(member, '^[^|]*|[^|]*|([^|]*)|')
  if counts[kind] then counts[kind] = counts[kind] + 1 end
end
redis.call('HSET', KEYS[2], 'sla_warning', counts.sla_warning, 'sla_breached', counts.sla_breached, 'exact', 1)
"""


@dataclass(frozen=True)
class SlaAlert:
    """One planned alert: which deadline, the alert kind (``sla_warning``/``sla_breached``), the deadline itself
    and the instant the alert falls due."""

    complaint_id: str
    which: str
    kind: str
    deadline: datetime
    due_at: datetime

    @property
    def member(self) -> str:
        return f"{self.complaint_id}|{self.which}|{self.kind}|{int(self.deadline.timestamp())}"

    @staticmethod
    def parts(member: str) -> tuple[str, str, str]:
        """Complaint id, deadline name and alert kind of a schedule member."""
        cid, which, kind, _ = member.split("|")
        return cid, which, kind


class SlaSchedule:
    def __init__(self, client: aioredis.Redis) -> None:
        self.redis = client
        self._add = client.register_script(_SLA_ADD)
        self._remove = client.register_script(_SLA_REMOVE)

    async def plan(self, complaint_id: str, alerts: Iterable[SlaAlert]) -> None:
        entries = {alert.member: (alert.due_at.timestamp(), alert.kind) for alert in alerts}
        if not entries:
            return
        args = [x for m, (at, kind) in entries.items() for x in (m, at, kind)]
        await asyncio.gather(
            self._add(keys=[Keys.SLA_DUE, Keys.SLA_COUNTS], args=args),
            self.redis.sadd(Keys.sla_members(complaint_id), *entries),
        )

    async def cancel(self, complaint_id: str, which: str | None) -> None:
        """Takes the complaint's planned alerts (of deadline ``which``, or all) out of the schedule."""
        key = Keys.sla_members(complaint_id)
        members = [m for m in await self.redis.smembers(key) if which is None or SlaAlert.parts(m)[1] == which]
        if members:
            await asyncio.gather(self._release(members), self.redis.srem(key, *members))

    async def settled(self, member: str) -> None:
        """A claimed alert was emitted: the complaint no longer needs to cancel it."""
        await self.redis.srem(Keys.sla_members(SlaAlert.parts(member)[0]), member)

    async def _release(self, members: list[str]) -> list[int]:
        """Takes ``members`` out of the schedule; 1 for each one this call removed, 0 if it was gone already."""
        args = [x for m in members for x in (m, SlaAlert.parts(m)[2])]
        return await self._remove(keys=[Keys.SLA_DUE, Keys.SLA_COUNTS], args=args)

    async def claim_due(self, now: datetime, limit: int = 500) -> list[str]:
        due = await self.redis.zrangebyscore(Keys.SLA_DUE, "-inf", now.timestamp(), start=0, num=limit)
        if not due:
            return []
        claimed = await self._release(due)
        return [member for member, won in zip(due, claimed, strict=True) if won]


async def sla_clock_states(client: aioredis.Redis) -> dict[str, int]:
    """Open clocks (a breach alert still ahead) and, of those, the ones already past their warning.

    Every clock is planned with a warning and a breach alert and the warning falls due first, so the clocks
    past their warning are the breach alerts left beyond the warning alerts left."""
    counts = await client.hgetall(Keys.SLA_COUNTS)
    if _SLA_COUNTED not in counts:
        await client.eval(_SLA_RECOUNT, 2, Keys.SLA_DUE, Keys.SLA_COUNTS)
        counts = await client.hgetall(Keys.SLA_COUNTS)
    breach, warning = int(counts.get("sla_breached", 0)), int(counts.get("sla_warning", 0))
    return {"open": breach, "warning": max(0, breach - warning)}


# --- dashboard counters: cheap counters the workers keep for the live dashboard (one round trip per call) ---------
DASH_KEEP_MINUTES = 180
DASH_KEEP_INCIDENTS = 20


def minute_of(epoch: float) -> int:
    return int(epoch // 60) * 60


async def record_incident(client: aioredis.Redis, incident: dict[str, str]) -> None:
    """A complaint storm (ids and categories only): the newest first, a short list kept."""
    pipe = client.pipeline(transaction=False)
    pipe.lpush(Keys.DASH_INCIDENTS, json.dumps(incident, ensure_ascii=False))
    pipe.ltrim(Keys.DASH_INCIDENTS, 0, DASH_KEEP_INCIDENTS - 1)
    await pipe.execute()


async def intake_per_minute(
    client: aioredis.Redis, channels: list[str], minutes: int, now_epoch: float | None = None
) -> tuple[list[int], dict[str, list[int]]]:
    """The last ``minutes`` minute starts (oldest first) and each channel's count in each."""
    last = minute_of(now_epoch or time.time())
    starts = [last - 60 * i for i in range(minutes - 1, -1, -1)]
    pipe = client.pipeline(transaction=False)
    for channel in channels:
        pipe.hmget(Keys.dash_intake(channel), [str(s) for s in starts])
    answers = await pipe.execute()
    return starts, {channel: [int(v or 0) for v in values] for channel, values in zip(channels, answers, strict=True)}


async def latest_incidents(client: aioredis.Redis, limit: int = 10) -> list[dict[str, str]]:
    return [json.loads(item) for item in await client.lrange(Keys.DASH_INCIDENTS, 0, limit - 1)]
