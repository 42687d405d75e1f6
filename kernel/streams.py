"""faust plumbing shared by the workers: the app factory, raw-bytes topics, and the handling policy.

Every handler sees raw bytes and does its own (single) pydantic parse, so nothing is serialised twice.
Delivery is at-least-once: offsets are committed after the handler returns, and every handler is
idempotent on stable ids.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import logging
import random
import ssl
import time
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

import faust
from faust.types import AgentT, EventT, ProducerT
from prometheus_client import Counter
from pydantic import BaseModel, ValidationError

from domain.pii import redact
from kernel import commitguard, offsetgaps
from kernel.deadletters import dead_letter_record_key, fitted_dead_letter
from kernel.health import HEALTH
from kernel.metrics import (
    AGENT_CRASHES,
    DEAD_LETTER_PUBLISH_FAILURES,
    DEAD_LETTERS,
    MESSAGES,
    PROCESSING_SECONDS,
)
from kernel.settings import Settings
from kernel.topics import Topics
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

    @property
    def key_text(self) -> str | None:
        return self.key.decode("utf-8", "replace") if self.key is not None else None


Handler = Callable[[InboundMessage], Awaitable[str]]


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


class Outbox:
    """Sends raw bytes to named topics through the app's producer (buffered, not awaited one by one).

    The bytes go straight to the producer: faust's topic layer (codecs, sensors, a future per message) has
    nothing to add to bytes that are already serialised, and costs about as much as the producer itself.
    Delivery is still covered by the commit: faust flushes the producer before it commits any offset.
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


SUMMARY_INTERVAL_S = 10.0  # how often a busy stage logs what it handled (one line, not one per message)


