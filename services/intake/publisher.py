"""kafka-python publisher for channel adapters that prefer Kafka to the HTTP/SMTP entry points.

    publisher = ComplaintPublisher("kafka:9092")
    publisher.publish_webform({...form fields...}, message_id="form-123")
    publisher.publish_email(raw_rfc5322_bytes)
    publisher.flush()

Each message is keyed by the channel's own message id, so a resend maps to the same complaint.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from kafka import KafkaProducer

from domain.message_ids import social_message_id
from kernel.kafka import producer
from kernel.topics import Topics
from schemas import Channel, RawEnvelope
from services.intake.envelopes import email_envelope, encode, json_envelope


class ComplaintPublisher:
    def __init__(
        self,
        bootstrap: str,
        topic_prefix: str = "",
        source: str = "kafka-adapter",
        kafka_producer: KafkaProducer | None = None,
        max_record_bytes: int | None = None,
    ) -> None:
        """``max_record_bytes``: the largest record to send (``Settings.kafka_max_record_bytes`` for mail up to the
        SMTP limit); unset, the client's 1 MB."""
        self.topics = Topics(topic_prefix)
        self.source = source
        sizing = {"max_request_size": max_record_bytes} if max_record_bytes else {}
        self._producer = kafka_producer or producer(bootstrap, enable_idempotence=True, **sizing)

    def publish(self, envelope: RawEnvelope) -> Any:
        return self._producer.send(
            self.topics.raw(envelope.channel), key=envelope.message_id.encode(), value=encode(envelope)
        )

    def publish_email(self, raw: bytes, received_at: datetime | None = None) -> Any:
        return self.publish(email_envelope(raw, self.source, received_at=received_at))

    def publish_webform(self, form: dict[str, Any], message_id: str, received_at: datetime | None = None) -> Any:
        return self.publish(json_envelope(Channel.webform, message_id, form, self.source, received_at))

    def publish_hotline(self, transcript: dict[str, Any], received_at: datetime | None = None) -> Any:
        return self.publish(
            json_envelope(Channel.hotline, str(transcript["call_id"]), transcript, self.source, received_at)
        )

    def publish_social(self, post: dict[str, Any], received_at: datetime | None = None) -> Any:
        message_id = social_message_id(str(post["platform"]), str(post["post_id"]))
        return self.publish(json_envelope(Channel.social, message_id, post, self.source, received_at))

    def flush(self, timeout: float | None = 30) -> None:
        self._producer.flush(timeout)

    def close(self) -> None:
        self._producer.close()
