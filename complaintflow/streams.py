"""faust plumbing shared by the workers: the app factory, raw-bytes topics, and the handling policy.

Every handler sees raw bytes and does its own (single) pydantic parse, so nothing is serialised twice.
Delivery is at-least-once: offsets are committed after the handler returns, and every handler is
idempotent on stable ids.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import faust
from faust.types import EventT, TopicT

from complaintflow.health import HEALTH
from complaintflow.metrics import DEAD_LETTERS, MESSAGES, PROCESSING_SECONDS
from complaintflow.settings import Settings
from complaintflow.topics import Topics
from schemas import DeadLetter, stable_id

log = logging.getLogger(__name__)


class PermanentError(Exception):
    """The message itself is wrong: retrying cannot help, it goes straight to the dead-letter topic."""

    def __init__(self, reason: str, error_type: str = "invalid") -> None:
        super().__init__(reason)
        self.reason = reason
        self.error_type = error_type


def dependency_errors() -> tuple[type[BaseException], ...]:
    import aiokafka.errors
    import redis.exceptions

    return (
        redis.exceptions.ConnectionError,
        redis.exceptions.TimeoutError,
        redis.exceptions.BusyLoadingError,
        aiokafka.errors.KafkaConnectionError,
        aiokafka.errors.KafkaTimeoutError,
        ConnectionError,
    )


@dataclass(frozen=True)
class InboundMessage:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    timestamp: float | None = None

    @property
    def key_text(self) -> str | None:
        return self.key.decode("utf-8", "replace") if self.key is not None else None


Handler = Callable[[InboundMessage], Awaitable[str]]


def make_app(role: str, settings: Settings, bootstrap: str) -> faust.App:
    """One faust app per service role; its id is the consumer group, so a role scales by adding workers."""
    datadir = settings.var_dir / "faust" / role
    datadir.mkdir(parents=True, exist_ok=True)
    return faust.App(
        f"{settings.group_prefix}-{role}",
        broker=[f"kafka://{server.strip()}" for server in bootstrap.split(",")],
        web_enabled=False,
        datadir=str(datadir),
        topic_partitions=settings.topic_partitions,
        topic_allow_declare=False,
        topic_disable_leader=True,
        broker_session_timeout=settings.session_timeout_s,
        broker_heartbeat_interval=settings.heartbeat_interval_s,
        broker_commit_interval=settings.commit_interval_s,
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        producer_linger=0.002,
        stream_wait_empty=False,
        key_serializer="raw",
        value_serializer="raw",
    )


class Outbox:
    """Sends raw bytes to named topics through the app's producer (buffered, not awaited one by one)."""

    def __init__(self, app: faust.App) -> None:
        self.app = app
        self._topics: dict[str, TopicT] = {}

    def topic(self, name: str) -> TopicT:
        if name not in self._topics:
            self._topics[name] = self.app.topic(name, key_serializer="raw", value_serializer="raw")
        return self._topics[name]

    async def send(self, topic: str, key: str | bytes | None, value: bytes) -> None:
        raw_key = key.encode("utf-8") if isinstance(key, str) else key
        await self.topic(topic).send(key=raw_key, value=value)

    async def send_and_wait(self, topic: str, key: str | bytes | None, value: bytes) -> None:
        raw_key = key.encode("utf-8") if isinstance(key, str) else key
        await self.app.maybe_start_producer()
        await self.app.producer.send_and_wait(topic, raw_key, value, partition=None, timestamp=None, headers=None)


def dead_letter_for(
    message: InboundMessage,
    stage: str,
    reason: str,
    error_type: str,
    attempts: int = 1,
    complaint_id: str | None = None,
) -> DeadLetter:
    return DeadLetter(
        dead_letter_id=stable_id("dlq", message.topic, str(message.partition), str(message.offset), stage),
        stage=stage,
        reason=reason,
        error_type=error_type,
        source_topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        key_base64=base64.b64encode(message.key).decode() if message.key is not None else None,
        original_base64=base64.b64encode(message.value).decode(),
        attempts=attempts,
        complaint_id=complaint_id,
        failed_at=datetime.now(UTC),
    )


