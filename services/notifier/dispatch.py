"""Delivers one (event, medium) exactly once, on the media of the table it is given (``media.standard_media``).

A Redis record is claimed before sending (``pending:<owner>`` with a short lease) and confirmed after
(``sent``) only once the message is accepted: by the SMTP server, the SMS gateway, or the broker (social replies
are sent and awaited, not left in the producer's buffer). A redelivered event whose record says ``sent`` is
skipped; a claim left by a worker that died before sending expires and the message is sent then. Failures that
may pass are retried later from a schedule in Redis, so one slow or failing address never blocks the partition.

Order per complaint and medium: while a message of a complaint waits in the schedule (a retry, a quiet-hours
deferral, a claim held elsewhere), later messages for that complaint and medium queue behind it in event
order, and the schedule runner sends them once the waiting one is done. Only an urgent message overtakes a
quiet-hours deferral.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from kernel.health import HEALTH
from kernel.metrics import DEAD_LETTERS, NOTIFICATIONS
from kernel.runtime import Runtime
from kernel.state import Keys
from kernel.streams import Outbox, dependency_errors
from schemas import ComplaintEvent, DeadLetter, EventKind, event_id_for, stable_id
from services.notifier.medium import Delivery, MediaTable, is_urgent
from services.notifier.quiet_hours import send_after
from services.notifier.retry import backoff_delay, classify_failure

log = logging.getLogger(__name__)

SENT_TTL_S = 60 * 60 * 24 * 120
CLAIM_HELD = "claim_held"

# Takes a due entry for a lease instead of removing it: if the worker dies while sending, the entry
# comes due again after the lease, so a message whose event is already committed is not lost.
_LEASE_IF_DUE = """
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if score and tonumber(score) <= tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
  return 1
end
return 0
"""

# Queue behind the complaint's waiting message, if it has one (atomic with the release below).
_ENQUEUE_IF_WAITING = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('RPUSH', KEYS[2], ARGV[1])
  redis.call('EXPIRE', KEYS[2], ARGV[2])
  return 1
end
return 0
"""

# The complaint has nothing waiting any more once its queue is empty.
_RELEASE_IF_EMPTY = """
if redis.call('LLEN', KEYS[2]) == 0 then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
"""
ORDER_TTL_S = 60 * 60 * 24 * 7
DEFERRED = "deferred"
WAITING = "waiting"


@dataclass(frozen=True)
class Attempt:
    event: ComplaintEvent
    delivery: Delivery
    attempt: int = 1
    past_quiet_hours: bool = False

    def to_json(self) -> str:
        return json.dumps(
            {
                "event": self.event.model_dump(mode="json"),
                "medium": self.delivery.medium,
                # The name before "medium"; still written so that a worker of the previous version can read an entry
                # during a rolling upgrade. Deprecated: to be dropped once no such worker runs.
                "channel": self.delivery.medium,
                "address": self.delivery.address,
                "attempt": self.attempt,
                "past_quiet_hours": self.past_quiet_hours,
            },
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str) -> Attempt:
        data = json.loads(text)
        return cls(
            ComplaintEvent.model_validate(data["event"]),
            Delivery(data.get("medium") or data["channel"], data["address"]),  # entries written before "medium"
            int(data["attempt"]),
            bool(data.get("past_quiet_hours")),
        )


