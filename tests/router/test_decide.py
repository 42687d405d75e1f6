"""decide() builds the RoutedComplaint; classify_record() keeps the CLI contract."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import yaml

from schemas import (
    BusinessLine,
    Channel,
    Complaint,
    Department,
    Language,
    Reason,
    RoutedComplaint,
    Severity,
    complaint_id_for,
    complaint_number_for,
    stable_id,
)
from services.router.classifier import Classifier
from services.router.decide import classify_record, classify_records, decide
from services.router.routing import DEFAULT_TABLE_PATH, RoutingTable

NOW = datetime(2026, 11, 20, 2, 5, tzinfo=UTC)


@pytest.fixture(scope="module")
def classifier() -> Classifier:
    return Classifier.load()


@pytest.fixture(scope="module")
def table() -> RoutingTable:
    return RoutingTable.load()


def complaint(text: str, channel: Channel = Channel.hotline, subject: str | None = None) -> Complaint:
    cid = complaint_id_for(channel, text)
    received = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
    return Complaint(
        complaint_id=cid,
        complaint_number=complaint_number_for(cid, received.date()),
        channel=channel,
        channel_ref=text,
        received_at=received,
        language=Language.zh,
        subject=subject,
        text=text,
        redacted_text=text,
    )


def test_decide_fraud_in_progress(classifier: Classifier, table: RoutingTable) -> None:
    item = complaint("我的信用卡昨晚被盗刷了三笔，一共两万元，请马上冻结。")
    routed = decide(item, classifier=classifier, table=table, now=NOW)
    assert isinstance(routed, RoutedComplaint)
    assert routed.routing_id == stable_id("rte", item.complaint_id, "1") and routed.revision == 1
    assert (routed.business_line, routed.reason) == (BusinessLine.credit_cards, Reason.unauthorised_loss)
    assert routed.department is Department.fraud
    assert routed.severity is Severity.critical and routed.escalate_to is Department.consumer_protection
    assert "fraud_in_progress" in routed.signals and "amount>=5000CNY" in routed.signals
    assert routed.deadlines.first_contact_by == item.received_at + timedelta(hours=2)
    assert routed.routed_at == NOW and routed.rule
    assert any(e.startswith("lexicon: 信用卡") for e in routed.explanations)
    assert any("rule" in e for e in routed.explanations)


def test_decide_branch_attitude_repeat_and_storm(classifier: Classifier, table: RoutingTable) -> None:
    item = complaint("柜员态度恶劣，对我很不耐烦，还跟我吵架。", Channel.webform)
    routed = decide(
        item,
        classifier=classifier,
        table=table,
        repeat_count=2,
        storm=True,
        incident_id="inc_1",
        now=NOW,
        sla_profile="uk",
        tz="Europe/London",
    )
    assert routed.department is Department.branch_service
    assert routed.severity is Severity.high
    assert {"repeat_complaint", "storm"} <= set(routed.signals)
    assert (routed.repeat_count, routed.incident_id, routed.deadlines.profile) == (2, "inc_1", "uk")


def test_decide_is_deterministic(classifier: Classifier, table: RoutingTable) -> None:
    item = complaint("My mortgage payment was misapplied to escrow", Channel.email, subject="Mortgage")
    first = decide(item, classifier=classifier, table=table, now=NOW)
    assert first == decide(item, classifier=classifier, table=table, now=NOW)
    assert first.department is Department.lending


def test_classify_record_contract(classifier: Classifier, table: RoutingTable) -> None:
    out = classify_record(
        {"id": "a1", "text": "手机银行一直闪退，无法登录，我要向银保监会投诉", "channel": "social"},
        classifier,
        table,
    )
    assert set(out) == {
        "id",
        "business_line",
        "reason",
        "department",
        "severity",
        "escalate_to",
        "confidence",
        "signals",
    }
    assert out["id"] == "a1" and out["department"] == "digital_channels"
    assert out["severity"] == "high" and out["escalate_to"] == "consumer_protection"
    assert out["signals"] == ["regulator_threat"] and 0 <= out["confidence"] <= 1


def test_classify_record_quiet_complaint_has_null_escalation(classifier: Classifier, table: RoutingTable) -> None:
    out = classify_record({"id": 7, "text": "Annual fee on my credit card", "subject": "fee"}, classifier, table)
    assert (out["department"], out["escalate_to"], out["severity"]) == ("cards", None, "low")


@pytest.mark.parametrize("record", [{"id": "x"}, {"id": "x", "text": "  "}, {"id": "x", "text": 5}])
def test_classify_record_without_text_reports_an_error(
    classifier: Classifier, table: RoutingTable, record: dict[str, object]
) -> None:
    assert classify_record(record, classifier, table) == {"id": "x", "error": "missing or empty 'text'"}
    assert "error" in classify_record(["not", "an", "object"], classifier, table)


def test_classify_records_matches_one_by_one(classifier: Classifier, table: RoutingTable) -> None:
    records = [
        {"id": "1", "text": "转账汇错了账户"},
        {"id": "2"},
        "junk",
        {"id": "3", "text": "Zelle scam", "subject": "fraud", "channel": "email"},
    ]
    assert classify_records(records, classifier, table) == [classify_record(r, classifier, table) for r in records]


def test_flagged_complaints_tell_the_department_what_to_do(classifier: Classifier, table: RoutingTable) -> None:
    item = complaint("来电反映网银转账失败但扣了款，对方没有收到，要求尽快处理。")
    withheld = item.model_copy(update={"flags": ["no_contact"]})
    routed = decide(withheld, classifier=classifier, table=table, now=NOW)
    assert "no_contact" in routed.complaint.flags
    assert any(e.startswith("no_contact:") and "call-back" in e for e in routed.explanations)
    plain = decide(item, classifier=classifier, table=table, now=NOW)
    assert not any(e.startswith(("no_contact:", "attachment_only:")) for e in plain.explanations)


# --- review marking and the triage rule ----------------------------------------------------------------

VAGUE = "I have a problem with my account and nobody helps me."


def test_low_confidence_is_marked_for_review_with_runner_ups(classifier: Classifier, table: RoutingTable) -> None:
    item = complaint(VAGUE, Channel.email)
    confidence = classifier.classify(VAGUE).confidence
    routed = decide(item, classifier=classifier, table=table, now=NOW, review_below=min(1.0, confidence + 0.01))
    assert routed.needs_review
    assert routed.confidence == confidence
    runner_ups = [(r.department.value, r.probability) for r in routed.runner_up_departments]
    assert runner_ups and routed.department.value not in {d for d, _ in runner_ups}
    assert [p for _, p in runner_ups] == sorted((p for _, p in runner_ups), reverse=True)
    assert any("marked for review" in e for e in routed.explanations)
    # Same department as without review: the complaint still goes to its best department.
    plain = decide(item, classifier=classifier, table=table, now=NOW, review_below=0.0)
    assert not plain.needs_review and plain.runner_up_departments == []
    assert plain.department == routed.department


def test_triage_rule_takes_complaints_marked_for_review(classifier: Classifier, table: RoutingTable) -> None:
    # The shipped table with the commented-out triage rule of routing.yaml switched on.
    data = yaml.safe_load(DEFAULT_TABLE_PATH.read_text(encoding="utf-8"))
    rule = {"name": "low_confidence_triage", "when": {"needs_review": True}, "department": "branch_service"}
    triage = RoutingTable.from_dict({**data, "rules": [rule, *data["rules"]]})
    item = complaint(VAGUE, Channel.email)
    best = decide(item, classifier=classifier, table=table, now=NOW, review_below=1.0)
    routed = decide(item, classifier=classifier, table=triage, now=NOW, review_below=1.0)
    assert routed.department is Department.branch_service and routed.rule == "low_confidence_triage"
    assert routed.needs_review
    if best.department is not Department.branch_service:  # the model's best department is among the runner-ups
        assert best.department in {r.department for r in routed.runner_up_departments}
    confident = decide(item, classifier=classifier, table=triage, now=NOW, review_below=0.0)
    assert confident.department == best.department and confident.rule != "low_confidence_triage"


def test_classify_contract_marks_a_doubtful_routing_for_review(classifier: Classifier, table: RoutingTable) -> None:
    record = {"id": "7", "text": VAGUE}
    doubtful = classify_record(record, classifier, table, review_below=1.0)
    assert doubtful["needs_review"] is True
    runner_ups = doubtful["runner_up_departments"]
    assert runner_ups and doubtful["department"] not in {r["department"] for r in runner_ups}
    assert "needs_review" not in classify_record(record, classifier, table, review_below=0.0)
