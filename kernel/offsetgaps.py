"""Records past a hole in a partition's offsets wait briefly for the hole to fill.

On Apache Kafka a reader sees every record of a partition in offset order, and the topics here are neither
compacted nor transactional, so a fetch never skips an offset. The embedded broker can answer a fetch with a fast
producer's record while a slower producer's record at a lower offset is not yet written; a reader at the head then
moves past that record for good. With the guard installed, a fetch response is cut at the first hole: the records
before it are delivered, and the next fetch starts at the hole. A hole that is still there after ``patience_s``
is accepted (and logged), so a legitimate gap costs one short wait, never a stall.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from kernel.metrics import OFFSET_GAPS

log = logging.getLogger(__name__)


class GapTracker:
    """Remembers, per partition, the hole being waited for and since when."""

    def __init__(self, patience_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.patience_s = patience_s
        self._clock = clock
        self._waiting: dict[Any, tuple[int, float]] = {}

    def hold(self, tp: Any, missing_from: int, next_present: int) -> bool:
        """True: hold the records from ``next_present`` on and fetch again from ``missing_from``."""
        now = self._clock()
        waiting = self._waiting.get(tp)
        if waiting is None or waiting[0] != missing_from:
            waiting = self._waiting[tp] = (missing_from, now)
            OFFSET_GAPS.labels(outcome="held").inc()
            log.info("offset gap held", extra={"partition": str(tp), "missing_from": missing_from})
        if now - waiting[1] < self.patience_s:
            return True
        self._waiting.pop(tp, None)
        OFFSET_GAPS.labels(outcome="accepted").inc()
        log.warning(
            "offset gap accepted",
            extra={"partition": str(tp), "missing_from": missing_from, "next_present": next_present},
        )
        return False

    def filled(self, tp: Any) -> None:
        self._waiting.pop(tp, None)


class GapGuardedRecords:
    """A fetch response's record batches (aiokafka's or kafka-python's ``MemoryRecords``), ending at the first hole
    that is held back. Batches of the old message formats carry no batch offsets and pass as they are."""

    def __init__(self, tp: Any, records: Any, fetch_offset: int, tracker: GapTracker) -> None:
        self._tp = tp
        self._records = records
        self._expected = fetch_offset
        self._tracker = tracker
        self._pending: Any = None
        self._cut = False

    def size_in_bytes(self) -> int:
        return int(self._records.size_in_bytes())

    def has_next(self) -> bool:
        if self._pending is None and not self._cut and self._records.has_next():
            batch = self._records.next_batch()
            base, following = getattr(batch, "base_offset", None), getattr(batch, "next_offset", None)
            if base is not None and following is not None:
                if base > self._expected and self._tracker.hold(self._tp, self._expected, base):
                    self._cut = True
                    return False
                if following > self._expected:
                    self._tracker.filled(self._tp)
                    self._expected = following
            self._pending = batch
        return self._pending is not None

    def next_batch(self) -> Any:
        if not self.has_next():
            return None
        batch, self._pending = self._pending, None
        return batch


def install(patience_s: float) -> None:
    """Guard every consumer of this process: aiokafka's (the workers' faust apps) and kafka-python's (department
    clients, the bench's observer). A patience of 0 leaves them as they are; a second call only sets the patience."""
    if patience_s <= 0:
        return
    from aiokafka.consumer import fetcher as aiokafka_fetcher
    from kafka.consumer.fetcher import Fetcher as KafkaPythonFetcher

    # Where each client's PartitionRecords takes (tp, records, fetch_offset) among its positional arguments.
    _guard_records_class(aiokafka_fetcher, patience_s, tp_at=0, records_at=1, offset_at=3)
    _guard_records_class(KafkaPythonFetcher, patience_s, tp_at=1, records_at=2, offset_at=0)


def _guard_records_class(owner: Any, patience_s: float, tp_at: int, records_at: int, offset_at: int) -> None:
    """Replace ``owner.PartitionRecords`` with a subclass that reads the fetched batches through the guard."""
    original = owner.PartitionRecords
    tracker = getattr(original, "gap_tracker", None)
    if tracker is not None:
        tracker.patience_s = patience_s
        return
    tracker = GapTracker(patience_s)

    class GapGuarded(original):  # type: ignore[misc, valid-type]
        gap_tracker = tracker

        def __init__(self, *args: Any, **kw: Any) -> None:
            args_ = list(args)
            args_[records_at] = GapGuardedRecords(args[tp_at], args[records_at], args[offset_at], tracker)
            super().__init__(*args_, **kw)

    owner.PartitionRecords = GapGuarded
