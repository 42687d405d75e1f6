"""One routing decision: classify, assess severity, pick the department, set the SLA clock. Pure."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from kernel.settings import Settings
from schemas import (
    Complaint,
    Department,
    DepartmentScore,
    RoutedComplaint,
    RoutingCorrection,
    StatusUpdate,
    channel_info,
    stable_id,
)
from services.router.classifier import Classifier
from services.router.routing import RouteDecision, RoutingTable
from services.router.severity import DEFAULT, SeverityThresholds, assess_severity, assess_text
from services.router.sla import initial_deadlines

# What the department must do differently for a flagged complaint, said in its routing explanations.
FLAG_NOTES: dict[str, str] = {
    "no_contact": "no_contact: the customer left no phone, e-mail or social account we can answer on, so no "
    "notification reaches them; reach them another way (a hotline call-back, the contact details on file "
    "for their customer id or card) and record the contact",
    "attachment_only": "attachment_only: the mail has no text; the complaint is in its attachments (listed in "
    "the text), open them before deciding",
}

# Below this department confidence a routing is marked for review; its one default is the setting's
# (COMPLAINTFLOW_REVIEW_BELOW), which the router passes in.
REVIEW_BELOW: float = Settings.model_fields["review_below"].default


def decide(
    complaint: Complaint,
    *,
    classifier: Classifier,
    table: RoutingTable,
    repeat_count: int = 0,
    storm: bool = False,
    incident_id: str | None = None,
    now: datetime,
    sla_profile: str = "cn",
    holidays: frozenset[date] = frozenset(),
    tz: str = "Asia/Shanghai",
    thresholds: SeverityThresholds = DEFAULT,
    review_below: float = REVIEW_BELOW,
) -> RoutedComplaint:
    """``review_below``: a complaint whose department confidence is lower still goes to its best department (or
    where a routing rule on ``needs_review`` sends it), marked for review with the runner-up departments."""
    classification = classifier.classify(complaint.text, complaint.subject)
    needs_review = classification.confidence < review_below
    assessment = assess_severity(
        complaint, classification, repeat_count=repeat_count, storm=storm, thresholds=thresholds
    )
    route = table.route(
        classification.business_line,
        classification.reason,
        assessment.severity,
        complaint.channel,
        assessment.signals,
        needs_review=needs_review,
    )
    runner_ups = [
        DepartmentScore(department=Department(name), probability=probability)
        for name, probability in classification.departments
        if name != route.department.value
    ]
    explanations = [
        f"business line {classification.business_line} ({classification.line_confidence:.2f}), "
        f"reason {classification.reason} ({classification.reason_confidence:.2f})",
        *classification.explanations,
        f"severity {assessment.severity}",
        *assessment.explanations,
        route.explanation,
        *(FLAG_NOTES[flag] for flag in complaint.flags if flag in FLAG_NOTES),
    ]
    if needs_review:
        explanations.append(
            f"department confidence {classification.confidence:.2f} below {review_below:.2f}: marked for review; "
            + ", ".join(f"{r.department.value} {r.probability:.2f}" for r in runner_ups)
        )
    return RoutedComplaint(
        routing_id=stable_id("rte", complaint.complaint_id, "1"),
        revision=1,
        complaint=complaint,
        business_line=classification.business_line,
        reason=classification.reason,
        severity=assessment.severity,
        department=route.department,
        escalate_to=route.escalate_to,
        confidence=classification.confidence,
        signals=list(assessment.signals),
        explanations=explanations,
        rule=route.rule,
        repeat_count=repeat_count,
        incident_id=incident_id,
        deadlines=initial_deadlines(complaint.received_at, assessment.severity, sla_profile, holidays, tz),
        routed_at=now,
        needs_review=needs_review,
        runner_up_departments=runner_ups if needs_review else [],
    )


def routing_correction(
    routed: RoutedComplaint, update: StatusUpdate, target: Department, now: datetime
) -> RoutingCorrection:
    """A transfer read as a training label: the complaint's redacted text belongs to ``target``."""
    complaint = routed.complaint
    subject = complaint.redacted_subject
    return RoutingCorrection(
        correction_id=update.update_id,
        complaint_id=complaint.complaint_id,
        text=f"{subject}\n{complaint.redacted_text}" if subject else complaint.redacted_text,
        from_department=routed.department,
        to_department=target,
        reason=update.reason,
        at=now,
    )


def classify_record(
    obj: Any, classifier: Classifier, table: RoutingTable, review_below: float = REVIEW_BELOW
) -> dict[str, Any]:
    """The ``complaintflow classify`` contract: one JSON object in, one out; bad input yields ``error``; a routing
    below ``review_below`` adds ``needs_review`` and the runner-up departments."""
    return classify_records([obj], classifier, table, review_below)[0]


def classify_records(
    objs: Sequence[Any], classifier: Classifier, table: RoutingTable, review_below: float = REVIEW_BELOW
) -> list[dict[str, Any]]:
    """:func:`classify_record` for many records at once, through the classifier's batch path (faster)."""
    results: list[dict[str, Any] | None] = []
    pending: list[tuple[int, str, str | None, str | None]] = []
    for obj in objs:
        if not isinstance(obj, dict):
            results.append({"id": None, "error": "record must be a JSON object"})
            continue
        text = obj.get("text")
        if not isinstance(text, str) or not text.strip():
            results.append({"id": obj.get("id"), "error": "missing or empty 'text'"})
            continue
        subject = obj.get("subject") if isinstance(obj.get("subject"), str) else None
        channel = obj.get("channel") if isinstance(obj.get("channel"), str) and channel_info(obj["channel"]) else None
        pending.append((len(results), text, subject, channel))
        results.append(None)
    # The contract's output carries no explanations: skip building them.
    classifications = classifier.classify_many([(t, s) for _, t, s, _ in pending], explain=False)
    routes: dict[tuple[Any, ...], RouteDecision] = {}  # a batch repeats few distinct routing questions
    for (index, text, subject, channel), classification in zip(pending, classifications, strict=True):
        assessment = assess_text(f"{subject}\n{text}" if subject else text, classification)
        needs_review = classification.confidence < review_below
        question = (
            classification.business_line,
            classification.reason,
            assessment.severity,
            channel,
            assessment.signals,
            needs_review,
        )
        route = routes.get(question)
        if route is None:
            route = routes[question] = table.route(*question[:5], needs_review=needs_review)
        results[index] = {
            "id": objs[index].get("id"),
            "business_line": classification.business_line.value,
            "reason": classification.reason.value,
            "department": route.department.value,
            "severity": assessment.severity.value,
            "escalate_to": route.escalate_to.value if route.escalate_to else None,
            "confidence": classification.confidence,
            "signals": list(assessment.signals),
        }
        if needs_review:  # as on the routed record: the runner-up departments, so a reader can pass it on
            results[index] |= {
                "needs_review": True,
                "runner_up_departments": [
                    {"department": name, "probability": probability}
                    for name, probability in classification.departments
                    if name != route.department.value
                ],
            }
    return [r for r in results if r is not None]
