"""``ChannelIntake``: what one raw channel message becomes, table-driven, on the session's real Redis.

Each case feeds the messages a customer (or a mail server, or an adapter) sent before, then the one under test,
through the real handler wrapped in the stage's failure policy (``StageRunner``), and checks its outcome and what
it sent (read back from the session's broker, under this module's topic prefix): a normalised complaint, a
follow-up or feedback event on an existing complaint, an auto-reply put on the record, a duplicate counted, or a
dead letter. A database of its own (8).
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from kernel.embedded import EmbeddedStack
from kernel.runtime import Runtime
from kernel.settings import Settings
from kernel.stage import StageRunner
from kernel.streams import InboundMessage
from schemas import Channel, Complaint, ComplaintEvent, DeadLetter
from services.intake import samples
from services.intake.worker import ChannelIntake
from tests.conftest import on_own_redis_database
from tests.kafka_support import BrokerOutbox

DATABASE = 8


def complaints(outbox: BrokerOutbox) -> list[Complaint]:
    return [Complaint.model_validate_json(v) for v in outbox.on(outbox.topics.normalized)]


def event_kinds(outbox: BrokerOutbox) -> list[str]:
    return [ComplaintEvent.model_validate_json(v).kind.value for v in outbox.on(outbox.topics.events)]


def dead_letters(outbox: BrokerOutbox) -> list[DeadLetter]:
    return [DeadLetter.model_validate_json(v) for v in outbox.on(outbox.topics.deadletter)]


@dataclass
class Intake:
    """The intake of every channel on one Redis, fed like the stream feeds it: one offset after another."""

    runtime: Runtime
    outbox: BrokerOutbox
    offset: int = 100

    async def feed(self, channel: Channel, value: bytes, offset: int | None = None) -> str:
        if offset is None:
            self.offset += 1
            offset = self.offset
        runner = StageRunner(
            f"intake.{channel.value}",
            ChannelIntake(self.runtime, self.outbox, channel),
            self.outbox,  # type: ignore[arg-type]
            self.outbox.topics,
        )
        return await runner.run(InboundMessage(self.outbox.topics.raw(channel), 0, offset, None, value))


def _sms(text: str, sender: str = "+8613698765432") -> bytes:
    message_id = f"sms-{uuid.uuid4().hex[:12]}"
    payload = {"from": sender, "text": text, "message_id": message_id, "received_at": "2026-11-23T09:00:00+08:00"}
    return samples.envelope(Channel.sms, message_id, payload=payload)


def _webform(**changes: Any) -> bytes:
    payload = {**samples.webform_payload_en(), **changes}
    return samples.envelope(Channel.webform, payload["submission_id"], payload=payload)


def _reply_from(sender: str, number: str) -> bytes:
    """A mail naming a complaint number in its subject, from ``sender``."""
    raw = (
        f"From: {sender}\r\nTo: complaints@bank.example\r\nSubject: Re: your complaint [{number}]\r\n"
        "Date: Mon, 23 Nov 2026 09:00:00 +0800\r\nMessage-ID: <reply.42@example.co.uk>\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\nAny news on the refund? It has been a week.\r\n"
    ).encode()
    return samples.email_envelope(raw)


async def _number_of(intake: Intake, complaint_id: str) -> str:
    return (await intake.runtime.store.get(complaint_id))["number"]


# --- the cases: what came before, the message under test, what it becomes ---------------------------------------
async def nothing(intake: Intake) -> tuple[Channel, bytes]:
    return Channel.webform, samples.webform_envelope_zh()


async def email_complaint_then_reply(intake: Intake) -> tuple[Channel, bytes]:
    assert await intake.feed(Channel.email, samples.email_envelope(samples.gbk_email())) == "complaint"
    return Channel.email, samples.email_envelope(samples.reply_to_ack_email())  # names the first mail's Message-ID


async def webform_complaint_then_score(intake: Intake) -> tuple[Channel, bytes]:
    assert await intake.feed(Channel.webform, _webform(email="emily.carter@example.org")) == "complaint"
    [first] = complaints(intake.outbox)
    number = await _number_of(intake, first.complaint_id)
    return Channel.email, samples.email_envelope(samples.satisfaction_reply_email("5分", number))


async def hotline_complaint_then_sms(intake: Intake) -> tuple[Channel, bytes]:
    """An SMS from the number of an open complaint threads to it."""
    assert await intake.feed(Channel.hotline, samples.hotline_envelope_zh()) == "complaint"
    return Channel.sms, _sms("柜台的事情到现在还没有人联系我，请尽快处理。")


async def stranger_names_a_complaint(intake: Intake) -> tuple[Channel, bytes]:
    """A mail naming someone else's complaint is a complaint of its own, flagged: never attached."""
    assert await intake.feed(Channel.webform, _webform()) == "complaint"
    [first] = complaints(intake.outbox)
    return Channel.email, _reply_from("Mallory <mallory@example.net>", await _number_of(intake, first.complaint_id))


async def out_of_office_on_our_mail(intake: Intake) -> tuple[Channel, bytes]:
    assert await intake.feed(Channel.email, samples.email_envelope(samples.gbk_email())) == "complaint"
    [first] = complaints(intake.outbox)
    await intake.runtime.store.link_message_id(samples.ACK_MESSAGE_ID, first.complaint_id)  # our acknowledgement
    return Channel.email, samples.email_envelope(samples.out_of_office_email())


async def bounce(intake: Intake) -> tuple[Channel, bytes]:
    return Channel.email, samples.email_envelope(samples.bounce_email())


