"""The workers' partitioner puts every key where Kafka's default partitioner (Java, kafka-python, aiokafka) does."""

from __future__ import annotations

import random

import pytest
from aiokafka.partitioner import DefaultPartitioner
from kafka.partitioner.default import murmur2 as kafka_python_murmur2

from kernel.streams import KeyPartitioner
from schemas import Channel, complaint_id_for

KEYS = (
    [complaint_id_for(Channel.email, f"<{n}@mail.example.cn>").encode() for n in range(2000)]
    + [
        b"CF-20261122-7K3Q9M",
        "王芳".encode(),
        b"",
        bytes(range(256)),
    ]
    + [random.Random(seed).randbytes(seed % 41) for seed in range(2000)]
)


@pytest.mark.parametrize("partitions", [1, 3, 6, 12, 64])
def test_same_partition_as_the_default_partitioners_for_every_key(partitions: int) -> None:
    every = list(range(partitions))
    ours, aiokafka_default = KeyPartitioner(remembered=256), DefaultPartitioner()
    for _ in range(2):  # the second pass is answered from the remembered hashes
        for key in KEYS:
            expected = aiokafka_default(key, every, every)
            assert ours(key, every, every) == expected
            assert every[(kafka_python_murmur2(key) & 0x7FFFFFFF) % partitions] == expected  # the adapters' client


def test_a_record_without_key_goes_to_an_available_partition() -> None:
    ours = KeyPartitioner()
    assert {ours(None, [0, 1, 2, 3], [1, 3]) for _ in range(200)} == {1, 3}
    assert {ours(None, [0, 1], []) for _ in range(200)} == {0, 1}
