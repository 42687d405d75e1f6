"""No offset is committed past a record that was handed to a stream and never acknowledged.

faust commits, per partition, the first run of consecutive acknowledged offsets, and checks that the run starts
where the partition's committed offset is only when there is a committed offset (not before a group's first
commit, nor at offset 0) and then lets a hole of one offset through (faust-streaming issues #604, #606). When an
agent crashes, faust's supervisor starts it again: the records the crashed agent had taken (those in its handlers
and those read ahead) are gone without an acknowledgement, the new agent acknowledges the records after them, and
faust committed that run, past the lost ones. A restart then started after them: they were never handled.

With the guard installed, every record a stream of an acknowledging topic takes is remembered until it is
acknowledged, and a partition's commit stops below the lowest such record. Records lost with a crashed agent
therefore hold the commit of their partition (reported unhealthy and logged, see ``streams.add_stage``), and a
restart reads them again; handlers are idempotent, so the records after them that were handled are harmless.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from typing import Any
from weakref import WeakSet

log = logging.getLogger(__name__)

_INSTALLED = "complaintflow_commit_guard"


class InFlight:
    """Offsets handed to streams and not yet acknowledged, per partition."""

    def __init__(self) -> None:
        self._offsets: dict[Any, set[int]] = defaultdict(set)

    def delivered(self, tp: Any, offset: int) -> None:
        self._offsets[tp].add(offset)

    def acknowledged(self, tp: Any, offset: int) -> None:
        offsets = self._offsets.get(tp)
        if offsets is not None:
            offsets.discard(offset)

    def forget(self, tps: Any) -> None:
        for tp in tps:
            self._offsets.pop(tp, None)

    def pending(self, tp: Any) -> set[int]:
        return self._offsets.get(tp) or set()

    def lowest(self, tp: Any) -> int | None:
        offsets = self._offsets.get(tp)
        return min(offsets) if offsets else None


def capped_offset(new_offset: int | None, lowest_in_flight: int | None) -> int | None:
    """The offset to commit: faust's choice, never beyond the lowest record still unacknowledged."""
    if new_offset is None or lowest_in_flight is None or new_offset <= lowest_in_flight:
        return new_offset
    return lowest_in_flight


class _TrackingSet(WeakSet):  # type: ignore[type-arg]
    """faust's set of messages awaiting acknowledgement (weak: a message dropped with a crashed agent leaves it),
    which also notes each message's offset in the ledger, where only an acknowledgement removes it."""

    def __init__(self, ledger: InFlight) -> None:
        super().__init__()
        self.ledger = ledger

    def add(self, message: Any) -> None:
        super().add(message)
        self.ledger.delivered(message.tp, message.offset)


def install() -> None:
    """Patch faust's consumer class (once per process): note delivered records, cap commits below unacked ones.

    A record is noted where faust adds it to the consumer's unacknowledged messages: a stream does that (inlined,
    for acknowledging topics only) when it takes the record from its channel, ``Consumer.track_message`` too.
    """
    from faust.transport.consumer import Consumer

    if getattr(Consumer, _INSTALLED, False):
        return
    init, ack, new_offset = Consumer.__init__, Consumer.ack, Consumer._new_offset
    revoked = Consumer.on_partitions_revoked

    def in_flight(self: Any) -> InFlight:
        # A consumer whose set was replaced by a plain one (faust's own behaviour, in a test) has an empty ledger.
        return getattr(self._unacked_messages, "ledger", None) or InFlight()

    def guarded_init(self: Any, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        self._unacked_messages = _TrackingSet(InFlight())

    def guarded_ack(self: Any, message: Any) -> bool:
        result = ack(self, message)
        if message.acked:
            in_flight(self).acknowledged(message.tp, message.offset)
        return result

    def guarded_new_offset(self: Any, tp: Any) -> int | None:
        lowest = in_flight(self).lowest(tp)
        if lowest is None:
            return new_offset(self, tp)
        # faust takes the run it returns out of its lists of acknowledged offsets and holes; the part at or past the
        # lowest unacknowledged record goes back in (as acknowledged), to be committed once that record is.
        offset = new_offset(self, tp)
        capped = capped_offset(offset, lowest)
        if offset is not None and capped is not None and capped != offset:
            pending = in_flight(self).pending(tp)
            returned = [o for o in range(capped, offset) if o not in pending]
            self._acked[tp][:0] = returned
            self._acked_index[tp].update(returned)
            log.warning(
                "commit held below an unacknowledged record",
                extra={"partition": str(tp), "held_at": capped, "acknowledged_up_to": offset},
            )
        committed = self._committed_offset[tp]
        if not capped or (committed is not None and capped <= committed):
            return None
        return capped

    async def guarded_revoked(self: Any, revoked_tps: Any) -> None:
        in_flight(self).forget(revoked_tps)  # whoever gets them next reads them from the committed offset
        await revoked(self, revoked_tps)

    Consumer.__init__ = guarded_init  # type: ignore[method-assign]
    Consumer.ack = guarded_ack  # type: ignore[method-assign]
    Consumer._new_offset = guarded_new_offset  # type: ignore[method-assign]
    Consumer.on_partitions_revoked = guarded_revoked  # type: ignore[method-assign]
    setattr(Consumer, _INSTALLED, True)