class OutcomeSummary:
    """Counts a stage's outcomes and logs them as one INFO line per interval, instead of a line per message.

    The first message after a quiet spell schedules the line, so a stage that handles nothing logs nothing and
    every count is logged within ``interval`` seconds of its message. Warnings and errors stay per message.
    """

    def __init__(self, stage: str, interval: float = SUMMARY_INTERVAL_S) -> None:
        self.stage = stage
        self.interval = interval
        self._counts: dict[str, int] = defaultdict(int)
        self._since = 0.0

    def count(self, outcome: str) -> None:
        if not self._counts:
            self._since = time.monotonic()
            asyncio.get_running_loop().call_later(self.interval, self.flush)
        self._counts[outcome] += 1

    def flush(self) -> None:
        if not self._counts:
            return
        counts, self._counts = dict(self._counts), defaultdict(int)
        log.info(
            "messages handled",
            extra={
                "stage": self.stage,
                "handled": sum(counts.values()),
                "outcomes": dict(sorted(counts.items())),
                "seconds": round(time.monotonic() - self._since, 1),
            },
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
        self.summary = OutcomeSummary(stage)
        self._seconds = PROCESSING_SECONDS.labels(stage)
        self._handled: dict[tuple[str, str], Counter] = {}  # (topic, outcome) → its bound counter

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
            self._seconds.observe(time.perf_counter() - started)
            self.count(message.topic, outcome)
            return outcome

    def count(self, topic: str, outcome: str) -> None:
        """One message of ``topic`` handled with ``outcome``: the metric and the periodic summary line."""
        counter = self._handled.get((topic, outcome))
        if counter is None:
            counter = self._handled[(topic, outcome)] = MESSAGES.labels(self.stage, topic, outcome)
        counter.inc()
        self.summary.count(outcome)

    async def _dead_letter(self, message: InboundMessage, reason: str, error_type: str, attempts: int) -> str:
        letter = fitted_dead_letter(
            dead_letter_for(message, self.stage, reason, error_type, attempts),
            message.value,
            self.outbox.app.conf.producer_max_request_size,
        )
        await self._publish_dead_letter(message, letter)
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

    async def _publish_dead_letter(self, message: InboundMessage, letter: DeadLetter) -> None:
        """Publish the letter and wait for the broker's answer; until it is accepted the message is not done.

        A failure is retried at once a few times; then the stage reports itself unhealthy and its partition stops
        at this message (it is never acknowledged, so nothing after it is committed), still trying now and then.
        """
        component = f"{self.stage}.dead_letters"
        value = letter.model_dump_json().encode()
        tries = 0
        while True:
            tries += 1
            try:
                await self.outbox.send_and_wait(self.topics.deadletter, dead_letter_record_key(message.key), value)
            except Exception as exc:
                DEAD_LETTER_PUBLISH_FAILURES.labels(self.stage, type(exc).__name__).inc()
                stopped = tries >= DEAD_LETTER_TRIES
                if stopped:
                    HEALTH.report(
                        component,
                        ok=False,
                        detail=f"partition {message.topic}[{message.partition}] stopped at offset {message.offset}: "
                        f"dead letter not accepted ({type(exc).__name__})",
                    )
                (log.error if stopped else log.warning)(
                    "dead letter not published; partition stopped at this message"
                    if stopped
                    else "dead letter not published; retrying",
                    extra={
                        "stage": self.stage,
                        "topic": message.topic,
                        "partition": message.partition,
                        "offset": message.offset,
                        "attempt": tries,
                        "error_type": type(exc).__name__,
                        "letter_bytes": len(value),
                    },
                )
                await asyncio.sleep(min(30.0, 0.1 * 2**tries))
                continue
            if tries > DEAD_LETTER_TRIES:
                HEALTH.report(component, ok=True)
                log.warning("dead letter published; partition resumed", extra={"stage": self.stage, "attempt": tries})
            return


DEAD_LETTER_TRIES = 5  # quick tries before a stage reports its partition stopped on an unpublishable dead letter


def _short(exc: BaseException, limit: int = 300) -> str:
    """A readable one-line error for a dead-letter reason, with personal numbers and addresses masked."""
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


class KeyedWindow:
    """Runs up to ``size`` handlers at once; handlers of the same key run one after another, in arrival order.

    Most of a handler's time is spent waiting on Redis, SMTP or the producer, so overlapping the messages of
    different complaints keeps the process busy, while two messages of one complaint never overtake each other.
    A handler that fails (which ``StageRunner`` never lets happen except on cancellation) crashes the agent on
    the next submission, as it would without the window.
    """

    def __init__(self, size: int) -> None:
        self._slots = asyncio.Semaphore(size)
        self._tails: dict[bytes | None, asyncio.Task[None]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._failure: BaseException | None = None

    async def submit(self, key: bytes | None, job: Callable[[], Awaitable[None]]) -> None:
        if self._failure is not None:
            raise self._failure
        await self._slots.acquire()
        task = asyncio.ensure_future(self._after(self._tails.get(key), job))
        self._tails[key] = task
        self._tasks.add(task)
        task.add_done_callback(lambda done: self._done(key, done))

    @staticmethod
    async def _after(previous: asyncio.Task[None] | None, job: Callable[[], Awaitable[None]]) -> None:
        if previous is not None:
            await asyncio.wait([previous])
        await job()

    def _done(self, key: bytes | None, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._slots.release()
        if self._tails.get(key) is task:
            del self._tails[key]
        if not task.cancelled() and task.exception() is not None and self._failure is None:
            self._failure = task.exception()

    async def cancel(self) -> None:
        """Stop what is still running: its messages are not acknowledged, so they are read again."""
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks))


class PartitionAcks:
    """Acknowledges events strictly in offset order per partition, however the handlers finish.

    faust commits the first run of consecutive acknowledged offsets, but before a partition's first commit it
    does not check that the run starts where the partition does; acknowledging in order closes that gap, so an
    offset is committed only when it and every earlier one of its partition have been handled.
    """

    def __init__(self, ack: Callable[[EventT], Awaitable[object]]) -> None:
        self._ack = ack
        self._pending: dict[tuple[str, int], deque[list[object]]] = defaultdict(deque)

    def track(self, event: EventT) -> list[object]:
        """Register an event as read; returns the slot to pass to ``done``."""
        message = event.message
        slot: list[object] = [event, False]
        self._pending[(message.topic, message.partition)].append(slot)
        return slot

    async def done(self, slot: list[object]) -> None:
        slot[1] = True
        event = slot[0]
        message = event.message  # type: ignore[attr-defined]
        queue = self._pending[(message.topic, message.partition)]
        while queue and queue[0][1]:
            await self._ack(queue.popleft()[0])  # type: ignore[arg-type]


HANDLER_WINDOW = 32  # messages an agent handles at once (one at a time per key)


def add_stage(
    app: faust.App,
    topic_name: str,
    runner: StageRunner,
    concurrency: int = 1,
    in_flight: int = HANDLER_WINDOW,
    not_for_me: Callable[[bytes], bool] | None = None,
) -> None:
    """Subscribe ``runner`` to ``topic_name`` as a faust agent named after its stage.

    Up to ``in_flight`` messages are handled at once (one at a time per key). Each message is acknowledged
    only after its handler returned, so its offset is committed only once it and every earlier message of
    its partition are done: a crash or a stop means those messages are read again, never skipped.
    A message whose value ``not_for_me`` recognises at a glance is acknowledged (in order) without a handler
    and counted as ``ignored``.
    """
    source = app.topic(topic_name, key_serializer="raw", value_serializer="raw")

    async def agent(stream: faust.StreamT) -> None:
        manual = stream.noack()
        window = KeyedWindow(in_flight)
        acks = PartitionAcks(manual.ack)

        async def handle(message: InboundMessage, slot: list[object]) -> None:
            await runner.run(message)
            await acks.done(slot)

        try:
            async for event in manual.events():
                message = inbound(event)
                slot = acks.track(event)
                if not_for_me is not None and not_for_me(message.value):
                    runner.count(topic_name, "ignored")
                    await acks.done(slot)
                    continue
                await window.submit(message.key, lambda m=message, s=slot: handle(m, s))
        finally:
            await window.cancel()

    async def crashed(crashed_agent: AgentT, exc: BaseException) -> None:
        # StageRunner contains every handler failure, so this is a bug or a fault of the framework. faust starts the
        # agent again, but the records the crashed one had taken are gone: commitguard holds their partitions'
        # commits, and the stage stays unhealthy so that a restart (which reads them again) is due.
        AGENT_CRASHES.labels(runner.stage, type(exc).__name__).inc()
        HEALTH.report(
            f"{runner.stage}.agent",
            ok=False,
            detail=f"agent crashed ({type(exc).__name__}); records it had taken wait for a restart",
        )
        log.error("agent crashed", exc_info=exc, extra={"stage": runner.stage, "error_type": type(exc).__name__})
        if framework_hook is not None:
            await framework_hook(crashed_agent, exc)  # faust's own: commits what was acknowledged

    agent.__name__ = agent.__qualname__ = runner.stage.replace(".", "_")
    stage_agent = app.agent(source, name=runner.stage, concurrency=concurrency)(agent)
    framework_hook = stage_agent._on_error  # faust's App.agent sets it and takes no other
    stage_agent._on_error = crashed