async def same_form_sent_twice(intake: Intake) -> tuple[Channel, bytes]:
    """An adapter sends the same submission again: a second copy at another offset."""
    assert await intake.feed(Channel.webform, samples.webform_envelope_zh()) == "complaint"
    return Channel.webform, samples.webform_envelope_zh()


async def same_reply_sent_twice(intake: Intake) -> tuple[Channel, bytes]:
    await email_complaint_then_reply(intake)
    reply = samples.email_envelope(samples.reply_to_ack_email())
    assert await intake.feed(Channel.email, reply) == "follow_up"
    return Channel.email, reply


async def not_json(intake: Intake) -> tuple[Channel, bytes]:
    return Channel.webform, b'{"channel": "webform", "payload": '


async def on_the_wrong_topic(intake: Intake) -> tuple[Channel, bytes]:
    return Channel.hotline, samples.webform_envelope_zh()  # a web form on the hotline's raw topic


async def form_without_description(intake: Intake) -> tuple[Channel, bytes]:
    return Channel.webform, _webform(description="", submission_id="wf-2026-11-22-000999")


@dataclass(frozen=True)
class Case:
    before: Callable[[Intake], Any]
    outcome: str
    complaints: int = 0  # normalised complaints published by the message under test
    events: tuple[str, ...] = ()  # events published by the message under test
    dead_letters: int = 0
    flags: tuple[str, ...] = ()  # flags of the complaint it published


CASES = [
    Case(nothing, "complaint", complaints=1),
    Case(email_complaint_then_reply, "follow_up", events=("follow_up_received",)),
    Case(webform_complaint_then_score, "feedback", events=("feedback_received",)),
    Case(hotline_complaint_then_sms, "follow_up", events=("follow_up_received",)),
    Case(stranger_names_a_complaint, "complaint", complaints=1, flags=("unverified_sender",)),
    Case(out_of_office_on_our_mail, "auto_reply", events=("auto_reply_recorded",)),
    Case(bounce, "auto_reply"),  # answers nothing of ours it can name: nothing recorded, nothing answered
    Case(same_form_sent_twice, "duplicate"),
    Case(same_reply_sent_twice, "duplicate"),
    Case(not_json, "dead_letter", dead_letters=1),
    Case(on_the_wrong_topic, "dead_letter", dead_letters=1),
    Case(form_without_description, "dead_letter", dead_letters=1),
]


def _intake(client: Any, outbox: BrokerOutbox) -> Intake:
    runtime = Runtime(Settings(), "", "", "", 0, outbox.topics, _redis=client)
    return Intake(runtime, outbox)


@pytest.mark.parametrize("case", CASES, ids=[f"{c.outcome}-{c.before.__name__}" for c in CASES])
def test_channel_intake_outcomes(embedded: EmbeddedStack, broker_outbox: BrokerOutbox, case: Case) -> None:
    async def scenario(client: Any) -> None:
        intake = _intake(client, broker_outbox)
        channel, value = await case.before(intake)
        new = intake.outbox.since_now()
        outcome = await intake.feed(channel, value)
        assert outcome == case.outcome
        assert len(complaints(new)) == case.complaints
        assert tuple(event_kinds(new)) == case.events
        assert len(dead_letters(new)) == case.dead_letters
        for letter in dead_letters(new):
            assert letter.stage == f"intake.{channel.value}" and letter.reason, "a dead letter says why"
            assert (letter.source_topic, letter.offset) == (new.topics.raw(channel), intake.offset)
            assert base64.b64decode(letter.original_base64) == value, "nothing lost: the letter keeps the message"
        for complaint in complaints(new):
            assert tuple(f for f in complaint.flags if f in case.flags) == case.flags
            stored = await intake.runtime.store.get(complaint.complaint_id)
            assert stored["number"] == complaint.complaint_number

    on_own_redis_database(embedded, DATABASE, scenario)


def test_channel_intake_publishes_a_redelivered_record_again(
    embedded: EmbeddedStack, broker_outbox: BrokerOutbox
) -> None:
    """The same raw record seen again (a crash before its offset was committed) is published again under the same
    id and number, so a first publication lost with the crash is not lost for good; it counts as a duplicate."""

    async def scenario(client: Any) -> None:
        intake = _intake(client, broker_outbox)
        value = samples.webform_envelope_zh()
        assert await intake.feed(Channel.webform, value, offset=7) == "complaint"
        assert await intake.feed(Channel.webform, value, offset=7) == "duplicate"
        first, again = complaints(intake.outbox)
        assert (again.complaint_id, again.complaint_number) == (first.complaint_id, first.complaint_number)

    on_own_redis_database(embedded, DATABASE, scenario)


def test_channel_intake_related_complaints_across_channels(
    embedded: EmbeddedStack, broker_outbox: BrokerOutbox
) -> None:
    """The same customer complaining by two channels within a day: the second names the first."""

    async def scenario(client: Any) -> None:
        intake = _intake(client, broker_outbox)
        form = _webform(phone="+86 136 9876 5432")
        assert await intake.feed(Channel.webform, form) == "complaint"
        assert await intake.feed(Channel.hotline, samples.hotline_envelope_zh()) == "complaint"
        # Each complaint is on its own id's partition: read back, they are told apart by channel, not by order.
        by_channel = {complaint.channel: complaint for complaint in complaints(intake.outbox)}
        first, second = by_channel[Channel.webform], by_channel[Channel.hotline]
        assert first.complaint_id in second.related_to and first.related_to == []

    on_own_redis_database(embedded, DATABASE, scenario)
