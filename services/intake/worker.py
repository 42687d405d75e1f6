"""Intake role: one faust agent per channel turns raw envelopes into complaints, follow-ups, dead letters."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, datetime, timedelta

import faust

from kernel.roles import RoleParts
from kernel.runtime import Runtime
from kernel.smtpd import SmtpServer
from kernel.stage import StageRunner, add_stage
from kernel.state import record_customer_complaint
from kernel.streams import InboundMessage, Outbox, PermanentError
from schemas import Channel, Complaint, ComplaintEvent, ComplaintStatus, EventKind, SourcePointer, event_id_for
from services.intake.channels import CHANNELS
from services.intake.channels.base import AutoReply, Normalized, Rejected
from services.intake.http_api import intake_routes
from services.intake.normalize import normalize
from services.intake.sender_auth import sender_verified, verdict
from services.intake.smtp_intake import IntakeMailHandler

log = logging.getLogger(__name__)
RELATED_WINDOW = timedelta(days=1)
CLOSED_STATUSES = frozenset(
    s.value for s in (ComplaintStatus.resolved, ComplaintStatus.rejected, ComplaintStatus.closed)
)


class ChannelIntake:
    """Handles one raw message of one channel.

    Idempotent: the complaint id derives from the channel's message id.
    """

    def __init__(self, runtime: Runtime, outbox: Outbox, channel: Channel) -> None:
        self.runtime = runtime
        self.outbox = outbox
        self.channel = channel

    async def __call__(self, message: InboundMessage) -> str:
        pointer = SourcePointer(topic=message.topic, partition=message.partition, offset=message.offset)
        result = normalize(
            message.value,
            pointer,
            bank_timezone=self.runtime.settings.timezone,
            expected_channel=self.channel,
            now=datetime.now(UTC),
        )
        if isinstance(result, Rejected):
            raise PermanentError(result.reason, result.error_type)
        if isinstance(result, AutoReply):
            await self._record_auto_reply(result)
            log.debug(
                "auto-reply recorded, not answered",
                extra={"channel": self.channel.value, "reason": result.reason, "offset": message.offset},
            )
            return "auto_reply"
        return await self._complaint_or_follow_up(result, pointer)

    async def _complaint_or_follow_up(self, result: Normalized, pointer: SourcePointer) -> str:
        store = self.runtime.store
        complaint = result.complaint
        target, record = await self._thread_target(result)
        raw_ref = f"{pointer.topic}:{pointer.partition}:{pointer.offset}"
        if target is not None and target != complaint.complaint_id:
            if self._sender_proven(result, record):
                # A second copy of a reply (a gateway or adapter sending it again) is counted, not attached twice; a
                # redelivery of the same record is attached again under the same event id (the first may be lost).
                if await store.first_copy("follow_up", complaint.complaint_id, raw_ref) != raw_ref:
                    return "duplicate"
                await self._emit_follow_up(target, result)
                return "feedback" if result.satisfaction_score is not None else "follow_up"
            # Claims to follow up a complaint but cannot prove it comes from that complaint's customer: a new
            # complaint of its own, which names the claimed one; no score, no text on the other's record.
            complaint = complaint.model_copy(
                update={
                    "flags": [*complaint.flags, "unverified_sender"],
                    "unverified_link_to": record.get("number") or result.subject_complaint_number,
                }
            )
            log.warning(
                "follow-up not attached: sender not verified",
                extra={"complaint_id": complaint.complaint_id, "claimed_complaint_id": target},
            )

        local_day = complaint.received_at.astimezone(self.runtime.settings.tz).date()
        # Independent and idempotent, so they share one Redis round trip: claiming the number again for the
        # same id gives the same number, and recording a complaint in the history twice changes nothing.
        known, claimed, history = await asyncio.gather(
            store.get(complaint.complaint_id),
            store.claim_number(complaint.complaint_id, local_day),
            record_customer_complaint(
                self.runtime.redis,
                complaint.customer,
                complaint.complaint_id,
                complaint.channel.value,
                complaint.received_at.timestamp(),
                look_back_s=RELATED_WINDOW.total_seconds(),
                look_ahead_s=RELATED_WINDOW.total_seconds(),
            ),
        )
        if known.get("raw_ref") and known["raw_ref"] != raw_ref:
            # A second copy of a message already handled from another offset (an adapter sending twice, an
            # HTTP resubmission): that first copy was published, so this one is only counted.
            log.debug(
                "duplicate channel message",
                extra={"complaint_id": complaint.complaint_id, "channel": complaint.channel.value},
            )
            return "duplicate"
        number = known.get("number") or claimed
        related = sorted(
            other
            for other, (channel, at) in history.items()
            if channel != complaint.channel.value
            and abs(at - complaint.received_at.timestamp()) <= RELATED_WINDOW.total_seconds()
        )
        updates: dict[str, object] = {}
        if number != complaint.complaint_number:
            updates["complaint_number"] = number
        if related:
            updates["related_to"] = sorted(set(complaint.related_to) | set(related))
        if updates:
            complaint = complaint.model_copy(update=updates)
        is_new = await store.record_new(complaint, raw_ref)  # counts it for the live dashboard the first time
        # A redelivery of the same raw record (a crash before the offset was committed) is published again:
        # the first publication may be lost, and the router drops repeats by complaint id.
        await self.outbox.send(
            self.runtime.topics.normalized, complaint.complaint_id, complaint.model_dump_json().encode()
        )
        log.debug(
            "complaint normalised",
            extra={
                "complaint_id": complaint.complaint_id,
                "number": complaint.complaint_number,
                "channel": complaint.channel.value,
                "new": is_new,
            },
        )
        return "complaint" if is_new else "duplicate"

    async def _thread_target(self, result: Normalized) -> tuple[str | None, dict[str, str]]:
        """The existing complaint this message claims to answer, if any, and that complaint's record.

        A reply to one of our notifications names it by Message-ID (In-Reply-To, References); otherwise a
        complaint number in the subject names it; an SMS threads by its sender's number. Whether a mail may
        attach is ``_sender_proven``'s call.
        """
        store = self.runtime.store
        target = await store.id_for_message_ids(result.reply_to_message_ids)
        if target is None and result.subject_complaint_number:
            target = await store.id_for_number(result.subject_complaint_number)
        if target is None and result.thread_by_sender:
            target = await self._sender_thread(result)
        return target, (await store.get(target) if target else {})

    def _sender_proven(self, result: Normalized, record: dict[str, str]) -> bool:
        """A mail attaches to a complaint only from that complaint's customer, as far as the mail can prove it:
        the From address is the customer's and the receiving server's Authentication-Results do not fail (or,
        with ``COMPLAINTFLOW_MAIL_REQUIRE_AUTH_PASS``, pass), and the envelope sender is of the same domain.
        Other channels prove their sender on the way in (an SMS threads only to its own number's complaints)."""
        complaint = result.complaint
        if complaint.channel != Channel.email:
            return True
        sender = (complaint.customer.email or "").lower()
        if not sender or record.get("email") != sender:
            return False
        settings = self.runtime.settings
        found = verdict(
            list(result.authentication_results),
            result.sender_address,
            result.envelope_from,
            settings.mail_authserv_id,
        )
        return sender_verified(found, settings.mail_require_auth_pass)

    async def _sender_thread(self, result: Normalized) -> str | None:
        """The complaint an SMS answers: the one its text names, when the sender's number is that complaint's,
        else the sender's newest open complaint (for a bare score, their newest complaint). None for a new one.

        Idempotent: once this message made a complaint of its own, a redelivery finds it and is not threaded."""
        store = self.runtime.store
        complaint = result.complaint
        phone_last4 = (complaint.customer.phone or "")[-4:]
        if not phone_last4 or await store.get(complaint.complaint_id):
            return None
        if result.text_complaint_number:
            candidate = await store.id_for_number(result.text_complaint_number)
            if candidate and (await store.get(candidate)).get("phone_last4") == phone_last4:
                return candidate
        recent = await store.recent_complaints_of(complaint.customer)
        if result.satisfaction_score is not None and recent:
            return recent[0][0]
        return next((cid for cid, status in recent if status not in CLOSED_STATUSES), None)

    async def _record_auto_reply(self, result: AutoReply) -> None:
        """An auto-reply to one of our notifications goes on that complaint's audit trail (never answered)."""
        target = await self.runtime.store.id_for_message_ids(result.reply_to_message_ids)
        if target is None:
            return
        record = await self.runtime.store.get(target)
        kind = EventKind.auto_reply_recorded
        event = ComplaintEvent(
            event_id=event_id_for(target, kind.value, result.channel_ref),
            kind=kind,
            complaint_id=target,
            complaint_number=record.get("number", ""),
            occurred_at=datetime.now(UTC),
            channel=self.channel,
            details={
                "channel_ref": result.channel_ref,
                "reason": result.reason,
                "sender_domain": result.sender_domain or "",
            },
        )
        await self.outbox.send(self.runtime.topics.events, target, event.model_dump_json().encode())

    async def _emit_follow_up(self, target: str, result: Normalized) -> None:
        complaint: Complaint = result.complaint
        record = await self.runtime.store.get(target)
        kind = EventKind.feedback_received if result.satisfaction_score is not None else EventKind.follow_up_received
        details = {"channel_ref": complaint.channel_ref, "text": complaint.redacted_text[:2000]}
        if record.get("status") == ComplaintStatus.need_info.value:
            details["answers"] = ComplaintStatus.need_info.value  # the customer's reply to a request for information
        if record.get("status"):  # the router tells a reply to a need-info request from other follow-ups by it
            details["complaint_status"] = record["status"]
        if complaint.attachments:
            details["attachments"] = json.dumps([a.model_dump(mode="json") for a in complaint.attachments])
        if result.satisfaction_score is not None:
            details["score"] = str(result.satisfaction_score)
            await self.runtime.store.update(target, satisfaction=result.satisfaction_score)
        event = ComplaintEvent(
            event_id=event_id_for(target, kind.value, complaint.complaint_id),
            kind=kind,
            complaint_id=target,
            complaint_number=record.get("number", ""),
            occurred_at=datetime.now(UTC),
            channel=complaint.channel,
            language=complaint.language,
            details=details,
        )
        value = event.model_dump_json().encode()
        await self.outbox.send(self.runtime.topics.events, target, value)
        if kind == EventKind.follow_up_received:  # the router puts it on the department's queue
            await self.outbox.send(self.runtime.topics.followups, target, value)
        log.debug("follow-up attached", extra={"complaint_id": target, "kind": kind.value})


def install(app: faust.App, runtime: Runtime, options: dict[str, object]) -> RoleParts:
    channels = [Channel(c) for c in options.get("channels") or list(CHANNELS)]  # type: ignore[union-attr]
    outbox = Outbox(app)
    for channel in channels:
        runner = StageRunner(
            f"intake.{channel.value}",
            ChannelIntake(runtime, outbox, channel),
            outbox,
            runtime.topics,
            runtime.settings.max_handler_attempts,
        )
        add_stage(app, runtime.topics.raw(channel), runner, runtime.settings)
    parts = RoleParts()
    if options.get("http", True):
        parts.routes.append(intake_routes(runtime, outbox))
    if options.get("smtp", True) and Channel.email in channels:
        settings = runtime.settings
        parts.services.append(
            SmtpServer(
                IntakeMailHandler(runtime, outbox),
                settings.bind_host,
                settings.smtp_intake_port,
                "complaint-intake",
                data_size_limit=settings.smtp_max_message_bytes,
            )
        )
    return parts
