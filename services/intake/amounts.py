"""The amount at stake in a complaint, read from free text in Chinese or English.

Recognised forms: ``¥1,234.50``, ``￥500``, ``RMB 2000``, ``CNY 2,000``, ``人民币3000元``, ``5000元``,
``5万元`` / ``5万`` / ``1.2亿元``, ``三千元`` / ``两万五千块``, ``$100``, ``US$ 1,000``, ``USD 20``,
``200 dollars``, ``100美元``, CFPB's ``{$100.00}``, and ``HK$``/``€``/``£`` for completeness.

When several amounts appear the largest one is returned, compared in rough CNY terms
(:data:`ROUGH_CNY_RATE`) only to pick one; the returned ``Money`` keeps its own currency.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from schemas import Money

MAX_AMOUNT = Decimal("1000000000000")  # 1e12: anything larger is a misread reference number
ROUGH_CNY_RATE = {
    "CNY": Decimal(1),
    "USD": Decimal(7),
    "HKD": Decimal("0.9"),
    "EUR": Decimal(8),
    "GBP": Decimal(9),
}

# One scan finds the numbers; the few characters around each decide whether it is money and in what
# currency. Much cheaper than one regex per currency form, each retrying at every digit.
_NUMBER_RE = re.compile(r"(?<![\d.,])(?:\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)")
_PREFIX_RE = re.compile(r"(\{\$|US\$|USD|U\.S\.\s?\$|HK\$|\$|€|£|¥|￥|RMB|CNY|人民币)\s*$", re.I)
_SUFFIX_RE = re.compile(
    r"\s*(万|亿|千|百|(?:k|m|million|billion|thousand)(?![A-Za-z]))?\s*"
    r"(元|块钱|块|圆|人民币|RMB|CNY|yuan|USD|US dollars?|dollars?|bucks|美元|美金|"
    r"港币|港元|HKD|欧元|EUR|euros?)?"
    r"(?![A-Za-z])",
    re.I,
)
# A bare 万/亿 after a number is money in complaints ("被骗了20万"), unless a counting word follows.
_COUNT_WORD_RE = re.compile(r"\s*(?:人|次|户|股|条|個|个|名|张|份|笔|公里|步|字|粉|阅读|播放|多人|余人)")
_CURRENCY_OF = {
    "{$": "USD", "us$": "USD", "usd": "USD", "$": "USD", "u.s.$": "USD", "u.s. $": "USD", "hk$": "HKD",
    "€": "EUR", "£": "GBP", "¥": "CNY", "￥": "CNY", "rmb": "CNY", "cny": "CNY", "人民币": "CNY",
    "元": "CNY", "块钱": "CNY", "块": "CNY", "圆": "CNY", "yuan": "CNY",
    "us dollar": "USD", "us dollars": "USD", "dollar": "USD", "dollars": "USD", "bucks": "USD", "美元": "USD",
    "美金": "USD", "港币": "HKD", "港元": "HKD", "hkd": "HKD", "欧元": "EUR", "eur": "EUR", "euro": "EUR",
    "euros": "EUR",
}  # fmt: skip

_CN_DIGITS = {
    "零": 0, "〇": 0, "一": 1, "壹": 1, "二": 2, "贰": 2, "两": 2, "三": 3, "叁": 3, "四": 4, "肆": 4,
    "五": 5, "伍": 5, "六": 6, "陆": 6, "七": 7, "柒": 7, "八": 8, "捌": 8, "九": 9, "玖": 9,
}  # fmt: skip
_CN_SMALL_UNITS = {"十": 10, "拾": 10, "百": 100, "佰": 100, "千": 1000, "仟": 1000}
_CN_BIG_UNITS = {"万": 10_000, "萬": 10_000, "亿": 100_000_000, "億": 100_000_000}
_CN_NUMERAL_RE = re.compile(
    r"([零〇一壹二贰两三叁四肆五伍六陆七柒八捌九玖十拾百佰千仟万萬亿億]{1,20})\s*(?:元|块钱|块|圆)"
)

_SCALE_FACTORS = {
    "万": Decimal(10_000), "亿": Decimal(100_000_000), "千": Decimal(1000), "百": Decimal(100),
    "k": Decimal(1000), "thousand": Decimal(1000), "m": Decimal(1_000_000), "million": Decimal(1_000_000),
    "billion": Decimal(1_000_000_000),
}  # fmt: skip


def chinese_numeral_value(numeral: str) -> int | None:
    """Value of a simple Chinese numeral such as 三千, 两万五千, 一千零五, 十五, 两万五; None if malformed."""
    total = section = 0
    digit: int | None = None
    last_unit = 0
    for char in numeral:
        if char in _CN_DIGITS:
            if digit:
                return None  # two digits in a row ("一二三") is a reading of digits, not a numeral
            digit = _CN_DIGITS[char]
        elif char in _CN_SMALL_UNITS:
            last_unit = _CN_SMALL_UNITS[char]
            section += (1 if digit is None else digit) * last_unit
            digit = None
        elif char in _CN_BIG_UNITS:
            last_unit = _CN_BIG_UNITS[char]
            if last_unit == 10_000:
                total += (section + (digit or 0)) * last_unit
            else:
                total = (total + section + (digit or 0)) * last_unit
            section, digit = 0, None
        else:
            return None
    if digit and last_unit >= 100 and numeral[-2] not in _CN_DIGITS:
        digit *= last_unit // 10  # spoken short form: 两万五 = 25000, 三千五 = 3500
    return (total + section + (digit or 0)) or None


def _to_decimal(number: str, scale: str | None) -> Decimal | None:
    try:
        value = Decimal(number.replace(",", ""))
    except (InvalidOperation, ValueError):
        return None
    if scale:
        value *= _SCALE_FACTORS.get(scale.lower(), Decimal(1))
    return value


def _currency_around(text: str, start: int, end: int) -> tuple[str | None, str | None]:
    """(currency, scale word) for the number at text[start:end], or (None, None) when it is not money."""
    prefix = _PREFIX_RE.search(text, max(0, start - 8), start)
    suffix = _SUFFIX_RE.match(text, end, end + 24)
    scale = suffix.group(1) if suffix else None
    unit = suffix.group(2) if suffix else None
    if prefix:
        return _CURRENCY_OF.get(" ".join(prefix.group(1).lower().split()), "USD"), scale
    if unit:
        return _CURRENCY_OF.get(unit.lower(), "CNY"), scale
    if scale in ("万", "亿") and suffix and not _COUNT_WORD_RE.match(text, suffix.end(), suffix.end() + 4):
        return "CNY", scale
    return None, None


def _candidates(text: str) -> list[tuple[Decimal, str]]:
    found: list[tuple[Decimal, str]] = []
    for match in _NUMBER_RE.finditer(text):
        currency, scale = _currency_around(text, match.start(), match.end())
        if currency is None:
            continue
        value = _to_decimal(match.group(0), scale)
        if value is not None and 0 < value <= MAX_AMOUNT:
            found.append((value, currency))
    for match in _CN_NUMERAL_RE.finditer(text):
        numeral_value = chinese_numeral_value(match.group(1))
        if numeral_value and numeral_value <= MAX_AMOUNT:
            found.append((Decimal(numeral_value), "CNY"))
    return found


def extract_amount(text: str) -> Money | None:
    """The largest amount of money named in ``text``, or None. Never raises."""
    try:
        found = _candidates(text[:20_000])
        if not found:
            return None
        value, currency = max(found, key=lambda item: item[0] * ROUGH_CNY_RATE.get(item[1], Decimal(1)))
        return Money(amount=value.quantize(Decimal("0.01")), currency=currency)
    except Exception:
        return None
