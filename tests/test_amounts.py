"""The one amount parser (intake and router alike): sums of money in Chinese and English complaint text."""

from __future__ import annotations

from decimal import Decimal

import pytest

from domain.amounts import amounts_in_text, chinese_numeral_value, extract_amount


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
        # Chinese numerals, with or without a currency word: the value, never the sum of the digits.
        ("假客服骗了五十万", "500000.00", "CNY"),
        ("六十万的定期存款", "600000.00", "CNY"),
        ("五十万元定期存款被人转走了", "500000.00", "CNY"),
        ("一百二十万", "1200000.00", "CNY"),
        ("被扣了三千五", "3500.00", "CNY"),
        ("三千五百元", "3500.00", "CNY"),
        ("两万", "20000.00", "CNY"),
        ("十万八千块", "108000.00", "CNY"),
        ("壹万元整", "10000.00", "CNY"),
        ("被骗走了二十多万", "200000.00", "CNY"),
        ("三十几万的理财", "300000.00", "CNY"),
        ("一千万", "10000000.00", "CNY"),
        ("2.5万", "25000.00", "CNY"),
        ("1.2亿", "120000000.00", "CNY"),
        ("1200元", "1200.00", "CNY"),
        ("损失了约3万元", "30000.00", "CNY"),
        ("骗了3000", "3000.00", "CNY"),
        ("¥1,200.50", "1200.50", "CNY"),
        ("$3,000", "3000.00", "USD"),
        ("USD 3000", "3000.00", "USD"),
        ("$1,200.50", "1200.50", "USD"),
        ("1,200 dollars", "1200.00", "USD"),
        ("a $3k fee", "3000.00", "USD"),
        ("3 thousand dollars", "3000.00", "USD"),
        ("a balance of {$8,400.00} was sold", "8400.00", "USD"),
        ("汇了两千美元", "2000.00", "USD"),
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
    [
        "2026年11月20日",
        "粉丝3万人",
        "我打了95533",
        "等了40分钟",
        "",
        "card ending 1111",
        "5m away",
        "我今年七十八岁了",
        "I am 82 years old",
        "事情十万火急",
        "千万不要相信",
        "万一被盗怎么办",
        "差了十万八千里",
        "每天走一万步",
        "转了3次",
        "还了12期",
        "三千五",  # a bare small numeral with no money word or verb is not read as money
        "我取了一下钱",  # a lone digit after a verb is a count
        "扣了两次",
        "about 3k people",
    ],
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
    assert chinese_numeral_value("五十万") == 500_000
    assert chinese_numeral_value("六十万") == 600_000
    assert chinese_numeral_value("一百二十万") == 1_200_000
    assert chinese_numeral_value("三千五") == 3500
    assert chinese_numeral_value("十万八千") == 108_000
    assert chinese_numeral_value("壹万") == 10_000


def test_every_amount_is_listed() -> None:
    assert [(m.amount, m.currency) for m in amounts_in_text("年费680元，另外理财损失5万元，还有$20")] == [
        (Decimal("680.00"), "CNY"),
        (Decimal("50000.00"), "CNY"),
        (Decimal("20.00"), "USD"),
    ]


def test_bounded_and_total() -> None:
    assert extract_amount("9" * 40 + "元") is None  # beyond any plausible amount
    assert extract_amount("元" * 50_000 + "1" * 5000) is None
