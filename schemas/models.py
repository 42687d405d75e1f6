"""The records that travel on the topics. Every one carries ``schema_version``.

Timestamps are timezone-aware UTC. Models are frozen so a record handed from one stage to the next
cannot be changed behind the other's back; build a new one with ``model_copy(update=...)``.
"""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from schemas.enums import (
    BusinessLine,
    Channel,
    ComplaintStatus,
    ContactChannel,
    Department,
    DepartmentRecordKind,
    EventKind,
    Language,
    OutcomeKind,
    Reason,
    Severity,
)

SCHEMA_VERSION = 1


class Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", use_enum_values=False)


class RawEnvelope(Record):
    """Value on ``complaints.raw.<channel>``: the channel's own payload plus where and when it arrived.

    E-mail carries the RFC 5322 bytes base64-encoded in ``payload_base64``; the other channels carry
    their JSON object in ``payload``.
    """

    schema_version: Literal[1] = SCHEMA_VERSION
    channel: Channel
    message_id: str = Field(min_length=1, max_length=998, description="The channel's own message id")
    received_at: AwareDatetime
    source: str = Field(description="Entry point that accepted it, e.g. smtp, http, kafka-adapter, import")
    payload: dict[str, Any] | None = None
    payload_base64: str | None = None
    envelope_from: str | None = None
    envelope_to: list[str] = Field(default_factory=list)


class SourcePointer(Record):
    """Where the raw record sits in Kafka, so the original can always be found again."""

    topic: str
    partition: int
    offset: int


class Money(Record):
    amount: Decimal
    currency: str = Field(min_length=3, max_length=3, description="ISO 4217 code")


class Attachment(Record):
    filename: str | None = None
    content_type: str
    size: int
    sha256: str


class Customer(Record):
    name: str | None = None
    phone: str | None = Field(default=None, description="E.164")
    email: str | None = None
    customer_id: str | None = None
    card_last4: str | None = None
    account_last4: str | None = None
    social_platform: str | None = None
    social_handle: str | None = None
    preferred_contact: ContactChannel | None = None
    timezone: str | None = None


class EmailDetails(Record):
    message_id: str | None = None
    in_reply_to: str | None = None
    references: list[str] = Field(default_factory=list)
    forwarded: bool = False


class HotlineDetails(Record):
    call_id: str
    agent_id: str | None = None
    started_at: AwareDatetime | None = None
    duration_s: float | None = None
    agent_summary: str | None = None
    disposition: str | None = None
    asr_confidence: float | None = None
    low_confidence: bool = False


class SocialDetails(Record):
    platform: str
    post_id: str
    url: str | None = None
    public: bool = True
    followers: int = 0
    reposts: int = 0
    likes: int = 0


class Complaint(Record):
    """One normalised complaint (``complaints.normalized``), the same shape for every channel."""

    schema_version: Literal[1] = SCHEMA_VERSION
    complaint_id: str
    complaint_number: str
    channel: Channel
    channel_ref: str = Field(description="The channel's own message id")
    received_at: AwareDatetime
    source_timezone: str | None = None
    language: Language
    subject: str | None = None
    redacted_subject: str | None = Field(default=None, description="Subject with personal numbers masked")
    text: str = Field(description="Full cleaned text; only for the handling department")
    redacted_text: str = Field(description="Text with card, ID, phone, e-mail and account numbers masked")
    customer: Customer = Field(default_factory=Customer)
    product: str | None = Field(default=None, description="Product as the customer named it")
    amount: Money | None = None
    attachments: list[Attachment] = Field(default_factory=list)
    related_to: list[str] = Field(default_factory=list, description="Complaint ids of the same issue")
    flags: list[str] = Field(default_factory=list)
    unverified_link_to: str | None = Field(
        default=None,
        description="Complaint number this message claims to follow up but was not attached to, because its "
        "sender could not be verified as that complaint's customer (flag unverified_sender)",
    )
    raw: SourcePointer | None = None
    email: EmailDetails | None = None
    hotline: HotlineDetails | None = None
    social: SocialDetails | None = None


class Deadlines(Record):
    profile: str = Field(description="SLA profile, e.g. cn, uk, us")
    acknowledge_by: AwareDatetime
    first_contact_by: AwareDatetime
    decision_by: AwareDatetime
    extensions: int = 0
    paused_at: AwareDatetime | None = Field(
        default=None, description="The decision clock stopped here, waiting on the customer (need_info)"
    )
    paused_s: int = Field(default=0, description="Seconds the decision clock has stood still so far")


class DepartmentScore(Record):
    department: Department
    probability: float = Field(ge=0, le=1, description="Calibrated probability that this department owns it")


