"""SMTP entry point: accepts mail for the complaint addresses and publishes the raw bytes to Kafka."""

from __future__ import annotations

import logging

from aiosmtpd.smtp import SMTP, Envelope, Session

from kernel.metrics import SMTP_INTAKE
from kernel.ratelimit import SenderRateLimit
from kernel.runtime import Runtime
from kernel.streams import Outbox
from schemas import Channel
from services.intake.envelopes import email_envelope, encode

log = logging.getLogger(__name__)


class IntakeMailHandler:
    def __init__(self, runtime: Runtime, outbox: Outbox, rate_limit: int | None = None, window_s: float = 60.0) -> None:
        self.runtime = runtime
        self.outbox = outbox
        self.addresses = runtime.settings.complaint_address_set
        self.limiter = SenderRateLimit(rate_limit or runtime.settings.smtp_rate_limit_per_min, window_s)

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        if "*" not in self.addresses and address.lower() not in self.addresses:
            SMTP_INTAKE.labels("unknown_recipient").inc()
            return "550 5.1.1 No such complaint mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        peer = str(session.peer[0]) if isinstance(session.peer, tuple) else str(session.peer)
        if not self.limiter.allow(peer):
            SMTP_INTAKE.labels("rate_limited").inc()
            return "451 4.7.1 Too many messages from your address; try again later"
        raw = envelope.original_content or envelope.content or b""
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        mail_from = envelope.mail_from if isinstance(envelope.mail_from, str) else None
        record = email_envelope(raw, "smtp", mail_from, list(envelope.rcpt_tos))
        try:
            await self.outbox.send_and_wait(self.runtime.topics.raw(Channel.email), record.message_id, encode(record))
        except Exception as exc:
            SMTP_INTAKE.labels("kafka_unavailable").inc()
            log.warning("could not publish mail; sender will retry", extra={"error_type": type(exc).__name__})
            return "451 4.3.0 Temporary failure, please retry"
        SMTP_INTAKE.labels("accepted").inc()
        return "250 Message accepted"
