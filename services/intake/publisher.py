"""kafka-python publisher for channel adapters that prefer Kafka to the HTTP/SMTP entry points.

    publisher = ComplaintPublisher("kafka:9092")
    publisher.publish_webform({...form fields...}, message_id="form-123")
    publisher.publish_email(raw_rfc5322_bytes)
    publisher.publish_payload("hotline", {...transcript...})  # any JSON channel, keyed by its message-id rule
    publisher.flush()

Each message is keyed by the channel's own message id, so a resend maps to the same complaint.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from kafka import KafkaProducer
from pydantic import ValidationError

from kernel.kafka import producer
from kernel.topics import Topics
from schemas import RawEnvelope
from services.intake.channels import CHANNELS
from services.intake.envelopes import email_envelope, encode, json_envelope
from services.intake.forms import describe_validation_error


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

    def publish_payload(
        self,
        channel: str,
        payload: dict[str, Any],
        message_id: str | None = None,
        received_at: datetime | None = None,
    ) -> Any:
        """A JSON channel's payload (``services.intake.channels``), keyed by ``message_id`` or, without one, by the
        channel's message-id rule applied to the payload (checked with the channel's model: a ValueError names the
        fields at fault)."""
        spec = CHANNELS.get(channel)
        if spec is None or spec.payload_model is None:
            raise ValueError(f"{channel!r} is not a registered channel with a JSON payload")
        if message_id is None:
            if spec.message_id is None:
                raise ValueError(f"the {channel} channel needs an explicit message_id")
            try:
                message_id = spec.message_id(spec.payload_model.model_validate(payload), None)
            except ValidationError as error:
                raise ValueError(f"{channel} payload rejected: {describe_validation_error(error)}") from None
        return self.publish(json_envelope(spec.channel, message_id, payload, self.source, received_at))

    def publish_webform(self, form: dict[str, Any], message_id: str, received_at: datetime | None = None) -> Any:
        return self.publish_payload("webform", form, message_id, received_at)

    def publish_hotline(self, transcript: dict[str, Any], received_at: datetime | None = None) -> Any:
        return self.publish_payload("hotline", transcript, received_at=received_at)

    def publish_social(self, post: dict[str, Any], received_at: datetime | None = None) -> Any:
        return self.publish_payload("social", post, received_at=received_at)

    def flush(self, timeout: float | None = 30) -> None:
        self._producer.flush(timeout)

    def close(self) -> None:
        self._producer.close()
