"""Calls that concurrent handlers make in the same event-loop turn, carried out as one batch.

A stage handles a batch of messages at once (``kernel.stage``). Their handlers move in step: one Redis reply
wakes them all, and each issues its next command in the same turn of the loop. Collecting
those calls and making them together turns a batch's round trips into one (``AutoPipelineRedis``) and its model
evaluations into one matrix product (``TurnBatcher`` around ``Classifier.classify_many``), while every
handler keeps reading as plain sequential code.

A call waits at most until the end of the loop turn it was made in, or, where the batcher allows only so many
batches in flight (the Redis client: one), until a batch in flight completes; nothing is delayed by a timer.
Waiting for the round trip in flight costs a caller at most that round trip, and makes the batches grow with
the load: the commands that arrive while one pipeline is on the wire all leave in the next.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, TypeVar

import redis.asyncio as aioredis
from redis.asyncio.client import Pipeline
from redis.exceptions import ResponseError

from kernel.metrics import BATCH_SIZE

Item = TypeVar("Item")
Result = TypeVar("Result")


class TurnBatcher(Generic[Item, Result]):
    """``await batcher(item)`` → the item's result from one ``run(items)`` over everything asked in this turn.

    ``run`` returns one result per item, in order; a result that is an exception is raised in its own caller
    only. If ``run`` itself raises, every caller of that batch gets the exception. With ``max_in_flight`` set,
    a new batch starts only while fewer than that many are running; calls made meanwhile join the next one.
    """

    def __init__(
        self,
        run: Callable[[list[Item]], Awaitable[Sequence[Result | BaseException]]],
        max_in_flight: int | None = None,
        name: str | None = None,
    ) -> None:
        if max_in_flight is not None and max_in_flight < 1:
            raise ValueError("max_in_flight must be at least 1")
        self._run = run
        self._max_in_flight = max_in_flight
        self._waiting: list[tuple[Item, asyncio.Future[Result]]] = []
        self._running: set[asyncio.Task[None]] = set()
        self._flush_scheduled = False
        self._sizes = BATCH_SIZE.labels(name) if name else None
        self.batches = 0
        self.items = 0

    async def __call__(self, item: Item) -> Result:
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, future))
        self._schedule_flush()
        return await future

    def _schedule_flush(self) -> None:
        if self._flush_scheduled or not self._waiting:
            return
        if self._max_in_flight is not None and len(self._running) >= self._max_in_flight:
            return  # the batch that completes next schedules it
        self._flush_scheduled = True
        # call_soon runs after every callback already ready in this turn: the handlers woken together have all
        # asked by then.
        asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        batch, self._waiting = self._waiting, []
        if batch:
            task = asyncio.ensure_future(self._complete(batch))
            self._running.add(task)
            task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        self._schedule_flush()

    async def _complete(self, batch: list[tuple[Item, asyncio.Future[Result]]]) -> None:
        self.batches += 1
        self.items += len(batch)
        if self._sizes is not None:
            self._sizes.observe(len(batch))
        try:
            results = await self._run([item for item, _ in batch])
        except BaseException as exc:  # handed to every caller of the batch, who decides what it means
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            if isinstance(exc, asyncio.CancelledError | KeyboardInterrupt | SystemExit):
                raise
            return
        for (_, future), result in zip(batch, results, strict=True):
            if future.done():  # its caller was cancelled meanwhile
                continue
            if isinstance(result, BaseException):
                future.set_exception(result)
            else:
                future.set_result(result)


_Command = tuple[tuple[Any, ...], dict[str, Any]]


# The commands of one caller, in order: a single command or the stack of one non-transactional pipeline.
_CommandGroup = list[_Command]


class AutoPipelineRedis(aioredis.Redis):
    """A Redis client whose commands, and non-transactional pipelines, issued in one loop turn share one pipeline.

    Each caller still sees its own replies and its own errors: a command's ``ResponseError`` reaches only the
    caller who sent it; a connection error reaches every caller of that round trip, as it would have reached
    each of them alone. Transactions (``pipeline(transaction=True)``) and ``WATCH`` keep their own connection.
    A caller's commands stay in order because a caller waits for one reply before sending the next command.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # One round trip on the wire at a time: commands issued meanwhile leave together in the next one.
        self._batcher: TurnBatcher[_CommandGroup, list[Any]] = TurnBatcher(
            self._send_groups, max_in_flight=1, name="redis"
        )

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        (reply,) = await self._batcher([(args, options)])
        if isinstance(reply, ResponseError):
            raise reply
        return reply

    def pipeline(self, transaction: bool = True, shard_hint: str | None = None) -> Pipeline:
        if transaction:
            return super().pipeline(transaction, shard_hint)
        return _SharedPipeline(self, self.connection_pool, self.response_callbacks, False, shard_hint)

    async def submit(self, commands: list[_Command]) -> list[Any]:
        return await self._batcher(commands)

    async def _send_groups(self, groups: list[_CommandGroup]) -> list[list[Any]]:
        pipe = super().pipeline(transaction=False)
        pipe.command_stack = [command for group in groups for command in group]
        replies = await pipe.execute(raise_on_error=False)
        answers, start = [], 0
        for group in groups:
            answers.append(replies[start : start + len(group)])
            start += len(group)
        return answers

    @property
    def batching(self) -> TurnBatcher[_CommandGroup, list[Any]]:
        return self._batcher


class _SharedPipeline(Pipeline):
    """A non-transactional pipeline whose ``execute`` joins the client's next shared round trip."""

    def __init__(self, owner: AutoPipelineRedis, *args: Any) -> None:
        super().__init__(*args)
        self._owner = owner

    def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        return self.pipeline_execute_command(*args, **kwargs)

    async def watch(self, *names: Any) -> bool:
        raise TypeError("WATCH needs a connection of its own: use pipeline(transaction=True)")

    async def execute(self, raise_on_error: bool = True) -> list[Any]:
        stack, self.command_stack = self.command_stack, []
        if not stack:
            return []
        replies = await self._owner.submit(stack)
        if raise_on_error:
            self.raise_first_error(stack, replies)
        return replies
