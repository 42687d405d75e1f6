"""Sums of money named in complaint text, Chinese or English: the one amount parser of the product.

The intake reads the amount at stake of every complaint with it and the router's severity reads the sums of a
text it classifies (``complaintflow classify``) with it, so both read ``五十万`` as 500,000. Pure, no I/O.

Recognised forms: ``¥1,234.50``, ``￥500``, ``RMB 2000``, ``CNY 2,000``, ``人民币3000元``, ``5000元``,
``5万元`` / ``5万`` / ``2.5万`` / ``1.2亿元``, Chinese numerals (``三千元``, ``两万五千块``, ``五十万``, ``一百二十万``,
``十万八千``, financial ``壹万元``), ``$100``, ``US$ 1,000``, ``USD 20``, ``200 dollars``, ``$3k``, ``100美元``,
CFPB's ``{$100.00}``, and ``HK$``/``€``/``£``. A bare number is money when a Chinese money verb comes just
before it (``骗了3000``, ``扣了三千五``) or, for a ten-thousands or hundred-millions figure (``被骗了20万``,
``五十万``), unless a counting word follows (``粉丝3万人``, ``走了一万步``); idioms (``十万火急``, ``千万别``,
``万一``) are not money.

When several amounts appear :func:`extract_amount` returns the largest one, compared in rough CNY terms
(:data:`ROUGH_CNY_RATE`) only to pick one; the returned ``Money`` keeps its own currency.
"""

from __future__ import annotations

