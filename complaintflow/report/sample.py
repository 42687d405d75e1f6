"""A generated month of complaints as the topics would carry them: for tests, demos and documentation.

Every record is a real schema object. The same seed gives the same month. Some records are sent twice, as
at-least-once delivery does, and one day holds a complaint storm.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from schemas import (
    BusinessLine,
    Channel,
    Complaint,
    ComplaintEvent,
    ComplaintStatus,
    Customer,
    Deadlines,
    Department,
    EventKind,
    Language,
    Reason,
    RoutedComplaint,
    Severity,
    StatusUpdate,
    complaint_id_for,
    complaint_number_for,
    event_id_for,
    stable_id,
)

TEXTS = (
    ("手机银行转账失败但是钱被扣了，客服态度很差", Language.zh),
    ("信用卡年费没有提前告知就扣了", Language.zh),
    ("网点排队两个小时没人办理", Language.zh),
    ("My card was charged twice for the same purchase", Language.en),
    ("The mortgage statement shows interest I never agreed to", Language.en),
)
SURNAMES = ("张", "王", "李", "刘", "陈", "Smith", "Brown")


@dataclass
class PlannedComplaint:
    """What the generator decided for one complaint: the ground truth tests count against."""

    complaint_id: str
    channel: Channel
    business_line: BusinessLine
    reason: Reason
    severity: Severity
    department: Department
    received_at: datetime
    customer_index: int
    acknowledged_after: timedelta | None = None
    first_contact_after: timedelta | None = None
    decided_after: timedelta | None = None
    outcome: str | None = None
    transferred_to: Department | None = None
    extended: bool = False
    breaches: list[str] = field(default_factory=list)
    incident_id: str | None = None
    score: int | None = None
    notifications: list[tuple[str, bool]] = field(default_factory=list)  # (medium, sent)


@dataclass
class SampleMonth:
    routed: list[RoutedComplaint]
    statuses: list[StatusUpdate]
    events: list[ComplaintEvent]
    plans: list[PlannedComplaint]
    start: datetime
    end: datetime


def _customer(rng: random.Random, index: int) -> Customer:
    seeded = random.Random(index)
    phone = f"+86138{seeded.randrange(10**8):08d}"
    return Customer(
        name=f"{SURNAMES[index % len(SURNAMES)]}{index}",
        phone=phone,
        email=f"customer{index}@example.cn" if index % 3 else None,
        preferred_contact=None,
    )


def generate_month(
    seed: int, start: datetime, complaints: int = 400, customers: int = 260, storm_size: int = 24
) -> SampleMonth:
    """``complaints`` spread over 30 days from ``start`` plus a storm of ``storm_size`` on day 12."""
    rng = random.Random(seed)
    month = SampleMonth([], [], [], [], start, start + timedelta(days=30))
    storm_at = start + timedelta(days=12, hours=3)
    storm_incident = stable_id("inc", BusinessLine.digital_channels.value, Reason.system_failure.value, "sample")
    for index in range(complaints + storm_size):
        in_storm = index >= complaints
        received = (
            storm_at + timedelta(minutes=rng.uniform(0, 14))
            if in_storm
            else start + timedelta(seconds=rng.uniform(0, 30 * 86400 - 3600))
        )
        channel = rng.choice(list(Channel))
        plan = PlannedComplaint(
            complaint_id=complaint_id_for(channel, f"sample-{seed}-{index}"),
            channel=channel,
            business_line=BusinessLine.digital_channels if in_storm else rng.choice(list(BusinessLine)),
            reason=Reason.system_failure if in_storm else rng.choice(list(Reason)),
            severity=rng.choices(list(Severity), weights=(1, 3, 8, 6))[0],
            department=Department.digital_channels if in_storm else rng.choice(list(Department)),
            received_at=received,
            customer_index=rng.randrange(customers),
            incident_id=storm_incident if in_storm else None,
        )
        _plan_lifecycle(rng, plan)
        _emit(rng, month, plan, index)
    return month


def _plan_lifecycle(rng: random.Random, plan: PlannedComplaint) -> None:
    plan.acknowledged_after = timedelta(seconds=rng.uniform(1, 600))
    if rng.random() < 0.1:
        plan.notifications.append(("sms", False))
        plan.notifications.append(("email", True))
    else:
        plan.notifications.append((rng.choice(("sms", "email")), True))
    if rng.random() < 0.85:
        plan.first_contact_after = timedelta(hours=rng.uniform(0.5, 60))
        if rng.random() < 0.08:
            plan.transferred_to = rng.choice([d for d in Department if d != plan.department])
    elif rng.random() < 0.5:
        plan.breaches.append("first_contact")
    if rng.random() < 0.12:
        plan.extended = True
    if plan.first_contact_after is not None and rng.random() < 0.8:
        plan.decided_after = plan.first_contact_after + timedelta(hours=rng.uniform(1, 24 * 20))
        plan.outcome = "resolved" if rng.random() < 0.8 else "rejected"
        if plan.decided_after > timedelta(days=15) and not plan.extended:
            plan.breaches.append("decision")
        if rng.random() < 0.4:
            plan.score = rng.choices((1, 2, 3, 4, 5), weights=(1, 1, 2, 4, 5))[0]


def _emit(rng: random.Random, month: SampleMonth, plan: PlannedComplaint, index: int) -> None:
    text, language = rng.choice(TEXTS)
    received = plan.received_at
    complaint = Complaint(
        complaint_id=plan.complaint_id,
        complaint_number=complaint_number_for(plan.complaint_id, received.date()),
        channel=plan.channel,
        channel_ref=f"sample-{index}",
        received_at=received,
        language=language,
        text=text,
        redacted_text=text,
        customer=_customer(rng, plan.customer_index),
    )
    deadlines = Deadlines(
        profile="cn",
        acknowledge_by=received + timedelta(days=1),
        first_contact_by=received + timedelta(days=3),
        decision_by=received + timedelta(days=15),
    )
    routed = RoutedComplaint(
        routing_id=stable_id("rte", plan.complaint_id, "1"),
        complaint=complaint,
        business_line=plan.business_line,
        reason=plan.reason,
        severity=plan.severity,
        department=plan.department,
        confidence=0.8,
        incident_id=plan.incident_id,
        deadlines=deadlines,
        routed_at=received + timedelta(seconds=1),
    )
    month.routed.append(routed)
    if rng.random() < 0.05:  # at-least-once: the same record twice
        month.routed.append(routed)
    month.plans.append(plan)

    def event(
        kind: EventKind, at: datetime, discriminator: str = "", department: Department | None = None, **details: str
    ) -> None:
        record = ComplaintEvent(
            event_id=event_id_for(plan.complaint_id, kind.value, discriminator),
            kind=kind,
            complaint_id=plan.complaint_id,
            complaint_number=complaint.complaint_number,
            occurred_at=at,
            channel=plan.channel,
            department=department or plan.department,
            severity=plan.severity,
            customer=complaint.customer,
            details=details,
        )
        month.events.append(record)
        if rng.random() < 0.05:
            month.events.append(record)

    def status(status: ComplaintStatus, at: datetime, **fields: object) -> None:
        month.statuses.append(
            StatusUpdate(
                update_id=stable_id("upd", plan.complaint_id, status.value),
                complaint_id=plan.complaint_id,
                complaint_number=complaint.complaint_number,
                status=status,
                department=plan.department,
                at=at,
                **fields,
            )
        )  # type: ignore[arg-type]

    acknowledged = received + plan.acknowledged_after  # type: ignore[operator]
    event(EventKind.acknowledged, acknowledged, "1")
    for medium, sent in plan.notifications:
        kind = EventKind.notification_sent if sent else EventKind.notification_failed
        at = acknowledged + timedelta(seconds=2)
        event(kind, at, medium, for_event="acknowledged", medium=medium, delivery=medium)
    if plan.incident_id:
        event(
            EventKind.incident,
            received,
            plan.incident_id,
            incident_id=plan.incident_id,
            business_line=plan.business_line.value,
            reason=plan.reason.value,
            count="20",
        )
    if plan.first_contact_after is not None:
        at = received + plan.first_contact_after
        status(ComplaintStatus.investigating, at)
        event(EventKind.in_progress, at, "investigating")
        if plan.transferred_to is not None:
            _transfer(month, routed, plan.transferred_to, at + timedelta(hours=1))
            event(EventKind.transferred, at + timedelta(hours=1), "t", department=plan.transferred_to)
            event(EventKind.assigned, at + timedelta(hours=1), "t", department=plan.transferred_to)
    for which in plan.breaches:
        deadline = deadlines.first_contact_by if which == "first_contact" else deadlines.decision_by
        event(EventKind.sla_warning, received + (deadline - received) * 0.8, which, deadline_kind=which)
        event(EventKind.sla_breached, deadline, which, deadline_kind=which)
    if plan.extended:
        event(EventKind.extended, received + timedelta(days=10), "ext", reason="需要调取监控录像")
    if plan.decided_after is not None and plan.outcome is not None:
        at = received + plan.decided_after
        status(ComplaintStatus(plan.outcome), at, note="已处理")
        event(EventKind(plan.outcome), at, plan.outcome)
        if plan.score is not None:
            event(EventKind.feedback_received, at + timedelta(hours=3), "feedback", score=str(plan.score))


def _transfer(month: SampleMonth, routed: RoutedComplaint, target: Department, at: datetime) -> None:
    cid = routed.complaint.complaint_id
    month.routed.append(
        routed.model_copy(
            update={
                "department": target,
                "revision": 2,
                "routing_id": stable_id("rte", cid, "2"),
                "rule": "transfer",
                "routed_at": at,
            }
        )
    )