class StageRunner:
    """Runs one handler per message with the project's failure policy.

    - The message is wrong (``PermanentError``) → dead letter at once.
    - A dependency is down (Redis, Kafka connection) → hold the partition, retry with backoff, report
      unhealthy; nothing is routed without the state it needs, and nothing is dead-lettered for an outage.
    - Anything else → retry a bounded number of times, then dead letter, so one poison message cannot
      block its partition.
    """

    def __init__(self, stage: str, handler: Handler, outbox: Outbox, topics: Topics, max_attempts: int = 3) -> None:
        self.stage = stage
        self.handler = handler
        self.outbox = outbox
        self.topics = topics
        self.max_attempts = max_attempts
        self._dependency_errors = dependency_errors()

    async def run(self, message: InboundMessage) -> str:
        attempts = 0
        outage_started: float | None = None
        while True:
            attempts += 1
            started = time.perf_counter()
            try:
                outcome = await self.handler(message)
            except PermanentError as exc:
                outcome = await self._dead_letter(message, exc.reason, exc.error_type, attempts)
            except self._dependency_errors as exc:
                outage_started = outage_started or time.monotonic()
                HEALTH.report(self.stage, ok=False, detail=f"dependency unavailable: {type(exc).__name__}")
                delay = min(30.0, 0.2 * 2 ** min(attempts, 8)) * (0.5 + random.random() / 2)
                log.warning(
                    "dependency unavailable; holding partition",
                    extra={
                        "stage": self.stage,
                        "topic": message.topic,
                        "partition": message.partition,
                        "error_type": type(exc).__name__,
                        "retry_in_s": round(delay, 2),
                    },
                )
                attempts -= 1  # outages do not count towards the poison-message limit
                await asyncio.sleep(delay)
                continue
            except Exception as exc:
                if attempts < self.max_attempts:
                    log.warning(
                        "handler failed; retrying",
                        exc_info=True,
                        extra={
                            "stage": self.stage,
                            "topic": message.topic,
                            "offset": message.offset,
                            "attempt": attempts,
                        },
                    )
                    await asyncio.sleep(0.05 * 2**attempts)
                    continue
                outcome = await self._dead_letter(
                    message,
                    f"handler failed {attempts} times: {type(exc).__name__}: {_short(exc)}",
                    type(exc).__name__,
                    attempts,
                )
            if outage_started is not None:
                HEALTH.report(self.stage, ok=True)
            PROCESSING_SECONDS.labels(self.stage).observe(time.perf_counter() - started)
            MESSAGES.labels(self.stage, message.topic, outcome).inc()
            return outcome

    async def _dead_letter(self, message: InboundMessage, reason: str, error_type: str, attempts: int) -> str:
        letter = dead_letter_for(message, self.stage, reason, error_type, attempts)
        await self.outbox.send(self.topics.deadletter, message.key, letter.model_dump_json().encode())
        DEAD_LETTERS.labels(self.stage, error_type).inc()
        log.warning(
            "dead letter",
            extra={
                "stage": self.stage,
                "topic": message.topic,
                "partition": message.partition,
                "offset": message.offset,
                "error_type": error_type,
            },
        )
        return "dead_letter"


def _short(exc: BaseException, limit: int = 300) -> str:
    """A readable one-line error for a dead-letter reason, with personal numbers and addresses masked."""
    from services.intake.pii import redact  # the one masking function; imported late to keep start-up light

    text = redact(str(exc).replace("\n", " "))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def guarded(name: str, job: Callable[[], Awaitable[object]]) -> Callable[[], Awaitable[None]]:
    """Wrap a periodic job so an outage makes it skip a beat (and report unhealthy) instead of killing the worker."""
    errors = dependency_errors()

    async def run() -> None:
        try:
            await job()
        except errors as exc:
            HEALTH.report(name, ok=False, detail=f"dependency unavailable: {type(exc).__name__}")
            return
        except Exception:
            log.exception("periodic job failed", extra={"job": name})
            return
        HEALTH.report(name, ok=True)

    run.__name__ = run.__qualname__ = name
    return run


def inbound(event: EventT) -> InboundMessage:
    message = event.message
    value = event.value if isinstance(event.value, bytes | bytearray) else bytes(event.value or b"")
    key = event.key if isinstance(event.key, bytes | bytearray | type(None)) else str(event.key).encode()
    return InboundMessage(message.topic, message.partition, message.offset, key, bytes(value), message.timestamp)


def add_stage(app: faust.App, topic_name: str, runner: StageRunner, concurrency: int = 1) -> None:
    """Subscribe ``runner`` to ``topic_name`` as a faust agent named after its stage."""
    source = app.topic(topic_name, key_serializer="raw", value_serializer="raw")

    async def agent(stream: faust.StreamT) -> None:
        async for event in stream.events():
            await runner.run(inbound(event))

    agent.__name__ = agent.__qualname__ = runner.stage.replace(".", "_")
    app.agent(source, name=runner.stage, concurrency=concurrency)(agent)