class RoutedComplaint(Record):
    """The complaint plus every decision taken on it and why (``complaints.routed``, ``dept.<department>``)."""

    schema_version: Literal[1] = SCHEMA_VERSION
    routing_id: str = Field(description="Stable id of this routing decision (complaint id + revision)")
    revision: int = Field(default=1, description="1 for the first routing, +1 for each transfer")
    complaint: Complaint
    business_line: BusinessLine
    reason: Reason
    severity: Severity
    department: Department
    escalate_to: Department | None = None
    confidence: float = Field(ge=0, le=1)
    signals: list[str] = Field(default_factory=list)
    explanations: list[str] = Field(default_factory=list, description="Why each decision was taken")
    rule: str | None = Field(default=None, description="Routing rule that matched")
    repeat_count: int = 0
    incident_id: str | None = None
    deadlines: Deadlines
    routed_at: AwareDatetime
    needs_review: bool = Field(
        default=False, description="Department confidence below the review threshold: check it, pass it on if wrong"
    )
    runner_up_departments: list[DepartmentScore] = Field(
        default_factory=list, description="The next most probable departments, best first (set when needs_review)"
    )


class RoutingCorrection(Record):
    """A department's transfer read as a label: this complaint belongs to ``to_department``
    (``complaints.corrections``; ``python -m tools.model retrain`` folds them into the next model)."""

    schema_version: Literal[1] = SCHEMA_VERSION
    correction_id: str = Field(description="Stable: the transfer's update id")
    complaint_id: str
    text: str = Field(description="The complaint's redacted text (subject and body)")
    from_department: Department
    to_department: Department
    reason: str | None = None
    at: AwareDatetime


class StatusUpdate(Record):
    """A department's word on a complaint (``complaints.status``)."""

    schema_version: Literal[1] = SCHEMA_VERSION
    update_id: str = Field(description="Unique per update; a resent update with the same id applies once")
    complaint_id: str | None = None
    complaint_number: str
    status: ComplaintStatus
    department: Department | None = None
    to_department: Department | None = Field(default=None, description="For transferred")
    reason: str | None = Field(default=None, description="For transferred, extended, rejected")
    note: str | None = Field(default=None, description="Shown to the customer for need_info and resolved")
    approver: str | None = Field(default=None, description="Required for the second extension")
    by: str | None = None
    at: AwareDatetime


class StatusOutcome(Record):
    """The router's answer to one ``StatusUpdate`` (``complaints.status.outcomes``, keyed by the update id).

    A resent update (same ``update_id``) gets the same outcome again and is applied once.
    """

    schema_version: Literal[1] = SCHEMA_VERSION
    update_id: str
    outcome: OutcomeKind
    complaint_number: str
    complaint_id: str | None = None
    status: str = Field(description="The status the update asked for")
    department: Department | None = Field(default=None, description="The department that sent the update")
    reason: str | None = Field(default=None, description="Why it was refused, in words a person understands")
    code: str | None = Field(
        default=None, description="Refusal code: unknown_complaint, extension_refused, invalid, not_allowed, failed"
    )
    detail: str | None = Field(default=None, description="What was applied, e.g. the new decision deadline")
    decided_at: AwareDatetime


class FollowUp(Record):
    """What the customer sent on an open complaint: their words masked, their attachments listed."""

    event_id: str = Field(description="The follow_up_received event on complaints.events it came from")
    channel: Channel | None = None
    channel_ref: str | None = Field(default=None, description="The channel's own message id")
    received_at: AwareDatetime
    text: str = Field(description="The customer's text with card, ID, phone, e-mail and account numbers masked")
    attachments: list[Attachment] = Field(default_factory=list)


class SlaAlert(Record):
    deadline_kind: str = Field(description="first_contact or decision")
    deadline: AwareDatetime


class Escalation(Record):
    to: Department
    from_department: Department = Field(description="The department that owns the complaint")
    cause: str = Field(description="Why, e.g. sla_breached:decision or the routing rule that escalated it")


class DepartmentRecord(Record):
    """One thing a department must act on (``dept.<department>``), told apart by ``kind``.

    New complaints and transfers in travel as the plain ``RoutedComplaint`` (no ``kind`` field), so consumers
    written for it keep working: revision 1 is a ``complaint``, a later revision a ``transfer_in``, and on a queue
    other than its department's (``escalate_to``) an ``escalation``. Every other kind travels as this record, with
    ``kind`` second in the JSON.
    ``department_record`` reads either shape. ``record_id`` is stable and unique per record: a consumer drops
    repeats by it (for a routing it is the routing id).
    """

    schema_version: Literal[1] = SCHEMA_VERSION
    kind: DepartmentRecordKind
    record_id: str
    department: Department = Field(description="The department whose queue the record is on")
    complaint_id: str
    complaint_number: str
    at: AwareDatetime
    routed: RoutedComplaint = Field(description="The complaint and its current routing")
    follow_up: FollowUp | None = Field(default=None, description="For follow_up and need_info_reply")
    alert: SlaAlert | None = Field(default=None, description="For sla_warning and sla_breach")
    escalation: Escalation | None = Field(default=None, description="For escalation")


