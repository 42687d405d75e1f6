"""faust plumbing shared by the workers: the app factory, the message a handler sees, and the outbox.

Every handler sees raw bytes and does its own (single) pydantic parse, so nothing is serialised twice.
Delivery is at-least-once: offsets are committed after the handler returned and what it sent was accepted
(``kernel.stage``), and every handler is idempotent on stable ids.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import logging
import random
import ssl
from collections.abc import Awaitable, Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

import faust
from faust.types import EventT, ProducerT
from pydantic import BaseModel, ValidationError

from kernel import commitguard, offsetgaps
from kernel.health import HEALTH
from kernel.settings import Settings
from schemas import DeadLetter, stable_id

log = logging.getLogger(__name__)


class PermanentError(Exception):
    """The message itself is wrong: retrying cannot help, it goes straight to the dead-letter topic."""

    def __init__(self, reason: str, error_type: str = "invalid") -> None:
        super().__init__(reason)
        self.reason = reason
        self.error_type = error_type


_Record = TypeVar("_Record", bound=BaseModel)


def parse_record(model: type[_Record], message: InboundMessage) -> _Record:
    """The message's value as ``model``; a value that does not fit is permanent (straight to the dead letters)."""
    try:
        return model.model_validate_json(message.value)
    except ValidationError as exc:
        raise PermanentError(f"not a valid {model.__name__}: {exc.error_count()} field error(s)", "schema") from None


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


# App id → the fetch wait its consumer asks the broker for (faust has no setting for it; see _patch_fetch_wait).
_FETCH_MAX_WAIT_MS: dict[str, int] = {}


def _patch_fetch_wait() -> None:
    """Let an app's aiokafka consumer use ``_FETCH_MAX_WAIT_MS`` instead of the 1500 ms faust hard-codes."""
    from faust.transport.drivers import aiokafka as driver

    create = driver.AIOKafkaConsumerThread._create_worker_consumer
    if getattr(create, "fetch_wait_patched", False):
        return

    def create_worker_consumer(self: driver.AIOKafkaConsumerThread, transport: object) -> object:
        consumer = create(self, transport)
        wait_ms = _FETCH_MAX_WAIT_MS.get(self.consumer.app.conf.id)
        if wait_ms is not None:
            consumer._fetch_max_wait_ms = wait_ms  # read by AIOKafkaConsumer.start(), which comes later
        return consumer

    create_worker_consumer.fetch_wait_patched = True  # type: ignore[attr-defined]
    driver.AIOKafkaConsumerThread._create_worker_consumer = create_worker_consumer  # type: ignore[method-assign]


class KeyPartitioner:
    """Kafka's default partitioner (murmur2 of the key, as the Java client and kafka-python compute it), with the
    hashes of recent keys remembered: aiokafka's murmur2 is pure Python, and a complaint's records, each keyed by
    its id, go out several at a time."""

    def __init__(self, remembered: int = 8192) -> None:
        from aiokafka.partitioner import murmur2

        self._hash = functools.lru_cache(maxsize=remembered)(lambda key: murmur2(key) & 0x7FFFFFFF)

    def __call__(self, key: bytes | None, all_partitions: list[int], available: list[int]) -> int:
        if key is None:
            return random.choice(available or all_partitions)
        return all_partitions[self._hash(key) % len(all_partitions)]


def make_app(role: str, settings: Settings, bootstrap: str) -> faust.App:
    """One faust app per service role; its id is the consumer group, so a role scales by adding workers."""
    datadir = settings.var_dir / "faust" / role
    datadir.mkdir(parents=True, exist_ok=True)
    if settings.fetch_max_wait_ms is not None:
        _FETCH_MAX_WAIT_MS[f"{settings.group_prefix}-{role}"] = settings.fetch_max_wait_ms
        _patch_fetch_wait()
    offsetgaps.install(settings.offset_gap_patience_s)
    credentials = (
        faust.SASLCredentials(
            username=settings.kafka_sasl_username,
            password=settings.kafka_sasl_password,
            mechanism=settings.kafka_sasl_mechanism,
            ssl_context=ssl.create_default_context() if settings.kafka_security_protocol == "SASL_SSL" else None,
        )
        if settings.kafka_sasl
        else None
    )
    commitguard.install()
    return faust.App(
        f"{settings.group_prefix}-{role}",
        broker=[f"kafka://{server.strip()}" for server in bootstrap.split(",")],
        broker_credentials=credentials,
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
        producer_linger=settings.producer_linger_ms / 1000,
        producer_max_request_size=settings.kafka_max_record_bytes,
        producer_partitioner=KeyPartitioner(),
        stream_wait_empty=False,
        stream_buffer_maxsize=settings.stream_buffer,
        consumer_max_fetch_size=settings.fetch_partition_bytes,
        key_serializer="raw",
        value_serializer="raw",
    )


# The deliveries of the sends made while a stage handles a batch (``deliveries_collected``), or None.
_BATCH_DELIVERIES: ContextVar[list[asyncio.Future[object]] | None] = ContextVar("batch_deliveries", default=None)


@contextlib.contextmanager
def deliveries_collected() -> Iterator[list[asyncio.Future[object]]]:
    """The deliveries of every ``Outbox.send`` made inside, by this task and the tasks it starts meanwhile."""
    collected: list[asyncio.Future[object]] = []
    token = _BATCH_DELIVERIES.set(collected)
    try:
        yield collected
    finally:
        _BATCH_DELIVERIES.reset(token)


def note_delivery(delivery: asyncio.Future[object]) -> None:
    """Adds a send's delivery to the batch being handled, if any (``deliveries_collected``)."""
    batch = _BATCH_DELIVERIES.get()
    if batch is not None:
        batch.append(delivery)


class Outbox:
    """Sends raw bytes to named topics through the app's producer (buffered, not awaited one by one).

    The bytes go straight to the producer: faust's topic layer (codecs, sensors, a future per message) has
    nothing to add to bytes that are already serialised, and costs about as much as the producer itself.
    A stage acknowledges a batch only once every delivery its sends started was accepted by the broker.
    """

    def __init__(self, app: faust.App) -> None:
        self.app = app
        self._producer: ProducerT | None = None

    async def _started_producer(self) -> ProducerT:
        if self._producer is None:
            self._producer = await self.app.maybe_start_producer()
        return self._producer

    async def send(self, topic: str, key: str | bytes | None, value: bytes) -> None:
        producer = self._producer or await self._started_producer()  # no extra await per message once started
        delivery = await producer.send(topic, _raw(key), value, partition=None, timestamp=None, headers=None)
        delivery.add_done_callback(_report_failed_delivery)  # type: ignore[attr-defined]
        note_delivery(delivery)  # type: ignore[arg-type]

    async def send_and_wait(self, topic: str, key: str | bytes | None, value: bytes) -> None:
        producer = await self._started_producer()
        await producer.send_and_wait(topic, _raw(key), value, partition=None, timestamp=None, headers=None)


def _raw(key: str | bytes | None) -> bytes | None:
    return key.encode("utf-8") if isinstance(key, str) else key


def _report_failed_delivery(delivery: asyncio.Future[object]) -> None:
    if not delivery.cancelled() and delivery.exception() is not None:
        log.error("the producer could not deliver a message", extra={"error_type": type(delivery.exception()).__name__})


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
