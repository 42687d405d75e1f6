"""A new intake channel is one module: this file adds a toy one (a kiosk in a branch that takes a written
complaint and the customer's mobile number) and registers it; nothing else in the code names it. While it is
registered it is taken by the schema, has a raw topic, an ACL and a CLI choice, is normalised from its raw
envelope into a complaint, accepted by the real HTTP app on its own door, and answered by the notifier on the
medium it asks for.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from aiohttp.test_utils import TestClient, TestServer
from click.testing import CliRunner
from pydantic import Field

from complaintflow.acls import acl_plan
from complaintflow.cli import main
from domain import pii
from kernel.embedded import EmbeddedStack
from kernel.kafka import create_all_topics
from kernel.runtime import Runtime
from kernel.settings import Settings
from kernel.topics import Topics
from kernel.web import build_web_app
from schemas import (
    Channel,
    ChannelInfo,
    ComplaintEvent,
    Customer,
    EventKind,
    channel_names,
    complaint_id_for,
    event_id_for,
)
from services.intake import samples
from services.intake.channels import CHANNELS, register, unregister
from services.intake.channels.base import (
    ChannelSpec,
    Context,
    HttpDoor,
    Normalized,
    NormalizeResult,
    Rejected,
    build_complaint,
    clean,
    validated_payload,
)
from services.intake.contacts import to_e164
from services.intake.forms import ID_PATTERN, Request
from services.intake.http_api import intake_routes
from services.intake.normalize import normalize
from services.notifier.medium import choose_media
from tests.kafka_support import KafkaOutbox, fields, wait_for_records
from tests.notifier.conftest import standard_media_table

# --- the toy channel: all of it ----------------------------------------------------------------------------------


class KioskNote(Request):
    """What the kiosk posts."""

    ticket: str = Field(pattern=ID_PATTERN)
    branch: str = Field(min_length=1, max_length=64)
    mobile: str = Field(min_length=1, max_length=40)
    text: str = Field(min_length=1, max_length=5000)


def normalize_kiosk(context: Context) -> NormalizeResult:
    note = validated_payload(context, KioskNote, "kiosk note")
    if isinstance(note, Rejected):
        return note
    text = clean(note.text)
    if not text:
        return Rejected("empty complaint text", "empty_text")
    customer = Customer(phone=to_e164(note.mobile, "CN"))
    complaint = build_complaint(context, text=text, redacted_text=pii.redact(text), customer=customer, flags=[])
    return Normalized(complaint=complaint)


KIOSK = ChannelSpec(
    info=ChannelInfo("kiosk", reply_media=("sms",)),
    normalize=normalize_kiosk,
    payload_model=KioskNote,
    message_id=lambda note, _: f"kiosk:{note.branch}:{note.ticket}",
    http=HttpDoor("/api/v1/intake/kiosk"),
)


@pytest.fixture(autouse=True, scope="module")
def kiosk_registered() -> Iterator[None]:
    """Registered for this file's tests only (a deployment registers its channel once, at import), so the other
    tests see the shipped channels alone."""
    register(KIOSK)
    yield
    unregister(KIOSK.name)


# --- it works ----------------------------------------------------------------------------------------------------

NOTE = {
    "ticket": "T-0042",
    "branch": "SH-Pudong-07",
    "mobile": "13812345678",
    "text": "柜员把我的转账金额输错了，多转了5000元，至今没有退回，请尽快处理。",
}


def test_the_channel_is_known_to_every_layer() -> None:
    assert CHANNELS["kiosk"] is KIOSK
    assert "kiosk" in channel_names()
    assert Channel("kiosk").value == "kiosk" and Channel("kiosk") == "kiosk"
    topics = Topics("toy.")
    assert topics.raw("kiosk") == "toy.complaints.raw.kiosk"
    assert "toy.complaints.raw.kiosk" in topics.all(3)
    assert any(g.principal == "adapter_kiosk" and g.name == topics.raw("kiosk") for g in acl_plan(topics, "cf"))
    help_text = CliRunner().invoke(main, ["intake", "--help"]).output
    assert "kiosk" in help_text
    # A name nobody registered is still refused, on every field typed Channel.
    with pytest.raises(ValueError):
        Channel("carrier_pigeon")


def _envelope(message_id: str = "kiosk:SH-Pudong-07:T-0042") -> bytes:
    return samples.envelope("kiosk", message_id, payload=NOTE, source="kiosk")


def test_its_raw_envelope_becomes_a_complaint() -> None:
    result = normalize(_envelope(), expected_channel=Channel("kiosk"), now=datetime.now(UTC))
    assert isinstance(result, Normalized)
    complaint = result.complaint
    assert complaint.channel == "kiosk"
    assert complaint.complaint_id == complaint_id_for("kiosk", "kiosk:SH-Pudong-07:T-0042")
    assert complaint.customer.phone == "+8613812345678"
    assert complaint.language.value == "zh"
    # The record round-trips as JSON, as it travels on complaints.normalized.
    assert json.loads(complaint.model_dump_json())["channel"] == "kiosk"
    # Bad payloads are refused with the field named, and a kiosk envelope on another channel's topic too.
    bad = samples.envelope("kiosk", "kiosk:x:1", payload={**NOTE, "mobile": None}, source="kiosk")
    rejected = normalize(bad)
    assert isinstance(rejected, Rejected) and "mobile" in rejected.reason
    wrong = normalize(_envelope(), expected_channel=Channel.webform)
    assert isinstance(wrong, Rejected) and wrong.error_type == "wrong_channel"


def test_its_customer_is_answered_on_its_default_medium() -> None:
    result = normalize(_envelope())
    assert isinstance(result, Normalized)
    complaint = result.complaint
    event = ComplaintEvent(
        event_id=event_id_for(complaint.complaint_id, "acknowledged"),
        kind=EventKind.acknowledged,
        complaint_id=complaint.complaint_id,
        complaint_number=complaint.complaint_number,
        occurred_at=datetime.now(UTC),
        channel=complaint.channel,
        customer=complaint.customer,
    )
    event = ComplaintEvent.model_validate_json(event.model_dump_json())  # as the notifier reads it
    deliveries = choose_media(event, standard_media_table())
    assert [(d.medium, d.address) for d in deliveries] == [("sms", "+8613812345678")]


def test_its_http_door_publishes_the_raw_envelope(embedded: EmbeddedStack) -> None:
    """The web app `complaintflow run` serves, with the session's broker and Redis: the kiosk's door answers with a
    complaint number and the envelope lands on the kiosk's raw topic, where the intake normalises it."""
    prefix = "toy."
    bootstrap = embedded.kafka_bootstrap_servers or ""
    settings = Settings(_env_file=None, COMPLAINTFLOW_TOPIC_PREFIX=prefix)  # type: ignore[call-arg]
    create_all_topics(settings, bootstrap)
    redis_url = (embedded.redis_url or "").rsplit("/", 1)[0] + "/10"

    async def scenario() -> tuple[int, dict[str, str], int]:
        runtime = Runtime(settings, bootstrap, redis_url, "", 0, Topics(prefix))
        await runtime.redis.flushdb()
        outbox = KafkaOutbox(bootstrap)
        app = build_web_app([intake_routes(runtime, outbox)], settings.http_max_body_bytes)  # type: ignore[arg-type]
        client = TestClient(TestServer(app))
        await client.start_server()
        try:
            answer = await client.post("/api/v1/intake/kiosk", json=NOTE)
            refused = await client.post("/api/v1/intake/kiosk", json={**NOTE, "text": ""})
            return answer.status, await answer.json(), refused.status
        finally:
            await client.close()
            await runtime.redis.aclose()
            outbox.close()

    status, body, refused = asyncio.run(scenario())
    assert status == 202, body
    assert refused == 422
    message_id = "kiosk:SH-Pudong-07:T-0042"
    assert body["complaint_id"] == complaint_id_for("kiosk", message_id)
    assert body["complaint_number"].startswith("CF-")
    records = wait_for_records(bootstrap, Topics(prefix).raw("kiosk"), lambda r: r.get("message_id") == message_id)
    raw = json.dumps(fields(records[0])).encode()
    result = normalize(raw, expected_channel=Channel("kiosk"))
    assert isinstance(result, Normalized)
    assert result.complaint.complaint_id == body["complaint_id"]
