"""Routing table: reason overrides, line defaults, escalations and clear errors for bad tables."""

from __future__ import annotations

from pathlib import Path

import pytest

from schemas import BusinessLine, Channel, Department, Reason, Severity
from services.router.routing import RoutingTable, RoutingTableError, signal_name

L, R, S = BusinessLine, Reason, Severity


@pytest.fixture(scope="module")
def table() -> RoutingTable:
    return RoutingTable.load()


@pytest.mark.parametrize(
    ("line", "reason", "department"),
    [
        (L.loans_mortgages, R.service_attitude, Department.branch_service),
        (L.deposits_accounts, R.queues_staffing, Department.branch_service),
        (L.other, R.staff_skill, Department.branch_service),
        (L.digital_channels, R.system_failure, Department.digital_channels),
        (L.debit_cards, R.system_failure, Department.digital_channels),
        (L.credit_cards, R.unauthorised_loss, Department.fraud),
        (L.payments_transfers, R.information_security, Department.fraud),
        (L.loans_mortgages, R.collection_conduct, Department.collections),
        (L.loans_mortgages, R.credit_report_error, Department.credit_reporting),
        (L.deposits_accounts, R.fees_pricing, Department.retail_banking),
        (L.debit_cards, R.operational_error, Department.retail_banking),
        (L.credit_cards, R.fees_pricing, Department.cards),
        (L.loans_mortgages, R.contract_terms, Department.lending),
        (L.payments_transfers, R.operational_error, Department.payments),
        (L.wealth_insurance, R.mis_selling, Department.wealth),
        (L.credit_reporting, R.other, Department.credit_reporting),
        (L.debt_collection, R.other, Department.collections),
        (L.other, R.other, Department.retail_banking),
    ],
)
def test_reason_overrides_line_then_line_decides(
    table: RoutingTable, line: BusinessLine, reason: Reason, department: Department
) -> None:
    decision = table.route(line, reason, S.low, Channel.webform, ())
    assert decision.department is department
    assert decision.escalate_to is None
    assert decision.rule in decision.explanation


def test_critical_and_threats_escalate_to_consumer_protection(table: RoutingTable) -> None:
    critical = table.route(L.credit_cards, R.unauthorised_loss, S.critical, Channel.hotline, ["fraud_in_progress"])
    assert (critical.department, critical.escalate_to) == (Department.fraud, Department.consumer_protection)
    threat = table.route(L.loans_mortgages, R.fees_pricing, S.high, Channel.email, ["regulator_threat"])
    assert threat.escalate_to is Department.consumer_protection
    assert "external_threat" in threat.explanation
    elderly = table.route(L.wealth_insurance, R.mis_selling, S.high, None, ["vulnerable_customer"])
    assert elderly.escalate_to is Department.consumer_protection
    amount_only = table.route(L.deposits_accounts, R.operational_error, S.high, None, ["amount>=50000CNY"])
    assert amount_only.escalate_to is None


def test_signals_are_matched_by_name() -> None:
    assert signal_name("amount>=50000CNY") == "amount"
    assert signal_name("storm") == "storm"
    table = RoutingTable.from_dict(
        {
            "default_department": "retail_banking",
            "rules": [
                {
                    "name": "big",
                    "when": {"signals_all": ["amount", "repeat_complaint"]},
                    "department": "wealth",
                }
            ],
        }
    )
    assert table.route(L.other, R.other, S.low, None, ["amount>=5000CNY", "repeat_complaint"]).department == "wealth"
    assert table.route(L.other, R.other, S.low, None, ["amount>=5000CNY"]).rule == "default"


def test_channel_and_severity_conditions() -> None:
    table = RoutingTable.from_dict(
        {
            "default_department": "retail_banking",
            "rules": [
                {
                    "name": "social_critical",
                    "when": {"channel": "social", "severity": ["critical", "high"]},
                    "department": "consumer_protection",
                    "escalate_to": "branch_service",
                }
            ],
        }
    )
    hit = table.route(L.other, R.other, S.high, Channel.social, ())
    assert (hit.department, hit.escalate_to, hit.rule) == (
        "consumer_protection",
        "branch_service",
        "social_critical",
    )
    assert table.route(L.other, R.other, S.high, Channel.email, ()).department == "retail_banking"


def test_needs_review_condition() -> None:
    table = RoutingTable.from_dict(
        {
            "default_department": "retail_banking",
            "rules": [
                {"name": "triage", "when": {"needs_review": True}, "department": "branch_service"},
                {"name": "cards", "when": {"business_line": "credit_cards"}, "department": "cards"},
            ],
        }
    )
    assert table.route(L.credit_cards, R.other, S.low, needs_review=True).department == "branch_service"
    assert table.route(L.credit_cards, R.other, S.low).department == "cards"
    assert RoutingTable.load().route(L.credit_cards, R.other, S.low, needs_review=True).department == "cards"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"rules": []}, "default_department is required"),
        ({"default_department": "treasury"}, "unknown department 'treasury'"),
        (
            {
                "default_department": "cards",
                "rules": [{"name": "x", "when": {"reason": "rude"}, "department": "cards"}],
            },
            "rules[0] 'x': unknown reason 'rude'",
        ),
        (
            {
                "default_department": "cards",
                "rules": [
                    {"name": "ok", "department": "cards"},
                    {"name": "bad", "when": {"product": "loan"}, "department": "cards"},
                ],
            },
            "rules[1] 'bad': unknown field 'product'",
        ),
        (
            {"default_department": "cards", "rules": [{"name": "y", "department": "lendng"}]},
            "rules[0] 'y' department: unknown department 'lendng'",
        ),
        (
            {"default_department": "cards", "rules": [{"name": "z", "when": {"reason": "other"}}]},
            "rules[0] 'z': department is required",
        ),
        (
            {
                "default_department": "cards",
                "rules": [{"name": "s", "when": {"signals_any": ["angry"]}, "department": "cards"}],
            },
            "unknown signal 'angry'",
        ),
        (
            {
                "default_department": "cards",
                "escalations": [{"name": "e", "when": {"severity": "urgent"}, "escalate_to": "consumer_protection"}],
            },
            "escalations[0] 'e': unknown severity 'urgent'",
        ),
        (
            {"default_department": "cards", "rules": [{"name": "k", "department": "cards", "then": 1}]},
            "rules[0] 'k': unknown key(s) ['then']",
        ),
        (
            {
                "default_department": "cards",
                "rules": [{"name": "t", "when": {"needs_review": "yes"}, "department": "branch_service"}],
            },
            "rules[0] 't': needs_review must be true or false",
        ),
        (["not", "a", "mapping"], "must be a mapping"),
    ],
)
def test_bad_tables_fail_with_clear_errors(data: object, message: str) -> None:
    with pytest.raises(RoutingTableError) as error:
        RoutingTable.from_dict(data)
    assert message in str(error.value)


def test_load_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "routing.yaml"
    path.write_text("default_department: nowhere\n", encoding="utf-8")
    with pytest.raises(RoutingTableError, match=r"routing\.yaml: default_department: unknown department"):
        RoutingTable.load(path)
    path.write_text("rules: [unclosed\n", encoding="utf-8")
    with pytest.raises(RoutingTableError, match="cannot read routing table"):
        RoutingTable.load(path)
