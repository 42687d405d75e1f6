"""Amounts at stake in Chinese and English complaint text."""

from __future__ import annotations

from decimal import Decimal

import pytest

from services.intake.amounts import chinese_numeral_value, extract_amount


@pytest.mark.parametrize(
    ("text", "amount", "currency"),
    [
        ("被盗刷三笔，合计人民币 52,380.00 元", "52380.00", "CNY"),
        ("理财亏了5万元", "50000.00", "CNY"),
        ("被骗了20万，心急如焚", "200000.00", "CNY"),
        ("共计1.2亿元", "120000000.00", "CNY"),
        ("扣了我¥1,234.50", "1234.50", "CNY"),
        ("￥500的年费", "500.00", "CNY"),
        ("转账RMB 2000失败", "2000.00", "CNY"),
        ("CNY 12,000.00 was debited", "12000.00", "CNY"),
        ("损失三千元", "3000.00", "CNY"),
        ("两万五千块没了", "25000.00", "CNY"),
        ("I was charged {$100.00} in fees", "100.00", "USD"),
        ("a fee of $1,250.00", "1250.00", "USD"),
        ("US$ 3,000 wire", "3000.00", "USD"),
        ("USD 20,000 sent", "20000.00", "USD"),
        ("they took 200 dollars", "200.00", "USD"),
        ("汇款100美元", "100.00", "USD"),
        ("$5 million lawsuit", "5000000.00", "USD"),
        ("匯款港幣 HK$12,000", "12000.00", "HKD"),
    ],
)
def test_forms(text: str, amount: str, currency: str) -> None:
    money = extract_amount(text)
    assert money is not None
    assert (money.amount, money.currency) == (Decimal(amount), currency)


def test_largest_amount_wins() -> None:
    money = extract_amount("先扣了{$100.00}，后来又扣了{$2,500.00}，手续费¥35")
    assert money is not None and money.amount == Decimal("2500.00") and money.currency == "USD"
    money = extract_amount("年费680元，另外理财损失5万元")
    assert money is not None and money.amount == Decimal("50000.00")


@pytest.mark.parametrize(
    "text",
    ["2026年11月20日", "粉丝3万人", "我打了95533", "等了40分钟", "", "card ending 1111", "5m away"],
)
def test_no_amount(text: str) -> None:
    assert extract_amount(text) is None


def test_chinese_numerals() -> None:
    assert chinese_numeral_value("三千") == 3000
    assert chinese_numeral_value("一千零五") == 1005
    assert chinese_numeral_value("十五") == 15
    assert chinese_numeral_value("两万五") == 25000
    assert chinese_numeral_value("一亿三千万") == 130_000_000
    assert chinese_numeral_value("一二三") is None


def test_bounded_and_total() -> None:
    assert extract_amount("9" * 40 + "元") is None  # beyond any plausible amount
    assert extract_amount("元" * 50_000 + "1" * 5000) is None
