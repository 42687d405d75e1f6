"""Pure builders of what the router tells departments: queue records and the outcome of each status update.

No I/O: the router's edge (lifecycle, SLA clock, worker) looks up the state, calls these and publishes.
"""

from __future__ import annotations

import json
from datetime import datetime

from schemas import (
    Attachment,
    ComplaintEvent,
    ComplaintStatus,
    Department,
    DepartmentRecord,
    DepartmentRecordKind,
    Escalation,
    EventKind,
    FollowUp,
    OutcomeKind,
    RoutedComplaint,
    SlaAlert,
    StatusOutcome,
    StatusUpdate,
    stable_id,
)

# Statuses the router sets itself; a department cannot report them.
ROUTER_STATUSES = frozenset({ComplaintStatus.received, ComplaintStatus.routed})
# Follow-up details written by intake (services/intake/worker.py): masked text, attachments as JSON, and the
# complaint's status when the follow-up came in.
FOLLOW_UP_EVENTS = frozenset({EventKind.follow_up_received.value})


def _record(
    kind: DepartmentRecordKind,
    queue: Department,
    routed: RoutedComplaint,
    at: datetime,
    *id_parts: str,
    **parts: object,
) -> DepartmentRecord:
    complaint, queue = routed.complaint, Department(queue)
    return DepartmentRecord(
        kind=kind,
        record_id=stable_id("dpr", complaint.complaint_id, kind.value, queue.value, *id_parts),
        department=queue,
        complaint_id=complaint.complaint_id,
        complaint_number=complaint.complaint_number,
        at=at,
        routed=routed,
        **parts,  # type: ignore[arg-type]
    )


def follow_up_record(routed: RoutedComplaint, event: ComplaintEvent, status: str | None) -> DepartmentRecord:
    """The customer's follow-up for the complaint's department; a ``need_info_reply`` while information is awaited.

    ``status`` is the complaint's status when the follow-up came in (the event's own stamp wins when it has one).
    """
    details = event.details
    status = details.get("complaint_status") or status
    kind = (
        DepartmentRecordKind.need_info_reply
        if status == ComplaintStatus.need_info.value
        else DepartmentRecordKind.follow_up
    )
    follow_up = FollowUp(
        event_id=event.event_id,
        channel=event.channel,
        channel_ref=details.get("channel_ref"),
        received_at=event.occurred_at,
        text=details.get("text", ""),
        attachments=attachments_from_details(details),
    )
    return _record(kind, routed.department, routed, event.occurred_at, event.event_id, follow_up=follow_up)


def attachments_from_details(details: dict[str, str]) -> list[Attachment]:
    """The attachments a follow-up event lists (``details["attachments"]``, JSON); unreadable ones are left out."""
    try:
        listed = json.loads(details.get("attachments") or "[]")
    except ValueError:
        return []
    found = []
    for item in listed if isinstance(listed, list) else []:
        try:
            found.append(Attachment.model_validate(item))
        except ValueError:
            continue
    return found


def sla_record(routed: RoutedComplaint, kind: EventKind, which: str, alert_id: str, now: datetime) -> DepartmentRecord:
    """An SLA warning or breach for the complaint's own department; ``alert_id`` names the alert (stable)."""
    deadline = routed.deadlines.first_contact_by if which == "first_contact" else routed.deadlines.decision_by
    record_kind = (
        DepartmentRecordKind.sla_breach if kind == EventKind.sla_breached else DepartmentRecordKind.sla_warning
    )
    alert = SlaAlert(deadline_kind=which, deadline=deadline)
    return _record(record_kind, routed.department, routed, now, alert_id, alert=alert)


def escalation_record(
    routed: RoutedComplaint, to: Department, cause: str, cause_id: str, now: datetime
) -> DepartmentRecord:
    """A new record for the department a complaint is escalated to, with an id of its own (``cause_id`` is stable)."""
    escalation = Escalation(to=to, from_department=routed.department, cause=cause)
    return _record(DepartmentRecordKind.escalation, to, routed, now, cause_id, escalation=escalation)


def pre_check(update: StatusUpdate) -> tuple[str, str] | None:
    """(code, reason) when the update is refused whatever the complaint's state, else None."""
    if update.status in ROUTER_STATUSES:
        return "not_allowed", f"status {update.status.value} is set by the router, not by a department"
    if update.status == ComplaintStatus.transferred and update.to_department is None:
        return "invalid", "a transfer needs the department to transfer to (--to)"
    return None


def applied(update: StatusUpdate, complaint_id: str | None, now: datetime, detail: str | None = None) -> StatusOutcome:
    return StatusOutcome(
        update_id=update.update_id,
        outcome=OutcomeKind.applied,
        complaint_number=update.complaint_number,
        complaint_id=complaint_id,
        status=update.status.value,
        department=update.department,
        detail=detail,
        decided_at=now,
    )


def refused(
    update_id: str,
    complaint_number: str,
    status: str,
    code: str,
    reason: str,
    now: datetime,
    department: Department | None = None,
    complaint_id: str | None = None,
) -> StatusOutcome:
    return StatusOutcome(
        update_id=update_id,
        outcome=OutcomeKind.refused,
        complaint_number=complaint_number,
        complaint_id=complaint_id,
        status=status,
        department=department,
        reason=reason,
        code=code,
        decided_at=now,
    )
