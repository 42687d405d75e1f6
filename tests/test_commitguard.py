"""No commit past a record lost with a crashed agent: faust's own consumer, fed and acknowledged as an agent would.

The sequence is the one seen on ``complaints.raw.webform``: records 0-7 of a partition are handed to the intake
agent; it crashes while handling 0-2 (the dead letter of record 0 could not be published); faust starts the agent
again and it handles and acknowledges 3-7. Without the guard faust commits 8, and 0-2 are never read again.
"""

from __future__ import annotations

from weakref import WeakSet

import pytest
from faust.types import TP, Message

from kernel.commitguard import InFlight, capped_offset
from kernel.settings import Settings
from kernel.streams import make_app

TOPIC = "cg.complaints.raw.webform"


def message(offset: int, partition: int = 1) -> Message:
    return Message(TOPIC, partition, offset, 1_763_800_000.0, 0, [], b"sub-%d" % offset, b"{}", None)


@pytest.fixture
def consumer(tmp_path):
    app = make_app("intake", Settings(var_dir=tmp_path, group_prefix="cg"), "127.0.0.1:9")
    app.topics._acking_topics.add(TOPIC)  # what subscribing an agent to the topic does
    return app.consumer


def commit(consumer, tp: TP) -> int | None:
    """What faust's periodic commit does with the partition: the offset it would commit, recorded as committed."""
    offset = consumer._new_offset(tp)
    if offset is not None:
        consumer._committed_offset[tp] = offset
    return offset


def crash_and_restart(consumer) -> list[Message]:
    records = [message(offset) for offset in range(8)]
    for record in records:
        consumer.track_message(record)
    for record in records[3:]:  # the restarted agent's acknowledgements; 0-2 died with the crashed one
        consumer.ack(record)
    return records


def test_faust_alone_commits_past_records_lost_with_a_crashed_agent(consumer):
    consumer._unacked_messages = WeakSet()  # faust's own set: the guard notes nothing
    crash_and_restart(consumer)
    assert consumer._new_offset(TP(TOPIC, 1)) == 8  # records 0, 1 and 2 skipped for good


def test_the_guard_holds_the_commit_below_the_lost_records_until_they_are_acknowledged(consumer):
    tp = TP(TOPIC, 1)
    records = crash_and_restart(consumer)
    assert commit(consumer, tp) is None
    consumer.ack(records[0])
    assert commit(consumer, tp) == 1
    consumer.ack(records[2])
    assert commit(consumer, tp) is None
    consumer.ack(records[1])
    assert commit(consumer, tp) == 8


def test_the_guard_holds_after_an_earlier_commit_and_through_a_one_offset_hole(consumer):
    tp = TP(TOPIC, 1)
    consumer._committed_offset[tp] = 5
    records = [message(offset) for offset in range(5, 12)]
    for record in records:
        consumer.track_message(record)
    for record in records[1:]:  # offset 5 is lost; faust alone lets a one-offset hole at the head through
        consumer.ack(record)
    assert commit(consumer, tp) is None
    consumer.ack(records[0])
    assert commit(consumer, tp) == 12


def test_a_revoked_partition_forgets_its_records():
    ledger = InFlight()
    tp = TP(TOPIC, 0)
    ledger.delivered(tp, 4)
    ledger.delivered(tp, 5)
    ledger.acknowledged(tp, 4)
    assert ledger.lowest(tp) == 5
    ledger.forget([tp])
    assert ledger.lowest(tp) is None


def test_capped_offset():
    assert capped_offset(None, 3) is None
    assert capped_offset(9, None) == 9
    assert capped_offset(9, 12) == 9
    assert capped_offset(9, 4) == 4
