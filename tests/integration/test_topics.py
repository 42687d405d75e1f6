"""Topic creation against the real embedded broker."""

from __future__ import annotations

from kafka.admin import KafkaAdminClient

from kernel.kafka import create_all_topics, ensure_topics
from kernel.settings import Settings
from kernel.topics import Topics, registry


def test_every_design_topic_is_created_with_its_partitions(embedded) -> None:
    settings = Settings(
        COMPLAINTFLOW_TOPIC_PREFIX="topics-test.", KAFKA_BOOTSTRAP_SERVERS=embedded.kafka_bootstrap_servers
    )
    created = create_all_topics(settings)
    expected = Topics("topics-test.").all(6)
    assert set(created) == set(expected)
    assert len(expected) == len(registry()) >= 4 + 5 + 11 + 1
    admin = KafkaAdminClient(bootstrap_servers=embedded.kafka_bootstrap_servers)
    try:
        described = {d["name"]: len(d["partitions"]) for d in admin.describe_topics(list(expected))}
    finally:
        admin.close()
    assert described == expected
    # A second run is harmless: nothing new is created.
    assert ensure_topics(embedded.kafka_bootstrap_servers, expected) == []
