"""Schema round-trips, stable ids, complaint numbers, and the exported JSON Schema files."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from pydantic import ValidationError

from schemas import (
    ALL_MODELS,
    Channel,
    Complaint,
    ComplaintEvent,
    Customer,
    DeadLetter,
    Deadlines,
    EventKind,
    Language,
    Money,
    RawEnvelope,
    RoutedComplaint,
    StatusUpdate,
    complaint_id_for,
    complaint_number_for,
    json_schema_files,
    normalize_complaint_number,
    peek_event_kind,
)
from schemas.export import SCHEMA_DIR

NOW = datetime(2026, 11, 22, 3, 15, tzinfo=UTC)


def sample_complaint() -> Complaint:
    cid = complaint_id_for(Channel.webform, "form-8812")
    return Complaint(
        complaint_id=cid,
        complaint_number=complaint_number_for(cid, date(2026, 11, 22)),
        channel=Channel.webform,
        channel_ref="form-8812",
        received_at=NOW,
        source_timezone="Asia/Shanghai",
        language=Language.zh,
        subject="信用卡年费",
        text="我的信用卡被重复收取年费300元，卡号6222021234567890123，请尽快退还。",
        redacted_text="我的信用卡被重复收取年费300元，卡号[CARD ****0123]，请尽快退还。",
        customer=Customer(name="王芳", phone="+8613912345678", email="wang.fang@example.cn", card_last4="0123"),
        amount=Money(amount=Decimal("300"), currency="CNY"),
    )


def sample_routed() -> RoutedComplaint:
    return RoutedComplaint(
        routing_id="rte_1",
        complaint=sample_complaint(),
        business_line="credit_cards",
        reason="fees_pricing",
        severity="medium",
        department="cards",
        confidence=0.91,
        signals=["amount>=100CNY"],
        explanations=["lexicon: 信用卡 → credit_cards", "rule: line credit_cards → cards"],
        deadlines=Deadlines(
            profile="cn",
            acknowledge_by=NOW,
            first_contact_by=NOW + timedelta(days=2),
            decision_by=NOW + timedelta(days=15),
        ),
        routed_at=NOW,
    )


@pytest.mark.parametrize(
    "record",
    [
        sample_complaint(),
        sample_routed(),
        StatusUpdate(
            update_id="u1",
            complaint_number="CF-20261122-7K3Q9M",
            status="extended",
            reason="需调取监控",
            approver="李行长",
            at=NOW,
        ),
        ComplaintEvent(
            event_id="e1",
            kind=EventKind.acknowledged,
            complaint_id="cmp_1",
            complaint_number="CF-20261122-7K3Q9M",
            occurred_at=NOW,
            deadline=NOW + timedelta(days=15),
        ),
        DeadLetter(
            dead_letter_id="d1",
            stage="intake.email",
            reason="not RFC 5322",
            error_type="invalid",
            original_base64="AAEC",
            failed_at=NOW,
        ),
        RawEnvelope(channel="webform", message_id="form-1", received_at=NOW, source="http", payload={"name": "Ann"}),
    ],
)
def test_every_record_survives_a_json_round_trip(record: object) -> None:
    model = type(record)
    text = record.model_dump_json()  # type: ignore[attr-defined]
    again = model.model_validate_json(text)  # type: ignore[attr-defined]
    assert again == record
    assert json.loads(text)["schema_version"] == 1


@pytest.mark.parametrize("kind", list(EventKind))
def test_an_events_kind_is_read_from_its_bytes_as_this_package_writes_them(kind: EventKind) -> None:
    event = ComplaintEvent(
        event_id=f"evt_{kind.value}",
        kind=kind,
        complaint_id="cmp_1",
        complaint_number="CF-20261122-7K3Q9M",
        occurred_at=NOW,
        customer=Customer(name='王"芳', email="wang@example.cn"),
        details={"kind": "acknowledged", "note": '"kind":"resolved"'},
    )
    assert peek_event_kind(event.model_dump_json().encode()) == kind.value


@pytest.mark.parametrize(
    "value",
    [
        b'{"kind":"acknowledged","schema_version":1,"event_id":"e1"}',
        b'{"schema_version": 1, "event_id": "e1", "kind": "acknowledged"}',
        b'{"schema_version":1,"event_id":"e1","complaint_id":"c","kind":"acknowledged"}',
        b'{"schema_version":1,"event_id":"e1","details":{"kind":"acknowledged"},"kind":"incident"}',
        b'{"schema_version":1,"event_id":"e1","kind":"unterminated',
        b"not json at all",
        b"",
    ],
)
def test_any_other_layout_gives_no_kind_so_the_caller_parses_the_record(value: bytes) -> None:
    assert peek_event_kind(value) is None


def test_records_refuse_unknown_fields_and_naive_times() -> None:
    data = json.loads(sample_complaint().model_dump_json())
    with pytest.raises(ValidationError):
        Complaint.model_validate({**data, "surprise": 1})
    with pytest.raises(ValidationError):
        Complaint.model_validate({**data, "received_at": "2026-11-22T03:15:00"})


def test_complaint_id_is_stable_per_channel_message() -> None:
    assert complaint_id_for("email", "<a@b>") == complaint_id_for(Channel.email, "<a@b>")
    assert complaint_id_for("email", "<a@b>") != complaint_id_for("webform", "<a@b>")
    assert complaint_id_for("hotline", "call-1") != complaint_id_for("hotline", "call-2")


def test_complaint_number_is_short_dated_and_unambiguous() -> None:
    cid = complaint_id_for("webform", "form-1")
    number = complaint_number_for(cid, date(2026, 11, 22))
    assert number == complaint_number_for(cid, date(2026, 11, 22))
    prefix, day, suffix = number.split("-")
    assert (prefix, day, len(suffix)) == ("CF", "20261122", 6)
    assert not set(suffix) & set("ILOU")
    assert complaint_number_for(cid, date(2026, 11, 22), salt=1) != number
    assert normalize_complaint_number(number.lower()) == number


def test_complaint_numbers_rarely_collide_in_a_busy_day() -> None:
    numbers = {complaint_number_for(complaint_id_for("webform", f"f{i}"), date(2026, 11, 22)) for i in range(20000)}
    assert len(numbers) >= 19990


def test_exported_json_schema_files_are_current() -> None:
    """Fails when a model changed without `complaintflow schemas export`."""
    files = json_schema_files()
    assert set(files) == {f"{name}.schema.json" for name in ALL_MODELS}
    for name, text in files.items():
        path = SCHEMA_DIR / name
        assert path.exists(), f"{name} missing: run `complaintflow schemas export`"
        assert path.read_text(encoding="utf-8") == text, f"{name} is stale: run `complaintflow schemas export`"
