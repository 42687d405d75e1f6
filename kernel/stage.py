"""A worker's stages: each takes what its consumer fetched and handles it as one batch.

A stage's agent reads records as fast as they come and queues them; its handling loop takes everything queued
(up to ``COMPLAINTFLOW_STAGE_BATCH_MAX``) as one batch, with what comes within ``COMPLAINTFLOW_STAGE_BATCH_WAIT_MS``
of the first record: under light load a batch is the one record that arrived, at a steady load a few, under a
backlog whatever arrived while the previous batch was handled. The
handlers of a batch run together, in step (the records of one key one after another, in offset order), so the
Redis calls they make in one turn of the loop go out as one round trip and the router classifies the batch's
complaints in one matrix product (``kernel.batching``).

A batch is acknowledged, in offset order per partition, once every record its handlers sent was accepted by
the broker; only then can faust commit past it. A batch whose records the broker refused is handled again
(handlers are idempotent on stable ids).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import Counter, defaultdict, deque
from collections.abc import Awaitable, Callable, Sequence

import faust
from faust.types import AgentT, EventT
from prometheus_client import Counter as MetricCounter

from domain.pii import redact
from kernel.deadletters import dead_letter_record_key, fitted_dead_letter
from kernel.health import HEALTH
from kernel.metrics import (
    AGENT_CRASHES,
    BATCH_SIZE,
    DEAD_LETTER_PUBLISH_FAILURES,
    DEAD_LETTERS,
    MESSAGES,
    PROCESSING_SECONDS,
    STAGE_WAITING_SECONDS,
)
from kernel.settings import Settings
from kernel.streams import (
    InboundMessage,
    Outbox,
    PermanentError,
    dead_letter_for,
    deliveries_collected,
    dependency_errors,
    inbound,
)
from kernel.topics import Topics
from schemas import DeadLetter

log = logging.getLogger(__name__)

Handler = Callable[[InboundMessage], Awaitable[str]]

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

    def count(self, outcome: str, messages: int = 1) -> None:
        if not self._counts:
            self._since = time.monotonic()
            asyncio.get_running_loop().call_later(self.interval, self.flush)
        self._counts[outcome] += messages

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
    """Runs a stage's handler on a batch of messages, one handler per message, with the project's failure policy.

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
        self._sizes = BATCH_SIZE.labels(stage)
        self._handled: dict[tuple[str, str], MetricCounter] = {}  # (topic, outcome) → its bound counter

    async def run(self, message: InboundMessage) -> str:
        """Handles one message (a batch of one)."""
        (outcome,) = await self.run_batch([message])
        return outcome

    async def run_batch(self, messages: Sequence[InboundMessage]) -> list[str]:
        """Handles the messages together, those of one key one after another; returns each one's outcome."""
        started = time.perf_counter()
        if len(messages) == 1:
            outcomes = [await self._run_one(messages[0])]
        else:
            outcomes = [""] * len(messages)
            for indexes in key_rounds(messages):
                results = await asyncio.gather(*(self._run_one(messages[i]) for i in indexes))
                for index, outcome in zip(indexes, results, strict=True):
                    outcomes[index] = outcome
        self._seconds.observe(time.perf_counter() - started)
        self._sizes.observe(len(messages))
        for (topic, outcome), handled in Counter(zip((m.topic for m in messages), outcomes, strict=True)).items():
            self.count(topic, outcome, handled)
        return outcomes

    async def _run_one(self, message: InboundMessage) -> str:
        attempts = 0
        outage_started: float | None = None
        while True:
            attempts += 1
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
            return outcome

    def count(self, topic: str, outcome: str, messages: int = 1) -> None:
        """Messages of ``topic`` handled with ``outcome``: the metric and the periodic summary line."""
        counter = self._handled.get((topic, outcome))
        if counter is None:
            counter = self._handled[(topic, outcome)] = MESSAGES.labels(self.stage, topic, outcome)
        counter.inc(messages)
        self.summary.count(outcome, messages)

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


def key_rounds(messages: Sequence[InboundMessage]) -> list[list[int]]:
    """The indexes of ``messages`` in rounds in which no key appears twice, each key's messages in offset order:
    a round's messages can be handled at once, the rounds one after another. Records without a key belong to
    no complaint (Kafka orders them by nothing but their offsets) and go in the first round."""
    rounds: list[list[int]] = []
    seen: dict[bytes, int] = {}
    for index, message in enumerate(messages):
        key = message.key
        turn = 0 if key is None else seen.get(key, -1) + 1
        if key is not None:
            seen[key] = turn
        if turn == len(rounds):
            rounds.append([])
        rounds[turn].append(index)
    return rounds