class Dispatcher:
    def __init__(self, runtime: Runtime, outbox: Outbox, media: MediaTable) -> None:
        self.runtime = runtime
        self.settings = runtime.settings
        self.outbox = outbox
        self.media = media
        self.owner = uuid.uuid4().hex[:12]
        self.scheduled = Keys.notify_scheduled(self.settings.topic_prefix)
        redis = runtime.redis
        self._lease_if_due = redis.register_script(_LEASE_IF_DUE)
        self._enqueue_if_waiting = redis.register_script(_ENQUEUE_IF_WAITING)
        self._release_if_empty = redis.register_script(_RELEASE_IF_EMPTY)

    def _order_keys(self, attempt: Attempt) -> tuple[str, str]:
        """(marker that a message of this complaint and medium waits in the schedule, the queue behind it)"""
        return Keys.notify_order(self.scheduled, attempt.event.complaint_id, attempt.delivery.medium)

    async def deliver(self, attempt: Attempt, now: datetime | None = None, *, in_order: bool = False) -> str:
        """Send once, or schedule a later attempt. Returns sent, duplicate, deferred, retrying, failed,
        ``queued`` (behind an earlier message of the complaint that waits in the schedule), or ``CLAIM_HELD``
        when another worker is sending it (the same attempt is then scheduled after the lease).

        ``in_order`` says the caller is the schedule runner, whose turn it is for this complaint and medium."""
        now = now or datetime.now(UTC)
        event, delivery = attempt.event, attempt.delivery
        redis = self.runtime.redis
        key = Keys.notification(event.event_id, delivery.medium)
        if not in_order and await self._queued_behind_earlier(attempt):
            NOTIFICATIONS.labels(delivery.medium, "queued").inc()
            return "queued"
        medium = self.media.get(delivery.medium)
        waits_for_morning = medium is not None and medium.quiet_hours
        if waits_for_morning and not attempt.past_quiet_hours and not is_urgent(event):
            resume = send_after(
                now, self.settings.quiet_hours, (event.customer and event.customer.timezone) or self.settings.timezone
            )
            if resume is not None and not await redis.exists(key):
                await self.schedule(
                    Attempt(event, delivery, attempt.attempt, past_quiet_hours=True), resume, reason=DEFERRED
                )
                NOTIFICATIONS.labels(delivery.medium, "deferred").inc()
                await self._record(
                    event, EventKind.notification_deferred, delivery, {"send_after": resume.isoformat()}, now
                )
                return "deferred"
        claimed = await redis.set(key, f"pending:{self.owner}", nx=True, ex=self.settings.notify_claim_lease_s)
        if not claimed:
            state = await redis.get(key) or ""
            if state in ("sent", "failed"):
                NOTIFICATIONS.labels(delivery.medium, "duplicate").inc()
                return "duplicate"
            # Someone else holds a live claim (a rebalance overlap, or a worker that died mid-send):
            # look again after the lease instead of blocking the partition.
            await self.schedule(attempt, now + timedelta(seconds=self.settings.notify_claim_lease_s))
            return CLAIM_HELD
        try:
            message_id = await self._send(event, delivery)
        except Exception as exc:
            await redis.delete(key)
            return await self._failed(attempt, exc, now)
        confirmations = [_through_outage(lambda: redis.set(key, "sent", ex=SENT_TTL_S))]
        if message_id:  # lets replies thread; no order to keep with the mark, so both share one round trip
            link = self.runtime.store.link_message_id
            confirmations.append(_through_outage(lambda: link(message_id, event.complaint_id)))
        await asyncio.gather(*confirmations)
        NOTIFICATIONS.labels(delivery.medium, "sent").inc()
        await self._record(event, EventKind.notification_sent, delivery, {"message_id": message_id or ""}, now)
        return "sent"

    async def _send(self, event: ComplaintEvent, delivery: Delivery) -> str | None:
        medium = self.media.get(delivery.medium)
        if medium is None:  # e.g. a scheduled entry of a medium this deployment no longer has
            raise ValueError(f"unknown delivery medium {delivery.medium!r}")
        return await medium.send(event, delivery.address)

    async def _failed(self, attempt: Attempt, exc: Exception, now: datetime) -> str:
        kind = classify_failure(exc)
        medium = attempt.delivery.medium
        if kind == "transient" and attempt.attempt < self.settings.notify_max_attempts:
            delay = backoff_delay(
                attempt.attempt, base=self.settings.notify_retry_base_s, cap=self.settings.notify_retry_cap_s
            )
            await self.schedule(
                Attempt(attempt.event, attempt.delivery, attempt.attempt + 1, True), now + timedelta(seconds=delay)
            )
            NOTIFICATIONS.labels(medium, "retrying").inc()
            log.warning(
                "notification failed; will retry",
                extra={
                    "complaint_id": attempt.event.complaint_id,
                    "medium": medium,
                    "attempt": attempt.attempt,
                    "error_type": type(exc).__name__,
                    "retry_in_s": round(delay, 2),
                },
            )
            return "retrying"
        event = attempt.event
        reason = f"{kind} {medium} delivery failure after {attempt.attempt} attempt(s): {type(exc).__name__}"
        letter = DeadLetter(
            dead_letter_id=stable_id("dlq", event.event_id, medium),
            stage=f"notifier.{medium}",
            reason=reason,
            error_type=type(exc).__name__,
            original_base64=_b64(attempt.to_json()),
            attempts=attempt.attempt,
            complaint_id=event.complaint_id,
            failed_at=now,
            source_topic=self.runtime.topics.events,
        )
        # The dead letter is accepted by the broker before the notification is marked failed: a redelivered event
        # that finds "failed" is skipped, so the letter must not be one that died in the producer's buffer.
        await self.outbox.send_and_wait(
            self.runtime.topics.deadletter, event.complaint_id, letter.model_dump_json().encode()
        )
        await self.runtime.redis.set(Keys.notification(event.event_id, medium), "failed", ex=SENT_TTL_S)
        await self.runtime.store.update(event.complaint_id, last_notification_failure=f"{medium}:{type(exc).__name__}")
        await self._record(
            event,
            EventKind.notification_failed,
            attempt.delivery,
            {"error_type": type(exc).__name__, "failure": kind},
            now,
        )
        DEAD_LETTERS.labels(f"notifier.{medium}", type(exc).__name__).inc()
        NOTIFICATIONS.labels(medium, "failed").inc()
        log.warning(
            "notification failed for good",
            extra={
                "complaint_id": event.complaint_id,
                "medium": medium,
                "failure": kind,
                "error_type": type(exc).__name__,
            },
        )
        return "failed"

    async def _record(
        self, event: ComplaintEvent, kind: EventKind, delivery: Delivery, details: dict[str, str], now: datetime
    ) -> None:
        """Record the outcome on the deliveries topic (the ledger report reads it; no worker does, so the notifier
        and the router do not read two records of outcomes for every event they act on)."""
        record = ComplaintEvent(
            event_id=event_id_for(event.complaint_id, kind.value, f"{event.event_id}:{delivery.medium}"),
            kind=kind,
            complaint_id=event.complaint_id,
            complaint_number=event.complaint_number,
            occurred_at=now,
            channel=event.channel,
            language=event.language,
            department=event.department,
            details={
                "for_event": event.kind.value,
                "for_event_id": event.event_id,
                "medium": delivery.medium,
                "delivery": delivery.medium,  # deprecated name of "medium", kept until schema_version 2
                **details,
            },
        )
        await self.outbox.send(self.runtime.topics.deliveries, event.complaint_id, record.model_dump_json().encode())

    async def _queued_behind_earlier(self, attempt: Attempt) -> bool:
        marker, queue = self._order_keys(attempt)
        waiting = await self.runtime.redis.get(marker)
        if waiting is None:
            return False  # nearly always: nothing of this complaint waits (the script below would say the same)
        if waiting == DEFERRED and is_urgent(attempt.event):
            return False  # an urgent message does not wait for the morning with a deferred one
        return bool(await self._enqueue_if_waiting(keys=[marker, queue], args=[attempt.to_json(), ORDER_TTL_S]))

    async def schedule(self, attempt: Attempt, when: datetime, reason: str = WAITING) -> None:
        """Put an attempt in the schedule; until it is done, later messages of its complaint queue behind it."""
        marker, _ = self._order_keys(attempt)
        pipe = self.runtime.redis.pipeline(transaction=True)
        pipe.set(marker, reason, ex=ORDER_TTL_S)
        pipe.zadd(self.scheduled, {attempt.to_json(): when.timestamp()})
        await pipe.execute()

    async def _send_queued(self, done: Attempt, now: datetime) -> None:
        """The complaint's waiting message is done: send what queued behind it, in event order, until one of
        them has to wait in the schedule itself (it then holds the queue) or the queue is empty."""
        marker, queue = self._order_keys(done)
        redis = self.runtime.redis
        while True:
            head = await redis.lindex(queue, 0)
            if head is None:
                if await self._release_if_empty(keys=[marker, queue]):
                    return
                continue  # something queued in the meantime
            try:
                outcome = await self.deliver(Attempt.from_json(head), now, in_order=True)
            except (ValueError, KeyError) as exc:
                log.error("unreadable queued notification dropped", extra={"error_type": type(exc).__name__})
                outcome = "dropped"
            # Removed only after its attempt: a worker dying here leaves it at the head, where the next
            # runner finds it already sent.
            await redis.lrem(queue, 1, head)
            if outcome in ("retrying", "deferred", CLAIM_HELD):
                return

    async def run_due(self, now: datetime | None = None, limit: int = 200) -> int:
        """Send what the schedule says is due. Each entry is leased (atomically, so one worker runs it) and
        removed only once its attempt is over: sent, failed for good, or rescheduled as a new entry."""
        now = now or datetime.now(UTC)
        redis = self.runtime.redis
        due = await redis.zrangebyscore(self.scheduled, "-inf", now.timestamp(), start=0, num=limit)
        lease_until = now.timestamp() + self.settings.notify_claim_lease_s
        done = 0
        for entry in due:
            if not await self._lease_if_due(keys=[self.scheduled], args=[entry, now.timestamp(), lease_until]):
                continue
            try:
                attempt = Attempt.from_json(entry)
            except (ValueError, KeyError) as exc:
                await redis.zrem(self.scheduled, entry)
                log.error("unreadable scheduled notification dropped", extra={"error_type": type(exc).__name__})
                continue
            outcome = await self.deliver(attempt, now, in_order=True)
            if outcome == CLAIM_HELD:  # re-added this very entry
                continue
            if outcome not in ("retrying", "deferred"):
                await self._send_queued(attempt, now)
            # Removed last: a worker dying before this leaves the entry to come due again after its lease.
            await redis.zrem(self.scheduled, entry)
            done += 1
        return done


async def _through_outage(step: Callable[[], Awaitable[object]]) -> None:
    """A Redis write after the message went out. A Redis outage here must not fail the handler: its retry
    would find the claim still pending and send the message a second time once the lease ran out."""
    errors = dependency_errors()
    delay = 0.2
    while True:
        try:
            await step()
        except errors as exc:
            HEALTH.report("notifier.confirm", ok=False, detail=f"dependency unavailable: {type(exc).__name__}")
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
            continue
        if delay > 0.2:
            HEALTH.report("notifier.confirm", ok=True)
        return


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()
