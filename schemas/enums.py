"""Closed vocabularies shared by every service. Values are a contract: they appear on topics and in reports."""

from __future__ import annotations

from enum import StrEnum

from schemas.channels import channel_info


# An intake channel. The members are the shipped channels (the JSON Schema lists them); a channel registered
# later (``schemas.channels.register_channel``) is accepted too, as a member made on use, so every field typed
# ``Channel`` takes its name and ``Channel(name).value`` works alike for both (compare with ``==``, not ``is``).
# (A comment, not a docstring: the docstring would enter the exported JSON Schema.)
class Channel(StrEnum):
    email = "email"
    webform = "webform"
    hotline = "hotline"
    social = "social"
    sms = "sms"  # a customer's text message to the bank's number (an SMS gateway's inbound webhook)

    @classmethod
    def _missing_(cls, value: object) -> Channel | None:
        if not isinstance(value, str) or channel_info(value) is None:
            return None
        member = str.__new__(cls, value)
        member._name_ = value
        member._value_ = value
        return member  # not cached: a channel can be unregistered again


class Language(StrEnum):
    zh = "zh"
    en = "en"
    mixed = "mixed"


class ContactChannel(StrEnum):
    email = "email"
    sms = "sms"
    phone = "phone"
    social = "social"


class Severity(StrEnum):
    critical = "critical"
    high = "high"
    medium = "medium"
    low = "low"


class Department(StrEnum):
    retail_banking = "retail_banking"
    cards = "cards"
    lending = "lending"
    payments = "payments"
    wealth = "wealth"
    digital_channels = "digital_channels"
    branch_service = "branch_service"
    credit_reporting = "credit_reporting"
    collections = "collections"
    fraud = "fraud"
    consumer_protection = "consumer_protection"


class BusinessLine(StrEnum):
    """What product the complaint is about (JR/T 0169-2018 style first dimension)."""

    deposits_accounts = "deposits_accounts"
    debit_cards = "debit_cards"
    credit_cards = "credit_cards"
    loans_mortgages = "loans_mortgages"
    payments_transfers = "payments_transfers"
    wealth_insurance = "wealth_insurance"
    digital_channels = "digital_channels"
    credit_reporting = "credit_reporting"
    debt_collection = "debt_collection"
    other = "other"


class Reason(StrEnum):
    """What went wrong (second dimension)."""

    service_attitude = "service_attitude"
    staff_skill = "staff_skill"
    queues_staffing = "queues_staffing"
    operational_error = "operational_error"
    system_failure = "system_failure"
    fees_pricing = "fees_pricing"
    mis_selling = "mis_selling"
    product_returns = "product_returns"
    contract_terms = "contract_terms"
    rules_policy = "rules_policy"
    unauthorised_loss = "unauthorised_loss"
    information_security = "information_security"
    collection_conduct = "collection_conduct"
    credit_report_error = "credit_report_error"
    other = "other"


class ComplaintStatus(StrEnum):
    """Status a department reports on `complaints.status`, plus the states the router itself sets."""

    received = "received"
    routed = "routed"
    accepted = "accepted"
    investigating = "investigating"
    need_info = "need_info"
    proposal = "proposal"
    resolved = "resolved"
    rejected = "rejected"
    transferred = "transferred"
    extended = "extended"
    closed = "closed"


class DepartmentRecordKind(StrEnum):
    """What a record on ``dept.<department>`` asks of the department (``DepartmentRecord.kind``)."""

    complaint = "complaint"  # a new complaint routed to the department
    transfer_in = "transfer_in"  # a complaint another department transferred to this one
    follow_up = "follow_up"  # the customer wrote again about an open complaint
    need_info_reply = "need_info_reply"  # the customer answered the department's request for information
    sla_warning = "sla_warning"  # most of the time allowed for a deadline has gone
    sla_breach = "sla_breach"  # a deadline has passed
    escalation = "escalation"  # a complaint escalated to this department (consumer protection)


class OutcomeKind(StrEnum):
    """The router's answer to a ``StatusUpdate`` (``StatusOutcome.outcome``)."""

    applied = "applied"
    refused = "refused"


class EventKind(StrEnum):
    """Lifecycle events on `complaints.events`. The first group is what customers are told about."""

    acknowledged = "acknowledged"
    assigned = "assigned"
    in_progress = "in_progress"
    need_info = "need_info"
    extended = "extended"
    resolved = "resolved"
    rejected = "rejected"
    closed = "closed"
    sla_breach_apology = "sla_breach_apology"
    # Internal and audit events: recorded in the log, not sent to customers.
    transferred = "transferred"
    follow_up_received = "follow_up_received"
    feedback_received = "feedback_received"
    auto_reply_recorded = "auto_reply_recorded"
    sla_warning = "sla_warning"
    sla_breached = "sla_breached"
    sla_paused = "sla_paused"  # waiting on the customer (need_info): the decision clock stands still
    sla_resumed = "sla_resumed"  # the customer answered: the decision deadline moves by the time waited
    escalated = "escalated"
    incident = "incident"
    notification_sent = "notification_sent"
    notification_failed = "notification_failed"
    notification_deferred = "notification_deferred"  # held for the customer's quiet hours; sent after them


CUSTOMER_FACING_EVENTS: frozenset[EventKind] = frozenset(
    {
        EventKind.acknowledged,
        EventKind.assigned,
        EventKind.in_progress,
        EventKind.need_info,
        EventKind.extended,
        EventKind.resolved,
        EventKind.rejected,
        EventKind.closed,
        EventKind.sla_breach_apology,
    }
)