class PartitionAcks:
    """Acknowledges events strictly in offset order per partition, however the batches finish.

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


_Taken = tuple[InboundMessage, list[object]]  # a message and its acknowledgement slot


class BatchQueue:
    """The records an agent has read and its handling loop has not taken yet: at most one batch's worth."""

    def __init__(self, batch_max: int, company_s: float = 0.0) -> None:
        self.batch_max = batch_max
        self.company_s = company_s
        self._items: list[_Taken] = []
        self._ready = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()

    async def put(self, item: _Taken) -> None:
        self._items.append(item)
        self._ready.set()
        if len(self._items) >= self.batch_max:
            self._room.clear()
            await self._room.wait()

    async def take(self) -> list[_Taken]:
        """Everything queued (up to a batch) once there is anything, and what came ``company_s`` later when that
        was less than a batch."""
        await self._ready.wait()
        if self.company_s and len(self._items) < self.batch_max:
            await asyncio.sleep(self.company_s)
        batch, self._items = self._items[: self.batch_max], self._items[self.batch_max :]
        if not self._items:
            self._ready.clear()
        self._room.set()
        return batch


SETTLING_BATCHES = 4  # batches whose sends may still be on their way to the broker while the next one is handled


class BatchLoop:
    """Takes batches from the queue, hands them to the runner, and acknowledges each once its sends are accepted."""

    def __init__(self, runner: StageRunner, queue: BatchQueue, acks: PartitionAcks) -> None:
        self.runner = runner
        self.queue = queue
        self.acks = acks
        self._settling: deque[asyncio.Task[None]] = deque()
        self._waiting = STAGE_WAITING_SECONDS.labels(runner.stage)

    async def run(self) -> None:
        try:
            while True:
                started = time.perf_counter()
                batch = await self.queue.take()
                self._waiting.inc(time.perf_counter() - started)
                deliveries = await self._handle(batch)
                self._settling.append(asyncio.ensure_future(self._acknowledge(batch, deliveries)))
                while self._settling and self._settling[0].done():
                    self._settling.popleft().result()
                if len(self._settling) > SETTLING_BATCHES:
                    await self._settling.popleft()
        finally:
            for settling in self._settling:  # not acknowledged: read again after a restart or a rebalance
                settling.cancel()

    async def _handle(self, batch: list[_Taken]) -> list[asyncio.Future[object]]:
        with deliveries_collected() as deliveries:
            await self.runner.run_batch([message for message, _ in batch])
        return deliveries

    async def _acknowledge(self, batch: list[_Taken], deliveries: list[asyncio.Future[object]]) -> None:
        """Acknowledges the batch once the broker accepted every record it sent; a batch with a refused record is
        handled again (and so sent again) until the broker takes all of it."""
        component, tries = f"{self.runner.stage}.sends", 0
        while deliveries:
            results = await asyncio.gather(*deliveries, return_exceptions=True)
            refused = [r for r in results if isinstance(r, BaseException)]
            if not refused:
                break
            tries += 1
            HEALTH.report(component, ok=False, detail=f"the broker refused records ({type(refused[0]).__name__})")
            log.error(
                "records not accepted; handling the batch again",
                extra={"stage": self.runner.stage, "refused": len(refused), "attempt": tries},
            )
            await asyncio.sleep(min(30.0, 0.2 * 2**tries))
            deliveries = await self._handle(batch)
        if tries:
            HEALTH.report(component, ok=True)
        for _, slot in batch:
            await self.acks.done(slot)


def _report_stopped(stage: str, handling: asyncio.Task[None]) -> None:
    """The handling loop ends only when cancelled; any other end is a bug, reported at once (the agent raises it
    when its next record comes)."""
    if handling.cancelled() or handling.exception() is None:
        return
    HEALTH.report(f"{stage}.agent", ok=False, detail=f"batch loop failed ({type(handling.exception()).__name__})")
    log.error("batch loop failed", exc_info=handling.exception(), extra={"stage": stage})


def add_stage(
    app: faust.App,
    topic_name: str,
    runner: StageRunner,
    settings: Settings,
    not_for_me: Callable[[bytes], bool] | None = None,
) -> None:
    """Subscribe ``runner`` to ``topic_name`` as a faust agent named after its stage, handling batches of up to
    ``COMPLAINTFLOW_STAGE_BATCH_MAX`` records.

    Each record is acknowledged only after its batch was handled and everything the batch sent was accepted, so
    its offset is committed only once it and every earlier record of its partition are done: a crash or a stop
    means those records are read again, never skipped. A record whose value ``not_for_me`` recognises at a
    glance is acknowledged (in order) without a handler and counted as ``ignored``.
    """
    source = app.topic(topic_name, key_serializer="raw", value_serializer="raw")

    async def agent(stream: faust.StreamT) -> None:
        manual = stream.noack()
        acks = PartitionAcks(manual.ack)
        queue = BatchQueue(settings.stage_batch_max, settings.stage_batch_wait_ms / 1000)
        handling = asyncio.ensure_future(BatchLoop(runner, queue, acks).run())
        handling.add_done_callback(lambda done: _report_stopped(runner.stage, done))
        try:
            async for event in manual.events():
                if handling.done():
                    handling.result()  # its failure crashes the agent (StageRunner lets none through but bugs)
                message = inbound(event)
                slot = acks.track(event)
                if not_for_me is not None and not_for_me(message.value):
                    runner.count(topic_name, "ignored")
                    await acks.done(slot)
                    continue
                await queue.put((message, slot))
        finally:
            handling.cancel()
            await asyncio.wait([handling])

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
    stage_agent = app.agent(source, name=runner.stage)(agent)
    framework_hook = stage_agent._on_error  # faust's App.agent sets it and takes no other
    stage_agent._on_error = crashed
