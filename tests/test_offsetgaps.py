"""The offset-gap guard on real record batches, read by the clients' own record classes (aiokafka, kafka-python)."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from aiokafka.consumer import fetcher
from aiokafka.record.default_records import DefaultRecordBatchBuilder
from aiokafka.record.memory_records import MemoryRecords
from aiokafka.structs import TopicPartition
from kafka.consumer.fetcher import Fetcher as KafkaPythonFetcher
from kafka.record.memory_records import MemoryRecords as KafkaPythonMemoryRecords
from prometheus_client import REGISTRY

from kernel import offsetgaps
from kernel.offsetgaps import GapGuardedRecords, GapTracker
from kernel.settings import Settings
from kernel.streams import make_app

TP = TopicPartition("complaints.events", 3)


def batch(base_offset: int, count: int) -> bytes:
    """A record batch as the broker stores it: the producer writes offsets from 0, the broker sets the base."""
    builder = DefaultRecordBatchBuilder(
        magic=2,
        compression_type=0,
        is_transactional=0,
        producer_id=-1,
        producer_epoch=-1,
        base_sequence=-1,
        batch_size=1 << 20,
    )
    for delta in range(count):
        value = f'{{"event_id": "evt_{base_offset + delta}", "kind": "acknowledged"}}'.encode()
        builder.append(delta, timestamp=1_763_800_000_000 + delta, key=b"cmp_7Q2K", value=value, headers=[])
    data = builder.build()
    data[0:8] = struct.pack(">q", base_offset)
    return bytes(data)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _library_class(records_class: type) -> type:
    while "gap_tracker" in vars(records_class):
        records_class = records_class.__base__
    return records_class


def read(fetch_offset: int, *batches: bytes, tracker: GapTracker) -> tuple[list[int], int]:
    """Offsets delivered from one fetch response, and where the next fetch starts."""
    records = GapGuardedRecords(TP, MemoryRecords(b"".join(batches)), fetch_offset, tracker)
    partition_records = _library_class(fetcher.PartitionRecords)  # aiokafka's own, even if a test installed the guard
    partition = partition_records(TP, records, [], fetch_offset, None, None, True, fetcher.READ_UNCOMMITTED)
    return [record.offset for record in partition], partition.next_fetch_offset


def gaps(outcome: str) -> float:
    return REGISTRY.get_sample_value("complaintflow_offset_gaps_total", {"outcome": outcome}) or 0.0


def test_contiguous_batches_pass_whole() -> None:
    tracker = GapTracker(0.5, Clock())
    assert read(10, batch(10, 3), batch(13, 2), tracker=tracker) == ([10, 11, 12, 13, 14], 15)


def test_a_fetch_that_starts_inside_a_batch_is_not_a_gap() -> None:
    tracker = GapTracker(0.5, Clock())
    assert read(11, batch(10, 3), batch(13, 1), tracker=tracker) == ([11, 12, 13], 14)


def test_records_after_a_hole_are_held_and_fetched_again_once_it_fills() -> None:
    clock = Clock()
    tracker = GapTracker(0.5, clock)
    held_before = gaps("held")

    assert read(10, batch(10, 3), batch(14, 2), tracker=tracker) == ([10, 11, 12], 13)
    assert gaps("held") == held_before + 1

    clock.now += 0.01  # the slower producer's record at 13 is written now
    assert read(13, batch(13, 1), batch(14, 2), tracker=tracker) == ([13, 14, 15], 16)
    assert gaps("held") == held_before + 1


def test_a_hole_at_the_fetch_offset_delivers_nothing_yet() -> None:
    tracker = GapTracker(0.5, Clock())
    assert read(20, batch(21, 2), tracker=tracker) == ([], 20)


def test_a_hole_that_outlasts_the_patience_is_accepted() -> None:
    clock = Clock()
    tracker = GapTracker(0.5, clock)
    accepted_before = gaps("accepted")

    assert read(13, batch(14, 2), tracker=tracker) == ([], 13)
    clock.now += 0.3
    assert read(13, batch(14, 2), tracker=tracker) == ([], 13)
    clock.now += 0.3  # 0.6 s after the hole was first seen
    assert read(13, batch(14, 2), tracker=tracker) == ([14, 15], 16)
    assert gaps("accepted") == accepted_before + 1


def test_a_new_hole_gets_its_own_patience() -> None:
    clock = Clock()
    tracker = GapTracker(0.5, clock)
    assert read(13, batch(14, 2), tracker=tracker) == ([], 13)
    clock.now += 0.4
    assert read(13, batch(13, 1), batch(14, 2), batch(20, 1), tracker=tracker) == ([13, 14, 15], 16)
    clock.now += 0.4  # 0.8 s after the first hole, 0.4 s after the second
    assert read(16, batch(20, 1), tracker=tracker) == ([], 16)


@pytest.fixture
def unguarded(monkeypatch: pytest.MonkeyPatch) -> None:
    """Both clients' own record classes during the test, whatever earlier tests installed in this process; what
    was there is put back afterwards."""
    monkeypatch.setattr(fetcher, "PartitionRecords", _library_class(fetcher.PartitionRecords))
    monkeypatch.setattr(KafkaPythonFetcher, "PartitionRecords", _library_class(KafkaPythonFetcher.PartitionRecords))


@pytest.mark.usefixtures("unguarded")
def test_install_guards_both_clients_once() -> None:
    originals = (fetcher.PartitionRecords, KafkaPythonFetcher.PartitionRecords)
    offsetgaps.install(0.5)
    guarded = (fetcher.PartitionRecords, KafkaPythonFetcher.PartitionRecords)
    offsetgaps.install(0.2)
    assert (fetcher.PartitionRecords, KafkaPythonFetcher.PartitionRecords) == guarded
    for original, records_class in zip(originals, guarded, strict=True):
        assert issubclass(records_class, original) and records_class.gap_tracker.patience_s == 0.2

    data = batch(10, 2) + batch(13, 1)
    aiokafka_records = guarded[0](TP, MemoryRecords(data), [], 10, None, None, True, fetcher.READ_UNCOMMITTED)
    assert [record.offset for record in aiokafka_records] == [10, 11]
    assert aiokafka_records.next_fetch_offset == 12

    kafka_python_records = guarded[1](10, TP, KafkaPythonMemoryRecords(data))
    assert [record.offset for record in kafka_python_records.take()] == [10, 11]
    assert kafka_python_records.next_fetch_offset == 12


@pytest.mark.usefixtures("unguarded")
def test_install_with_no_patience_leaves_the_clients_alone() -> None:
    originals = (fetcher.PartitionRecords, KafkaPythonFetcher.PartitionRecords)
    offsetgaps.install(0)
    assert (fetcher.PartitionRecords, KafkaPythonFetcher.PartitionRecords) == originals


@pytest.mark.parametrize(
    ("bootstrap", "patience_ms", "guarded"),
    [("", None, True), ("kafka:9092", None, False), ("kafka:9092", 300, True), ("", 0, False)],
)
@pytest.mark.usefixtures("unguarded")
def test_workers_guard_on_the_embedded_broker_and_when_asked(
    tmp_path: Path, bootstrap: str, patience_ms: int | None, guarded: bool
) -> None:
    original = fetcher.PartitionRecords
    patience = {} if patience_ms is None else {"COMPLAINTFLOW_KAFKA_OFFSET_GAP_PATIENCE_MS": patience_ms}
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        KAFKA_BOOTSTRAP_SERVERS=bootstrap or None,
        COMPLAINTFLOW_VAR_DIR=tmp_path,
        **patience,
    )
    make_app("router", settings, bootstrap or "127.0.0.1:9092")
    assert (fetcher.PartitionRecords is not original) is guarded
    if guarded:
        assert fetcher.PartitionRecords.gap_tracker.patience_s == (patience_ms or 500) / 1000
