"""kafka-python helpers: topic creation, producers and consumers for CLI, adapters and department clients.

The stream workers use faust (aiokafka); everything outside them uses kafka-python, the library an outside
team would pick.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable

from kafka import KafkaConsumer, KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import KafkaConnectionError, KafkaError, NodeNotReadyError, TopicAlreadyExistsError

from kernel import offsetgaps
from kernel.settings import Settings, get_settings
from kernel.topics import Topics

log = logging.getLogger(__name__)


def security_options(settings: Settings | None = None) -> dict[str, object]:
    """The Kafka client options of the configured principal (kafka-python and aiokafka take the same names)."""
    settings = settings or get_settings()
    if not settings.kafka_sasl:
        return {}
    return {
        "security_protocol": settings.kafka_security_protocol,
        "sasl_mechanism": settings.kafka_sasl_mechanism,
        "sasl_plain_username": settings.kafka_sasl_username,
        "sasl_plain_password": settings.kafka_sasl_password,
    }


def admin_client(bootstrap: str, timeout_s: float = 30.0) -> KafkaAdminClient:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return KafkaAdminClient(
                bootstrap_servers=bootstrap,
                client_id="complaintflow-admin",
                request_timeout_ms=10000,
                **security_options(),
            )
        except (KafkaConnectionError, NodeNotReadyError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def ensure_topics(
    bootstrap: str, topics: dict[str, int], replication: int = 1, max_record_bytes: int | None = None
) -> list[str]:
    """Create the topics that do not exist yet with their partition counts (and, if given, the largest record they
    take: ``max.message.bytes``); return the ones created."""
    admin = admin_client(bootstrap)
    configs = {"max.message.bytes": str(max_record_bytes)} if max_record_bytes else None
    try:
        existing = set(admin.list_topics())
        missing = [
            NewTopic(name, partitions, replication, topic_configs=configs)
            for name, partitions in topics.items()
            if name not in existing
        ]
        created = []
        for topic in missing:  # one by one: a concurrent creator must not fail the whole batch
            try:
                admin.create_topics([topic])
                created.append(topic.name)
            except TopicAlreadyExistsError:
                pass
        wrong = _partition_mismatches(admin, topics)
        if wrong:
            log.warning("topics with unexpected partition counts", extra={"topics": wrong})
        return created
    finally:
        admin.close()


def _partition_mismatches(admin: KafkaAdminClient, topics: dict[str, int]) -> dict[str, int]:
    try:
        described = admin.describe_topics(list(topics))
    except KafkaError:
        return {}
    counts = {d.get("name") or d.get("topic"): len(d.get("partitions") or []) for d in described}
    return {name: count for name, count in counts.items() if name in topics and count != topics[name]}


def create_all_topics(settings: Settings, bootstrap: str | None = None) -> list[str]:
    server = bootstrap or settings.kafka_bootstrap_servers
    if not server:
        raise ValueError("no Kafka bootstrap servers configured")
    return ensure_topics(
        server,
        Topics(settings.topic_prefix).all(settings.topic_partitions),
        settings.topic_replication,
        settings.kafka_max_record_bytes,
    )


def producer(bootstrap: str, **overrides: object) -> KafkaProducer:
    options: dict[str, object] = {
        "bootstrap_servers": bootstrap,
        "acks": "all",
        "linger_ms": 5,
        "retries": 10,
        "client_id": "complaintflow-client",
        **security_options(),
    }
    options.update(overrides)
    return KafkaProducer(**options)


def consumer(
    bootstrap: str,
    topics: Iterable[str],
    group_id: str | None,
    settings: Settings,
    from_beginning: bool = True,
    **overrides: object,
) -> KafkaConsumer:
    options: dict[str, object] = {
        "bootstrap_servers": bootstrap,
        "group_id": group_id,
        "auto_offset_reset": "earliest" if from_beginning else "latest",
        "enable_auto_commit": False,
        "session_timeout_ms": int(settings.session_timeout_s * 1000),
        "heartbeat_interval_ms": int(settings.heartbeat_interval_s * 1000),
        "client_id": "complaintflow-client",
        **security_options(settings),
    }
    options.update(overrides)
    offsetgaps.install(settings.offset_gap_patience_s)
    return KafkaConsumer(*topics, **options)


class KafkaSender:
    """The workers' ``send(topic, key, value)`` contract over kafka-python, for one-shot CLI commands."""

    def __init__(self, bootstrap: str) -> None:
        self._producer = producer(bootstrap)

    async def send(self, topic: str, key: str | bytes | None, value: bytes) -> None:
        self._producer.send(topic, key=key.encode() if isinstance(key, str) else key, value=value)

    def close(self) -> None:
        self._producer.flush(30)
        self._producer.close()
