"""The shipped classifier on case-book Chinese cases, English complaints and the hand-written set."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from schemas import BusinessLine, Reason, Severity
from services.router.classifier import DEFAULT_MODEL_PATH, Classifier, analyse
from services.router.routing import RoutingTable
from tools.model.labels import PRODUCT_LINES, line_for_product, reason_for
from tools.model.training import DEFAULT_CSV

HANDSET = Path(__file__).parent / "data" / "handset.jsonl"
TRAINING_CSV = DEFAULT_CSV


@pytest.fixture(scope="module")
def classifier() -> Classifier:
    return Classifier.load()


@pytest.fixture(scope="module")
def table() -> RoutingTable:
    return RoutingTable.load()


def test_model_file_is_small_and_loads() -> None:
    assert DEFAULT_MODEL_PATH.stat().st_size < 4 * 1024 * 1024
    assert Classifier.load().classify("我的信用卡被盗刷了").business_line is BusinessLine.credit_cards


@pytest.mark.parametrize(
    ("text", "line", "reason", "department"),
    [
        # Case book: insurance sold as if it were a deposit, returns below a time deposit.
        (
            "在网点办理的人寿保险到期支取，收益比同期定期存款少了五千元，当初理财经理说比存款划算，这是误导销售。",
            BusinessLine.wealth_insurance,
            Reason.mis_selling,
            "wealth",
        ),
        # Case book: credit-card annual fee nobody mentioned.
        (
            "路边办的信用卡一直没用，现在扣了年费，办卡时什么费用都没说。",
            BusinessLine.credit_cards,
            Reason.fees_pricing,
            "cards",
        ),
        # Case book: remittance sent to the wrong account.
        (
            "柜员操作失误把我的汇款汇错了账户，钱到了陌生人名下。",
            BusinessLine.payments_transfers,
            Reason.operational_error,
            "payments",
        ),
        # Case book: ATM swallowed the cash.
        (
            "ATM取款机出错吞钱了，账户却扣了两千元。",
            BusinessLine.digital_channels,
            Reason.system_failure,
            "digital_channels",
        ),
        # Case book: SMS alerts not received.
        (
            "开通了短信提醒，可是动账以后一直收不到短信。",
            BusinessLine.digital_channels,
            Reason.system_failure,
            "digital_channels",
        ),
        # Case book: a lost card, then money gone.
        (
            "借记卡丢了已经挂失，账户里的钱还是被盗刷了。",
            BusinessLine.debit_cards,
            Reason.unauthorised_loss,
            "fraud",
        ),
        # Case book: queue jumping with one window open.
        ("网点只开了一个窗口，排队两个小时，还有人插队。", None, Reason.queues_staffing, "branch_service"),
        ("柜员态度恶劣，对我很不耐烦。", None, Reason.service_attitude, "branch_service"),
        (
            "催收公司天天打电话给家人，暴力催收。",
            BusinessLine.debt_collection,
            Reason.collection_conduct,
            "collections",
        ),
        (
            "征信报告上有一条不良记录，我从没逾期过。",
            BusinessLine.credit_reporting,
            Reason.credit_report_error,
            "credit_reporting",
        ),
        (
            "I was charged three overdraft fees on my checking account in one day.",
            BusinessLine.deposits_accounts,
            Reason.fees_pricing,
            "retail_banking",
        ),
        (
            "My credit card issuer charged an annual fee that was never disclosed.",
            BusinessLine.credit_cards,
            Reason.fees_pricing,
            "cards",
        ),
        (
            "Equifax keeps reporting a collection account that is not mine on my credit report.",
            BusinessLine.credit_reporting,
            Reason.credit_report_error,
            "credit_reporting",
        ),
        (
            "The mobile banking app crashes every time I try to log in.",
            BusinessLine.digital_channels,
            Reason.system_failure,
            "digital_channels",
        ),
        (
            "My payday lender took two payments from my bank account in one week and charged a late fee.",
            BusinessLine.loans_mortgages,
            None,
            "lending",
        ),
    ],
)
def test_cases_land_in_the_right_place(
    classifier: Classifier,
    table: RoutingTable,
    text: str,
    line: BusinessLine | None,
    reason: Reason | None,
    department: str,
) -> None:
    result = classifier.classify(text)
    if line is not None:
        assert result.business_line is line, result
    if reason is not None:
        assert result.reason is reason, result
    assert table.route(result.business_line, result.reason, Severity.low).department == department, result


def test_confidences_are_probabilities_and_explained(classifier: Classifier) -> None:
    result = classifier.classify("我的信用卡被盗刷了", subject="投诉")
    for value in (result.confidence, result.line_confidence, result.reason_confidence):
        assert 0.0 <= value <= 1.0
    # confidence is the calibrated probability of the department, the first of the ranked departments.
    assert result.departments[0] == ("fraud", result.confidence)
    assert [p for _, p in result.departments] == sorted((p for _, p in result.departments), reverse=True)
    assert sum(p for _, p in result.departments) <= 1.0 + 1e-3
    assert "lexicon: 信用卡 → credit_cards" in result.explanations


def test_classify_many_matches_classify(classifier: Classifier) -> None:
    items = [("Zelle scam took $900 from my account", None), ("手机银行无法登录", "手机银行"), ("", None)]
    assert classifier.classify_many(items) == [classifier.classify(t, s) for t, s in items]
    assert classifier.classify_many([]) == []


def test_text_without_any_clue_is_other_with_low_confidence(classifier: Classifier) -> None:
    result = classifier.classify("你好")
    assert result.business_line is BusinessLine.other
    assert result.confidence < 0.3


def test_features_cover_english_words_and_chinese_characters() -> None:
    features = analyse("Credit card 盗刷 XXXX")
    assert {"credit", "card", "credit card", "盗", "刷", "盗刷"} <= set(features)
    assert not any("xx" in f for f in features)


def test_handset_accuracy(classifier: Classifier, table: RoutingTable) -> None:
    from services.router.decide import classify_record

    records = [json.loads(line) for line in HANDSET.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert {r["lang"] for r in records} == {"zh", "en"}
    hits = {"zh": [], "en": []}
    for record in records:
        out = classify_record({"id": record["id"], "text": record["text"]}, classifier, table)
        hits[record["lang"]].append(out["department"] == record["department"])
    for lang, values in hits.items():
        assert sum(values) / len(values) >= 0.9, lang


@pytest.mark.skipif(not TRAINING_CSV.exists(), reason="training file not present")
def test_every_training_product_and_issue_is_mapped() -> None:
    with open(TRAINING_CSV, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert {r["product"] for r in rows if line_for_product(r["product"]) is None} == set()
    for row in rows:
        line = line_for_product(row["product"])
        assert line is not None
        _, origin = reason_for(line, row["issue"], row["narrative"])
        assert origin != "issue" or row["issue"]
    for old_name in (
        "Bank account or service",
        "Credit card",
        "Prepaid card",
        "Payday loan",
        "Consumer Loan",
        "Money transfers",
        "Virtual currency",
        "Credit reporting, credit repair services, or other personal consumer reports",
    ):
        assert old_name.lower() in PRODUCT_LINES


def test_batch_vectoriser_matches_the_training_analyser(classifier: Classifier) -> None:
    from itertools import repeat

    import numpy as np

    texts = [
        "My credit card issuer charged an annual fee; the credit card company ignored me. XXXX XXXX",
        "信用卡被盗刷了，credit card stolen",
        "",
        "the the of",
    ]
    matrix = classifier.vectorise(texts).toarray()
    for row, text in zip(matrix, texts, strict=True):
        columns = [c for c in map(classifier._vocabulary.get, analyse(text), repeat(None)) if c is not None]
        assert set(np.flatnonzero(row)) == set(columns)


def test_tokens_are_words_of_two_letters_or_more() -> None:
    import re

    from services.router.lexicon import tokens

    for text in ["émile a-b cd\tef gh's 信用卡ok x", "xxxx/xx/xxxx {$100.00} zelle", ""]:
        assert tokens(text) == re.findall(r"[a-z]{2,}", text)


def test_classify_records_keeps_order_and_errors(classifier: Classifier, table: RoutingTable) -> None:
    from services.router.decide import classify_records

    records = [{"id": "1", "text": "信用卡被盗刷"}, "not an object", {"id": "3"}, {"id": "4", "text": "ATM吞卡"}]
    out = classify_records(records, classifier, table)
    assert [o["id"] for o in out] == ["1", None, "3", "4"]
    assert "error" in out[1] and "error" in out[2]
    assert out[0]["department"] == "fraud"
    without = classifier.classify_many([("信用卡被盗刷", None)], explain=False)[0]
    assert without.explanations == ()
    assert without.business_line == classifier.classify("信用卡被盗刷").business_line
