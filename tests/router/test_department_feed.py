"""Pure parts of the department loop: reading a queue record in either shape, building records, checking updates."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from kernel.streams import InboundMessage, PermanentError
from schemas import (
    Attachment,
    ComplaintEvent,
    DepartmentRecord,
    DepartmentRecordKind,
    EventKind,
    department_record,
)
from services.router.department_client import InvalidUpdate, check_update
from services.router.department_feed import escalation_record, follow_up_record, sla_record
from services.router.routing import RoutingTable
from services.router.worker import FollowUpForwarder
from tests.test_schemas import NOW, sample_routed

TABLE = RoutingTable.load()


def _follow_up_event(status: str | None = None, attachments: str | None = None) -> ComplaintEvent:
    routed = sample_routed()
    details = {"channel_ref": "<r1@163.com>", "text": "补充：卡号[CARD ****0123]的流水见附件。"}
    if status:
        details["complaint_status"] = status
    if attachments is not None:
        details["attachments"] = attachments
    return ComplaintEvent(
        event_id="evt_follow_1",
        kind=EventKind.follow_up_received,
        complaint_id=routed.complaint.complaint_id,
        complaint_number=routed.complaint.complaint_number,
        occurred_at=NOW + timedelta(hours=2),
        channel="email",
        details=details,
    )


@pytest.mark.parametrize(
    ("revision", "queue", "kind"),
    [(1, "cards", "complaint"), (2, "cards", "transfer_in"), (1, "consumer_protection", "escalation")],
)
def test_a_plain_routed_complaint_reads_as_its_kind(revision: int, queue: str, kind: str) -> None:
    routed = sample_routed().model_copy(update={"revision": revision})
    record = department_record(routed.model_dump_json().encode(), queue)
    assert record.kind.value == kind
    assert record.record_id == routed.routing_id, "a routing keeps the id the client always dropped repeats by"
    assert record.routed == routed and record.department.value == queue


def test_a_department_record_reads_back_unchanged_and_starts_with_its_kind() -> None:
    record = follow_up_record(sample_routed(), _follow_up_event(), "investigating")
    body = record.model_dump_json()
    assert body.startswith('{"schema_version":1,"kind":"follow_up"')
    assert department_record(body, "cards") == record


@pytest.mark.parametrize(
    ("stamped", "stored", "kind"),
    [
        (None, "investigating", "follow_up"),
        (None, "need_info", "need_info_reply"),
        ("need_info", "investigating", "need_info_reply"),  # the status when the mail came in wins
        ("accepted", "need_info", "follow_up"),
    ],
)
def test_a_follow_up_to_a_need_info_request_is_a_need_info_reply(stamped: str | None, stored: str, kind: str) -> None:
    record = follow_up_record(sample_routed(), _follow_up_event(stamped), stored)
    assert record.kind.value == kind
    assert record.department.value == "cards" and record.follow_up is not None
    assert record.follow_up.text.startswith("补充")


def test_a_follow_up_lists_its_attachments_and_skips_unreadable_ones() -> None:
    scan = Attachment(filename="流水.pdf", content_type="application/pdf", size=48213, sha256="ab" * 32)
    listed = f'[{scan.model_dump_json()}, {{"filename": "broken"}}]'
    record = follow_up_record(sample_routed(), _follow_up_event(attachments=listed), None)
    assert record.follow_up is not None and record.follow_up.attachments == [scan]
    assert follow_up_record(sample_routed(), _follow_up_event(attachments="not json"), None).follow_up.attachments == []  # type: ignore[union-attr]


def test_alerts_and_escalations_have_ids_of_their_own() -> None:
    routed = sample_routed()
    member = f"{routed.complaint.complaint_id}|decision|sla_breached|1766000000"
    breach = sla_record(routed, EventKind.sla_breached, "decision", member, NOW)
    warning = sla_record(routed, EventKind.sla_warning, "decision", member.replace("breached", "warning"), NOW)
    escalation = escalation_record(routed, "consumer_protection", "sla_breached:decision", member, NOW)
    assert (breach.kind, warning.kind) == (DepartmentRecordKind.sla_breach, DepartmentRecordKind.sla_warning)
    assert breach.alert is not None and breach.alert.deadline == routed.deadlines.decision_by
    assert escalation.department.value == "consumer_protection" and escalation.escalation is not None
    ids = {routed.routing_id, breach.record_id, warning.record_id, escalation.record_id}
    assert len(ids) == 4, "the consumer-protection client must not drop the breach as a repeat of the routing"
    again = escalation_record(routed, "consumer_protection", "sla_breached:decision", member, NOW + timedelta(1))
    assert again.record_id == escalation.record_id, "the same breach swept twice is the same record"
    assert isinstance(DepartmentRecord.model_validate_json(escalation.model_dump_json()), DepartmentRecord)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("CF-2026-1", "accepted", {}), "is not a complaint number"),
        (("CF-20261122-7K3Q9M", "done", {}), "unknown status 'done'"),
        (("CF-20261122-7K3Q9M", "routed", {}), "unknown status 'routed'"),
        (("CF-20261122-7K3Q9M", "transferred", {}), "a transfer needs the department"),
        (("CF-20261122-7K3Q9M", "transferred", {"to_department": "nonexistent_dept"}), "unknown department to"),
        (("CF-20261122-7K3Q9M", "accepted", {"to_department": "cards"}), "--to only goes with"),
        (("CF-20261122-7K3Q9M", "accepted", {"department": "treasury"}), "unknown department 'treasury'"),
        (("CF-20261122-7K3Q9M", "resolved", {"approver": "李行长"}), "--approver only goes with"),
    ],
)
def test_updates_that_cannot_be_right_are_stopped_with_a_reason(args: tuple, message: str) -> None:
    number, status, extra = args
    with pytest.raises(InvalidUpdate, match=message):
        check_update(number, status, TABLE, **extra)


def test_a_good_update_is_normalized() -> None:
    number, status, sender, target = check_update(
        " cf-20261122-7k3q9o ", "transferred", TABLE, department="cards", to_department="payments"
    )
    assert (number, status.value, sender, target) == ("CF-20261122-7K3Q90", "transferred", "cards", "payments")


def test_dept_tail_shows_every_kind_on_lines_of_its_own() -> None:
    from complaintflow.cli import _describe_record

    routed = sample_routed()
    complaint = routed.complaint.model_copy(update={"flags": ["no_contact"]})
    no_contact = department_record(routed.model_copy(update={"complaint": complaint}).model_dump_json(), "cards")
    [head, hint, text] = _describe_record(no_contact)
    assert head.startswith(f"[complaint] {routed.complaint.complaint_number}") and "flags: no_contact" in head
    assert "hotline call-back" in hint and "[CARD ****0123]" in text
    member = f"{routed.complaint.complaint_id}|decision|sla_breached|1766000000"
    for record, start in [
        (follow_up_record(routed, _follow_up_event("need_info"), None), "[need_info_reply]"),
        (sla_record(routed, EventKind.sla_breached, "decision", member, NOW), "[sla_breach]"),
        (escalation_record(routed, "consumer_protection", "sla_breached:decision", member, NOW), "[escalation]"),
    ]:
        lines = _describe_record(record)
        assert lines[0].startswith(f"{start} {routed.complaint.complaint_number}"), lines


def test_the_follow_up_topic_dead_letters_an_event_that_is_not_a_follow_up() -> None:
    event = _follow_up_event().model_copy(update={"kind": EventKind.acknowledged})
    message = InboundMessage("complaints.followups", 0, 7, b"cmp_1", event.model_dump_json().encode())
    forwarder = FollowUpForwarder(lifecycle=None)  # type: ignore[arg-type]  # refused before any state is read
    with pytest.raises(PermanentError) as refused:
        asyncio.run(forwarder(message))
    assert refused.value.error_type == "not_a_follow_up"
