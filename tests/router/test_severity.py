"""Severity signals in Chinese and English and their mapping to critical/high/medium/low."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from domain.amounts import amounts_in_text
from schemas import (
    BusinessLine,
    Channel,
    Complaint,
    Language,
    Money,
    Reason,
    Severity,
    SocialDetails,
    complaint_id_for,
    complaint_number_for,
)
from services.router.classifier import Classification
from services.router.severity import (
    SIGNAL_PATTERNS,
    AmountThresholds,
    SeverityThresholds,
    assess_severity,
    assess_text,
)

SIGNAL_NAMES = set(SIGNAL_PATTERNS)


def make_complaint(text: str, **extra: object) -> Complaint:
    cid = complaint_id_for(Channel.webform, text[:20])
    received = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
    return Complaint(
        complaint_id=cid,
        complaint_number=complaint_number_for(cid, received.date()),
        channel=Channel.webform,
        channel_ref=text[:20],
        received_at=received,
        language=Language.zh,
        text=text,
        redacted_text=text,
        **extra,
    )


def classified(reason: Reason = Reason.other) -> Classification:
    return Classification(BusinessLine.other, reason, 0.5, 0.7, 0.7, ())


def test_plain_complaint_is_low() -> None:
    result = assess_text("网点的饮水机没有热水。", classified())
    assert (result.severity, result.signals) == (Severity.low, ())


@pytest.mark.parametrize(
    ("text", "signal"),
    [
        ("再不解决我就向银保监会投诉", "regulator_threat"),
        ("我要打12378热线", "regulator_threat"),
        ("I will file a complaint with the CFPB", "regulator_threat"),
        ("我会找记者把这件事曝光", "media_threat"),
        ("I am going to the local news with this", "media_threat"),
        ("我已经请了律师，准备起诉你们", "legal_threat"),
        ("My attorney will sue the bank", "legal_threat"),
        ("我父亲是八十岁的老人，行动不便", "vulnerable_customer"),
        ("I am a disabled veteran on a fixed income", "vulnerable_customer"),
        ("我的卡正在被盗刷，请马上处理", "fraud_in_progress"),
        ("Someone is using my card right now", "fraud_in_progress"),
        ("这是我给孩子看病的钱，我已经走投无路了", "distress"),
    ],
)
def test_signals_in_both_languages(text: str, signal: str) -> None:
    assert signal in assess_text(text, classified()).signals


def test_older_american_tag_from_flags() -> None:
    complaint = make_complaint("They keep charging fees.", flags=["Older American"])
    assert "vulnerable_customer" in assess_severity(complaint, classified()).signals


@pytest.mark.parametrize(
    ("text", "amount", "currency"),
    [
        ("被扣了{$1,250.00}", Decimal("1250.00"), "USD"),
        ("损失5000元", Decimal(5000), "CNY"),
        ("转走了20万", Decimal(200000), "CNY"),
        ("少了两万元", Decimal(20000), "CNY"),
        ("£300 fee", Decimal(300), "GBP"),
    ],
)
def test_amounts_found_in_text(text: str, amount: Decimal, currency: str) -> None:
    assert Money(amount=amount, currency=currency) in amounts_in_text(text)


def test_amount_thresholds_per_currency() -> None:
    assert assess_text("损失了6000元", classified()).severity is Severity.medium
    high = assess_text("理财亏了8万元", classified())
    assert (high.severity, high.signals) == (Severity.high, ("amount>=50000CNY",))
    assert assess_text("lost $150,000", classified()).severity is Severity.critical
    complaint = make_complaint("理财产品亏损", amount=Money(amount=Decimal(600000), currency="CNY"))
    assert assess_severity(complaint, classified()).severity is Severity.critical
    strict = SeverityThresholds(amounts={"CNY": AmountThresholds(Decimal(10), Decimal(100), Decimal(1000))})
    assert assess_text("扣了200元", classified(), thresholds=strict).signals == ("amount>=100CNY",)


def test_mapping_to_severity() -> None:
    assert assess_text("信用卡被盗刷了", classified(Reason.unauthorised_loss)).severity is Severity.critical
    assert assess_text("我要去银保监会投诉", classified()).severity is Severity.high
    assert assess_text("我要去银保监会投诉，还要找媒体曝光", classified()).severity is Severity.critical
    assert assess_text("年费乱收", classified(), repeat_count=1).severity is Severity.medium
    assert assess_text("年费乱收", classified(), repeat_count=2).severity is Severity.high
    assert assess_text("年费乱收", classified(), storm=True).severity is Severity.high
    assert assess_text("推销电话太多", classified(Reason.information_security)).severity is Severity.medium


def test_public_post_with_reach() -> None:
    big = SocialDetails(platform="weibo", post_id="1", public=True, followers=250_000, reposts=40)
    private = SocialDetails(platform="weibo", post_id="2", public=False, followers=250_000)
    small = SocialDetails(platform="weibo", post_id="3", public=True, followers=80, reposts=3)
    assert "public_post_reach" in assess_severity(make_complaint("排队太久", social=big), classified()).signals
    assert "public_post_reach" not in assess_severity(make_complaint("排队太久", social=private), classified()).signals
    assert assess_severity(make_complaint("排队太久", social=small), classified()).severity is Severity.low


def test_every_signal_is_explained() -> None:
    result = assess_text("老人的卡被盗刷了两万元，要找记者", classified(), repeat_count=1, storm=True)
    assert result.severity is Severity.critical
    assert set(result.signals) >= {
        "vulnerable_customer",
        "fraud_in_progress",
        "media_threat",
        "repeat_complaint",
        "storm",
        "amount>=5000CNY",
    }
    assert len(result.explanations) == len(result.signals) + 1


@pytest.mark.parametrize(
    "text",
    [
        "the issue went to court and i will sue the lender; my lawyers said so",
        "tissue paper, pursue, courtesy: none of these are threats",
        "我要去人民银行和12378投诉，还要找媒体曝光 scam in progress",
        "a12378 is not the hotline but 12378 is",
        "my elderly father was scammed; the cfpb and the news know",
        "",
    ],
)
def test_signal_scan_finds_what_a_word_boundary_search_finds(text: str) -> None:
    import re

    from services.router.severity import _SIGNAL_SCANNER, SIGNAL_PATTERNS

    expected = {}
    for name, pattern in SIGNAL_PATTERNS.items():
        latin = "|".join(w for w in pattern.words if w.isascii())
        cjk = "|".join(re.escape(w) for w in pattern.words if not w.isascii())
        reference = re.compile("|".join(p for p in (f"(?<![a-z])(?:{latin})(?![a-z])" if latin else "", cjk) if p))
        match = reference.search(text)
        if match:
            expected[name] = match.group(0)
    assert _SIGNAL_SCANNER.first_terms(text) == expected


@pytest.mark.parametrize(
    ("text", "signal"),
    [
        ("我今年七十八岁了，腿脚不好", "vulnerable_customer"),
        ("我妈今年八十多岁了，被推销了保险", "vulnerable_customer"),
        ("我年过七十，不会用手机银行", "vulnerable_customer"),
        ("七旬老母被推销了分红险", "vulnerable_customer"),
        ("我是退休职工", "vulnerable_customer"),
        ("I am 82 years old", "vulnerable_customer"),
        ("my 85-year-old mother signed it", "vulnerable_customer"),
        ("I am a senior citizen on a fixed income", "vulnerable_customer"),
        ("Older American", "vulnerable_customer"),
        ("假客服骗了五十万", "fraud_in_progress"),
        ("定期存款被人转走", "fraud_in_progress"),
        ("钱被转走了", "fraud_in_progress"),
        ("我的信用卡被盜刷了", "fraud_in_progress"),
        ("someone pretending to be from the bank called me", "fraud_in_progress"),
        ("There are three withdrawals I did not make on my statement", "fraud_in_progress"),
        ("再不处理我就去人行投诉", "regulator_threat"),
        ("我要向金融监管总局反映", "regulator_threat"),
        ("否則我會向金管會投訴", "regulator_threat"),
        ("I will report this to my state attorney general", "regulator_threat"),
        ("I have contacted the local news", "media_threat"),
        ("要发到网上让媒体曝光你们", "media_threat"),
        ("如果不退我就走法律途径", "legal_threat"),
        ("I have retained an attorney", "legal_threat"),
        ("I am facing eviction", "distress"),
        ("真的走投无路了", "distress"),
    ],
)
def test_real_wording_gives_the_signal(text: str, signal: str) -> None:
    assert signal in assess_text(text, classified()).signals


@pytest.mark.parametrize(
    "text",
    [
        "这只是员工的个人行为",  # 个人行为 holds 人行 (the central bank's short name)
        "首付款在资金监管账户里",  # 监管 of an escrow account, not the regulator
        "网点说这是人行的规定",  # the rule quoted, not a threat to go there
        "借记卡被冻结了，无法取款",  # a frozen card is not money being taken
        "手机银行系统崩溃了",  # a crashing system, not a breakdown of the customer
        "他们威胁要起诉我",  # the collector's threat, not the customer's
        "Good news: the refund arrived.",
        "The collector threatened me with legal action.",
        "I hold power of attorney for my father.",
        "There are unauthorized inquiries on my credit report.",
        "This debt is over 10 years old.",
        "My son is 8 years old.",
        "我孩子今年8岁",
    ],
)
def test_ordinary_wording_gives_no_signal(text: str) -> None:
    assert assess_text(text, classified()).signals == ()


def test_amounts_in_chinese_numerals_reach_their_threshold() -> None:
    fraud = assess_text("假客服骗了五十万", classified(Reason.unauthorised_loss))
    assert (fraud.severity, fraud.signals) == (Severity.critical, ("amount>=500000CNY", "fraud_in_progress"))
    assert assess_text("六十万到现在下落不明", classified()).signals == ("amount>=500000CNY",)
    assert assess_text("被扣了三千五", classified()).severity is Severity.low
    assert assess_text("被扣了六千多元", classified()).signals == ("amount>=5000CNY",)


HANDSET = [
    json.loads(line)
    for line in (Path(__file__).parent / "data" / "handset.jsonl").read_text(encoding="utf-8").splitlines()
    if line.strip()
]


@pytest.mark.parametrize("record", HANDSET, ids=[r["id"] for r in HANDSET])
def test_handset_severity_and_signals(record: dict[str, object]) -> None:
    """Severity with the case's own line and reason, so the department model being retrained does not move it."""
    labelled = Classification(
        BusinessLine(str(record["business_line"])), Reason(str(record["reason"])), 1.0, 1.0, 1.0, ()
    )
    result = assess_text(str(record["text"]), labelled)
    assert (result.severity.value, sorted(result.signals)) == (record["severity"], sorted(record["signals"]))