def department_record(value: bytes | str, queue: Department | str) -> DepartmentRecord:
    """A value read from ``dept.<queue>`` as a ``DepartmentRecord``, whichever shape it travelled in.

    A ``RoutedComplaint`` is a ``complaint`` (revision 1), a ``transfer_in`` (a later revision), or, on another
    department's queue than its own, the ``escalation`` copy of a complaint routed with ``escalate_to``.
    Raises ``ValueError`` (pydantic's ``ValidationError`` included) for anything else.
    """
    data = json.loads(value)
    if isinstance(data, dict) and "kind" in data:
        return DepartmentRecord.model_validate(data)
    routed = RoutedComplaint.model_validate(data)
    queue = Department(queue)
    escalation = None
    if routed.department != queue:
        kind = DepartmentRecordKind.escalation
        escalation = Escalation(to=queue, from_department=routed.department, cause=f"routing rule {routed.rule}")
    elif routed.revision > 1:
        kind = DepartmentRecordKind.transfer_in
    else:
        kind = DepartmentRecordKind.complaint
    return DepartmentRecord(
        kind=kind,
        record_id=routed.routing_id,
        department=queue,
        complaint_id=routed.complaint.complaint_id,
        complaint_number=routed.complaint.complaint_number,
        at=routed.routed_at,
        routed=routed,
        escalation=escalation,
    )


class ComplaintEvent(Record):
    """One step in a complaint's life (``complaints.events``); the notifier tells customers the facing ones."""

    schema_version: Literal[1] = SCHEMA_VERSION
    event_id: str
    kind: EventKind
    complaint_id: str
    complaint_number: str
    occurred_at: AwareDatetime
    channel: Channel | None = None
    language: Language | None = None
    department: Department | None = None
    severity: Severity | None = None
    customer: Customer | None = Field(default=None, description="Contact snapshot for the notifier")
    deadline: AwareDatetime | None = None
    details: dict[str, str] = Field(
        default_factory=dict,
        description="Kind-specific strings. notification_sent/_deferred/_failed: for_event, for_event_id and medium "
        "(the delivery medium: email, sms, social); delivery is the same value under its deprecated name, "
        "written until schema_version 2.",
    )


# How ComplaintEvent.model_dump_json() begins: the event id (a stable id, no escapes) and then the kind.
_EVENT_HEAD = b'{"schema_version":%d,"event_id":"' % SCHEMA_VERSION
_KIND_AFTER_ID = b'","kind":"'


def peek_event_kind(value: bytes) -> str | None:
    """The kind of a serialised ComplaintEvent, read without parsing it; None unless laid out as this package writes it.

    A consumer that skips most kinds (the notifier) can pass over them for the cost of two searches. Any other
    layout, however valid, gives None, and the caller parses the whole record as before.
    """
    if not value.startswith(_EVENT_HEAD):
        return None
    id_end = value.find(b'"', len(_EVENT_HEAD))
    if id_end < 0 or not value.startswith(_KIND_AFTER_ID, id_end):
        return None
    kind_start = id_end + len(_KIND_AFTER_ID)
    kind_end = value.find(b'"', kind_start)
    if kind_end < 0:
        return None
    return value[kind_start:kind_end].decode("ascii", "replace")


class DeadLetter(Record):
    """Anything a stage could not process, with the original bytes and a readable reason."""

    schema_version: Literal[1] = SCHEMA_VERSION
    dead_letter_id: str
    stage: str = Field(description="intake.<channel>, router, notifier, http, smtp...")
    reason: str
    error_type: str
    source_topic: str | None = None
    partition: int | None = None
    offset: int | None = None
    key_base64: str | None = None
    original_base64: str = Field(description="the original bytes, or their first part when original_truncated")
    attempts: int = 1
    complaint_id: str | None = None
    failed_at: datetime
    original_bytes: int | None = Field(default=None, description="size of the original value in bytes")
    original_sha256: str | None = Field(default=None, description="hex SHA-256 of the whole original value")
    original_truncated: bool = Field(
        default=False,
        description="true when the original was too large for a record: original_base64 holds only its start, "
        "and the source pointer finds the whole of it while the topic keeps it",
    )


ALL_MODELS: dict[str, type[Record]] = {
    "raw_envelope": RawEnvelope,
    "complaint": Complaint,
    "routed_complaint": RoutedComplaint,
    "status_update": StatusUpdate,
    "status_outcome": StatusOutcome,
    "department_record": DepartmentRecord,
    "complaint_event": ComplaintEvent,
    "dead_letter": DeadLetter,
    "routing_correction": RoutingCorrection,
}