import re
from bisect import bisect_left
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
# Runs of digits are found first (a pattern opening with a plain character set is scanned for at C speed), and
# each run not glued to a "." or "," before it is read as a number from its start.
_RUN_RE = re.compile(r"[0-9][0-9,.]*")  # not \d: a plain character set is scanned for several times faster
_NUMBER_RE = re.compile(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?")
_PREFIX_RE = re.compile(r"(\{\$|US\$|USD|U\.S\.\s?\$|HK\$|\$|€|£|¥|￥|RMB|CNY|人民币)\s*$", re.I)
_SUFFIX_RE = re.compile(
    r"\s*(?:[多余几来]\s*)?(万|亿|千|百|(?:k|m|million|billion|thousand)(?![A-Za-z]))?\s*"
    r"(元|块钱|块|圆|人民币|RMB|CNY|yuan|USD|US dollars?|dollars?|bucks|美元|美金|"
    r"港币|港元|HKD|欧元|EUR|euros?)?"
    r"(?![A-Za-z])",
    re.I,
)
# A bare 万/亿 after a number is money in complaints ("被骗了20万"), unless a counting word follows.
_COUNT_WORD_RE = re.compile(
    r"\s*(?:多|余|来)?\s*(?:人|次|户|股|条|個|个|名|张|份|笔|公里|米|步|字|粉|阅读|播放|年|月|日|天|号|期|岁|小时|"
    r"分|秒|周|遍|家|位|件|台|辆|套|平|亩|斤|公斤|克|页|元素|积分|里程)"
)
# A bare number just after one of these verbs is a sum of money ("骗了3000", "扣了三千五", "损失2.5万").
_MONEY_VERB_RE = re.compile(
    r"(?:骗了|骗走|骗去|被骗|扣了|扣走|扣除|被扣|多扣|损失|损失了|亏了|亏损|亏损了|转走|转走了|转了|被转|盗刷|盗刷了|刷了|"
    r"花了|借了|还了|欠了|欠|赔了|赔偿|少了|收了|取了|存了|存入|取出|汇了|付了|支付了|罚了|共计|合计|总共|一共)\s*$"
)
_CURRENCY_OF = {
    "{$": "USD", "us$": "USD", "usd": "USD", "$": "USD", "u.s.$": "USD", "u.s. $": "USD", "hk$": "HKD",
    "€": "EUR", "£": "GBP", "¥": "CNY", "￥": "CNY", "rmb": "CNY", "cny": "CNY", "人民币": "CNY",
    "元": "CNY", "块钱": "CNY", "块": "CNY", "圆": "CNY", "yuan": "CNY",
    "us dollar": "USD", "us dollars": "USD", "dollar": "USD", "dollars": "USD", "bucks": "USD", "美元": "USD",
    "美金": "USD", "港币": "HKD", "港元": "HKD", "hkd": "HKD", "欧元": "EUR", "eur": "EUR", "euro": "EUR",
    "euros": "EUR",
}  # fmt: skip

_CN_DIGITS = {
    "零": 0, "〇": 0, "一": 1, "壹": 1, "二": 2, "贰": 2, "两": 2, "兩": 2, "三": 3, "叁": 3, "四": 4, "肆": 4,
    "五": 5, "伍": 5, "六": 6, "陆": 6, "七": 7, "柒": 7, "八": 8, "捌": 8, "九": 9, "玖": 9,
}  # fmt: skip
_CN_SMALL_UNITS = {"十": 10, "拾": 10, "百": 100, "佰": 100, "千": 1000, "仟": 1000}
_CN_BIG_UNITS = {"万": 10_000, "萬": 10_000, "亿": 100_000_000, "億": 100_000_000}
_CN_NUMERAL_RE = re.compile(
    r"([零〇一壹二贰两兩三叁四肆五伍六陆七柒八捌九玖十拾百佰千仟万萬亿億]{1,20})(?:[多余几来]([万萬亿億千]?))?"
    r"\s*(元|块钱|块|圆|人民币|美元|美金|港币|港元|欧元)?"
)
_CN_CURRENCY = {"美元": "USD", "美金": "USD", "港币": "HKD", "港元": "HKD", "欧元": "EUR"}
_CN_LEADING = frozenset("一壹二贰两兩三叁四肆五伍六陆七柒八捌九玖十拾")  # a numeral that is money opens with a digit
_CN_IDIOM_RE = re.compile(
    r"十万火急|十万八千里|万无一失|成千上万|千千万万|千言万语|万水千山|"
    r"(?<![零〇一壹二贰两兩三叁四肆五伍六陆七柒八捌九玖十拾百佰])(?:千万(?!元|块)|万万|万一)"
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


def _after_money_verb(text: str, start: int) -> bool:
    return _MONEY_VERB_RE.search(text, max(0, start - 6), start) is not None


def _candidates(text: str) -> list[tuple[Decimal, str]]:
    found: list[tuple[Decimal, str]] = []
    # The money verbs and numerals are Chinese: English text skips their tests (isascii is a flag, no scan).
    chinese = not text.isascii() and _ANY_CJK.search(text) is not None
    # In English text a number is money only next to a currency mark or word: where those are is found by plain
    # substring search, and only the numbers near one are read (a complaint holds many dates and references).
    marks = [] if chinese else _currency_positions(text)
    if not chinese and not marks:
        return found
    for run in _RUN_RE.finditer(text):
        start = run.start()
        if start and text[start - 1] in ".,":
            continue
        if marks and not _near_a_mark(marks, start, run.end()):
            continue
        match = _NUMBER_RE.match(text, start)
        assert match is not None  # a run opens with a digit
        currency, scale = _currency_around(text, match.start(), match.end())
        if currency is None:
            if not chinese:
                continue
            suffix = _SUFFIX_RE.match(text, match.end(), match.end() + 24)
            after = suffix.end() if suffix else match.end()
            if not _after_money_verb(text, match.start()) or _COUNT_WORD_RE.match(text, after, after + 6):
                continue
            currency, scale = "CNY", suffix.group(1) if suffix else None
        value = _to_decimal(match.group(0), scale)
        if value is not None and 0 < value <= MAX_AMOUNT:
            found.append((value, currency))
    if chinese and _ANY_CN_NUMERAL.search(text):
        found.extend(_chinese_candidates(text))
    return found


_CURRENCY_MARKS = ("$", "€", "£", "¥", "￥")
_CURRENCY_WORDS = ("usd", "rmb", "cny", "hkd", "eur", "dollar", "buck", "yuan")


def _currency_positions(text: str) -> list[int]:
    """Where a currency mark or word starts in ``text``, sorted."""
    positions: list[int] = []
    lowered = text.lower()
    for needle in ("$", *_CURRENCY_WORDS) if text.isascii() else (*_CURRENCY_MARKS, *_CURRENCY_WORDS):
        at = lowered.find(needle)
        while at >= 0:
            positions.append(at)
            at = lowered.find(needle, at + 1)
    return sorted(positions)


def _near_a_mark(marks: list[int], start: int, end: int) -> bool:
    """A mark within the prefix window before the number or the suffix window after it (see _currency_around)."""
    i = bisect_left(marks, start - 8)
    return i < len(marks) and marks[i] <= end + 24


_ANY_CJK = re.compile(r"[\u3400-\u9fff\uff00-\uffef]")
_ANY_CN_NUMERAL = re.compile(r"[十拾百佰千仟万萬亿億]")


def _chinese_candidates(text: str) -> list[tuple[Decimal, str]]:
    """Amounts written in Chinese numerals: with a currency word, after a money verb, or in 万/亿 on their own."""
    found: list[tuple[Decimal, str]] = []
    in_idiom = bytearray(len(text))  # 1 where an idiom holds the character
    for idiom in _CN_IDIOM_RE.finditer(text):
        in_idiom[idiom.start() : idiom.end()] = b"\x01" * (idiom.end() - idiom.start())
    for match in _CN_NUMERAL_RE.finditer(text):
        numeral, unit = match.group(1) + (match.group(2) or ""), match.group(3)
        start, end = match.start(1), match.end(2) if match.group(2) is not None else match.end(1)
        if in_idiom[start] or in_idiom[match.end(1) - 1]:
            continue
        if numeral[0] not in _CN_LEADING:
            continue
        # Without a currency word: a figure in 万/亿, or one of tens or more after a money verb ("扣了三千五"; a lone
        # digit after a verb is a count, "取了一下").
        if unit is None and (
            not (
                any(ch in numeral for ch in "万萬亿億")
                or (_after_money_verb(text, start) and any(ch in numeral for ch in "十拾百佰千仟"))
            )
            or _COUNT_WORD_RE.match(text, end, end + 6)
        ):
            continue
        value = chinese_numeral_value(numeral)
        if value and value <= MAX_AMOUNT:
            found.append((Decimal(value), _CN_CURRENCY.get(unit or "", "CNY")))
    return found


def amounts_in_text(text: str) -> list[Money]:
    """Every sum of money named in ``text`` (its first 20,000 characters), in order of the forms found."""
    try:
        return [Money(amount=v.quantize(Decimal("0.01")), currency=c) for v, c in _candidates(text[:20_000])]
    except Exception:
        return []


def extract_amount(text: str) -> Money | None:
    """The largest amount of money named in ``text``, or None. Never raises."""
    found = amounts_in_text(text)
    if not found:
        return None
    return max(found, key=lambda m: m.amount * ROUGH_CNY_RATE.get(m.currency, Decimal(1)))