def test_handset_covers_every_signal_and_department_in_both_languages() -> None:
    from schemas import Department

    for lang in ("zh", "en"):
        records = [r for r in HANDSET if r["lang"] == lang]
        signals = {s.split(">=")[0] for r in records for s in r["signals"]}
        assert signals >= {"amount", *SIGNAL_NAMES}, lang
        assert {r["department"] for r in records} >= {d.value for d in Department} - {"consumer_protection"}, lang
        assert {r["severity"] for r in records} == {s.value for s in Severity}, lang


def test_a_fraud_signal_routes_to_fraud_whatever_the_model_says() -> None:
    from services.router.routing import RoutingTable

    table = RoutingTable.load()
    fraud = [r for r in HANDSET if "fraud_in_progress" in r["signals"]]
    assert len(fraud) >= 10
    for record in fraud:
        assert record["department"] == "fraud"
        for line, reason in ((BusinessLine.other, Reason.other), (BusinessLine.deposits_accounts, Reason.fees_pricing)):
            route = table.route(line, reason, Severity(record["severity"]), Channel.webform, tuple(record["signals"]))
            assert route.department.value == "fraud", record["id"]


@pytest.mark.parametrize(
    "text",
    [
        "I never authorized this inquiry and the unauthorized accounts are still on my report.",
        "My identity was stolen and these accounts are not mine.",
        "This payday loan is a scam: the interest is 400 percent.",
        "I feel like I was scammed by the loan officer's promises.",
    ],
)
def test_credit_report_and_lending_wording_is_not_fraud_in_progress(text: str) -> None:
    assert "fraud_in_progress" not in assess_text(text, classified()).signals


@pytest.mark.parametrize(
    "text",
    [
        "There are unauthorized charges on my debit card.",
        "Someone made unauthorized use of my credit card.",
        "My wallet was stolen and the cards were used the same day.",
        "I was the victim of a scam call and sent them $2,000.",
    ],
)
def test_money_being_taken_is_fraud_in_progress(text: str) -> None:
    assert "fraud_in_progress" in assess_text(text, classified()).signals
