"""Severity of a complaint from the signals found in it.

Signals (each reported when it fires):

* ``amount>=<threshold><CUR>`` – the amount at stake (``Complaint.amount`` or the largest sum in the text)
  reaches a per-currency threshold; the highest threshold reached is reported.
* ``regulator_threat``, ``media_threat``, ``legal_threat`` – the customer says they will (or did) go to the
  regulator, the press or court.
* ``vulnerable_customer`` – elderly, disabled or seriously ill customer (CFPB tag "Older American").
* ``repeat_complaint`` – the caller counted earlier complaints by the same customer (``repeat_count >= 1``).
* ``public_post_reach`` – a public social post whose author's followers or its reposts exceed a threshold.
* ``fraud_in_progress`` – money is being taken now: theft, scam, unauthorised transactions under way.
* ``distress`` – strong distress (despair, self-harm, "can't feed my children").
* ``storm`` – the complaint belongs to a storm of the same line and reason (decided by the caller).

Mapping, first that applies:

* **critical**: fraud in progress; or the critical amount threshold; or two or more *grave* signals
  (regulator/media/legal threat, vulnerable customer, public post with reach, distress, high amount);
  or distress together with a vulnerable customer.
* **high**: any one grave signal; or a repeat complaint counted twice or more; or a storm.
* **medium**: the medium amount threshold; a first repeat complaint; or a reason that puts money or data
  at risk (unauthorised loss, information security, collection conduct, mis-selling).
* **low**: everything else.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from domain.amounts import amounts_in_text
from schemas import Complaint, Money, Reason, Severity, SocialDetails
from services.router.classifier import Classification


@dataclass(frozen=True)
class AmountThresholds:
    medium: Decimal
    high: Decimal
    critical: Decimal


@dataclass(frozen=True)
class SeverityThresholds:
    amounts: Mapping[str, AmountThresholds] = field(
        default_factory=lambda: {
            "CNY": AmountThresholds(Decimal(5_000), Decimal(50_000), Decimal(500_000)),
            "USD": AmountThresholds(Decimal(1_000), Decimal(10_000), Decimal(100_000)),
            "GBP": AmountThresholds(Decimal(1_000), Decimal(10_000), Decimal(100_000)),
            "EUR": AmountThresholds(Decimal(1_000), Decimal(10_000), Decimal(100_000)),
            "HKD": AmountThresholds(Decimal(5_000), Decimal(50_000), Decimal(500_000)),
        }
    )
    social_followers: int = 10_000
    social_reposts: int = 500
    repeat_high: int = 2


DEFAULT = SeverityThresholds()


@dataclass(frozen=True)
class SeverityAssessment:
    severity: Severity
    signals: tuple[str, ...]
    explanations: tuple[str, ...]


class TermPattern:
    """Terms found on word boundaries (English) or anywhere (Chinese).

    The English alternation opens with the character before the word (``[^a-z]``, the text gets a leading
    space) rather than a look-behind: a pattern opening with a look-behind makes the regular-expression
    engine try every term at every position, while a leading character set lets it skip letters at C
    speed (about four times faster on long complaints). Matches are the same as with the look-behind.
    """

    def __init__(self, *words: str) -> None:
        self.words = words
        latin = [w for w in words if w.isascii()]
        cjk = [re.escape(w) for w in words if not w.isascii()]
        self.latin = re.compile(r"[^a-z](" + _by_first_character(latin) + r")(?![a-z])") if latin else None
        self.cjk = re.compile(_by_first_character(cjk)) if cjk else None

    def search(self, text: str) -> str | None:
        """The leftmost term in an already lower-cased text, or None."""
        latin = self.latin.search(f" {text}") if self.latin is not None else None
        cjk = self.cjk.search(text) if self.cjk is not None and _NON_ASCII.search(text) else None
        if latin is not None and (cjk is None or latin.start() <= cjk.start()):
            return latin.group(1)
        return cjk.group(0) if cjk is not None else None


def _by_first_character(terms: list[str]) -> str:
    """An alternation of regular-expression terms (each opening with a plain character), grouped by that
    character: the engine then compares one character per group instead of trying every term at every
    position. Within a group the terms keep their order, so the same term wins as in the flat alternation.
    """
    groups: dict[str, list[str]] = {}
    for term in terms:
        groups.setdefault(term[0], []).append(term[1:])
    return "|".join(f"{re.escape(first)}(?:{'|'.join(rests)})" for first, rests in groups.items())


_NON_ASCII = re.compile(r"[^\x00-\x7f]")
_terms = TermPattern

# Chinese terms match anywhere, so a term that is also part of ordinary words is given in the contexts that make it
# a signal ("向监管", "人行投诉") rather than alone ("资金监管账户", "个人行为" are not threats). Traditional forms of
# the commonest terms are listed too. English terms match on word boundaries and are phrases where a single word
# would also be ordinary ("the news", not "news": "Good news" is not a threat).
SIGNAL_PATTERNS: dict[str, TermPattern] = {
    "regulator_threat": _terms(
        "银保监",
        "銀保監",
        "银监",
        "保监会",
        "证监会",
        "金融监管总局",
        "金融监督管理",
        "监管部门",
        "监管机构",
        "监管机关",
        "监管局",
        "监管热线",
        "向监管",
        "找监管",
        "到监管",
        "去监管",
        "给监管",
        "監管部門",
        "監管機構",
        "人民银行",
        "人民銀行",
        "央行",
        "向人行",
        "找人行",
        "到人行",
        "去人行",
        "给人行",
        "人行投诉",
        "人行举报",
        "人行热线",
        "12378",
        "12363",
        "12315",
        "12345",
        "消协",
        "消费者协会",
        "消保委",
        "市长热线",
        "政府投诉",
        "向政府",
        "市民热线",
        "金融办",
        "银行业协会",
        "金管会",
        "金管會",
        "金管局",
        "信访",
        "信訪",
        "上访",
        "越级投诉",
        "regulators?",
        "regulatory agenc(?:y|ies)",
        "cfpb",
        "consumer financial protection bureau",
        "occ",
        "comptroller of the currency",
        "fdic",
        "federal reserve",
        "attorney general'?s?",
        "department of financial (?:services|institutions|protection)",
        "banking department",
        "department of banking",
        "banking commission(?:er)?",
        "financial ombudsman",
        "fca",
        "better business bureau",
        "bbb",
        "congress(?:man|woman|ional office)",
        "my senator",
        "my congressional representative",
    ),
    "media_threat": _terms(
        "媒体",
        "媒體",
        "曝光",
        "记者",
        "記者",
        "电视台",
        "報社",
        "报社",
        "报纸",
        "新闻",
        "上热搜",
        "发微博",
        "微博上",
        "发抖音",
        "发到网上",
        "发网上",
        "网上曝光",
        "自媒体",
        "抖音",
        "小红书",
        "网上发帖",
        "发朋友圈",
        "公之于众",
        "黑猫投诉",
        "315晚会",
        "the news",
        "local news",
        "national news",
        "news media",
        "news station",
        "news outlets?",
        "news channel",
        "the media",
        "journalists?",
        "reporters?",
        "newspapers?",
        "tv station",
        "television station",
        "the press",
        "go public",
        "going public",
        "social media",
        "post (?:this|it|my story) online",
        "go viral",
    ),
    "legal_threat": _terms(
        "起诉",
        "起訴",
        "律师",
        "律師",
        "法院",
        "诉讼",
        "訴訟",
        "打官司",
        "仲裁",
        "报警",
        "報警",
        "报案",
        "派出所",
        "公安局",
        "法律途径",
        "法律手段",
        "法律责任",
        "走法律",
        "告你们",
        "attorney(?! general)",
        "lawyers?",
        "sue",
        "suing",
        "lawsuit",
        "legal action",
        "legal counsel",
        "court",
        "small claims",
        "class action",
    ),
    "vulnerable_customer": _terms(
        "老人",
        "老年",
        "年迈",
        "高龄",
        "七旬",
        "八旬",
        "九旬",
        "古稀",
        "耄耋",
        "退休",
        "离休",
        "老大爷",
        "大爷",
        "大妈",
        "老太太",
        "老太",
        "老伴",
        "老母亲",
        "老父亲",
        "空巢",
        "孤寡",
        "残疾",
        "殘疾",
        "残障",
        "盲人",
        "聋哑",
        "视障",
        "听障",
        "瘫痪",
        "卧床",
        "失能",
        "重病",
        "癌症",
        "化疗",
        "住院",
        "病重",
        "老年痴呆",
        "阿尔茨海默",
        "孕妇",
        "精神病",
        "低保",
        "未成年",
        "不识字",
        "文盲",
        "older american",
        "elderly",
        "senior citizens?",
        "retired",
        "retiree",
        "pensioner",
        "on a fixed income",
        "disabled",
        "disability",
        "seriously ill",
        "terminally ill",
        "cancer",
        "chemotherapy",
        "dementia",
        "alzheimer'?s",
        "blind",
        "deaf",
        "wheelchair",
        "hospice",
        "nursing home",
        "assisted living",
        "memory loss",
        "mental illness",
        "mentally ill",
        "special needs",
        "hospitali[sz]ed",
    ),
    "fraud_in_progress": _terms(
        "盗刷",
        "盜刷",
        "被盗",
        "被盜",
        "被骗",
        "被騙",
        "骗走",
        "诈骗",
        "詐騙",
        "骗子",
        "假客服",
        "冒充",
        "冒用",
        "盗用",
        "钓鱼",
        "正在被转",
        "被转走",
        "被人转走",
        "被转账",
        "资金被转",
        "被划走",
        "被刷走",
        "盗取",
        "冒领",
        "不是我转的",
        "我没有操作",
        "本人没有操作",
        "不是我本人操作",
        "不是本人操作",
        "非本人操作",
        "未经我授权",
        "未经本人授权",
        "unauthori[sz]ed (?:[a-z]+ ){0,2}(?:charges?|transactions?|withdrawals?|transfers?|purchases?)",
        "unauthori[sz]ed (?:use of|access to) my (?:credit |debit |bank |checking |savings )?(?:cards?|accounts?)",
        "someone is using my",
        "someone used my",
        "stolen (?:credit |debit |bank )?(?:cards?|checks?|wallet|purse|money|funds|phone)",
        *(
            f"{thing} (?:was|were|has been|have been|had been|got) stolen"
            for thing in ("cards?", "wallet", "purse", "checks?", "checkbook", "money", "funds", "phone", "number")
        ),
        "scammed",
        "scammers?",
        "victim of a scam",
        "fell for a scam",
        "scam (?:calls?|callers?|texts?|emails?)",
        "hacked",
        "pretending to be from",
        "sim swap",
        "charges i (?:did not|didn't|never) (?:make|authori[sz]e)",
        "withdrawals i (?:did not|didn't|never) (?:make|authori[sz]e)",
        "transactions i (?:did not|didn't|never) (?:make|authori[sz]e)",
        "purchases i (?:did not|didn't|never) (?:make|authori[sz]e)",
        "transfers i (?:did not|didn't|never) (?:make|authori[sz]e)",
        "fraudulent (?:charges?|transactions?|withdrawals?|transfers?)",
        "draining my account",
        "emptied my account",
    ),
    "distress": _terms(
        "走投无路",
        "活不下去",
        "不想活",
        "轻生",
        "自杀",
        "跳楼",
        "寻死",
        "精神崩溃",
        "快崩溃",
        "要崩溃",
        "濒临崩溃",
        "情绪崩溃",
        "彻底崩溃",
        "绝望",
        "救命钱",
        "看病的钱",
        "治病的钱",
        "手术费",
        "养老钱",
        "吃不上饭",
        "想死",
        "没法活",
        "跳河",
        "suicid\\w*",
        "kill myself",
        "end my life",
        "desperate",
        "can't feed",
        "cannot feed",
        "homeless",
        "evicted",
        "eviction",
        "lose my home",
        "losing my home",
        "nervous breakdown",
        "mental breakdown",
        "life savings",
    ),
}

# Phrases that contain a signal's term without being that signal, blanked out before the scan; each with the
# signal it can hide and a substring it cannot match without, so a text is scanned again only when it may hold one.
_NOT_SIGNALS: tuple[tuple[str, str, re.Pattern[str]], ...] = (
    (
        "fraud_in_progress",
        "inquir",
        re.compile(r"authori[sz]ed? (?:(?:this|these|the|any|those) )?(?:hard )?inquir(?:y|ies)"),
    ),
    ("fraud_in_progress", "stolen identity", re.compile(r"stolen identity report")),
    (
        "fraud_in_progress",
        "scammed",
        re.compile(r"(?:feel|felt)(?: like)?(?: i(?:'ve| have| was| got)?(?: been)?)? scammed"),
    ),
    ("fraud_in_progress", "被骗", re.compile(r"(?:感觉|觉得|好像|像是)被骗")),
    (
        "legal_threat",
        "threat",
        re.compile(r"threat\w* (?:me )?(?:with )?(?:legal action|a lawsuit|to sue|court|arrest)"),
    ),
    ("legal_threat", "attorney", re.compile(r"power of attorney|attorney-in-fact")),
    ("legal_threat", "威胁", re.compile(r"威胁\w{0,4}(?:起诉|报警|法院)")),
    ("legal_threat", "我", re.compile(r"(?:起诉|告)我")),
    ("media_threat", "reporter", re.compile(r"reporters? (?:agenc|compan)\w*|credit reporter")),
)
# A stated age of 65 or more: "我今年七十八岁了", "年过七十", "I am 82 years old", "my 85-year-old mother", "aged 70".
_CN_AGE = (
    "(?:六十[五六七八九]|[七八九]十[一二三四五六七八九]?|一百(?:零?[一二三四五六七八九十])?|6[5-9]|[7-9][0-9]|10[0-9])"
)
_CN_AGE_RE = re.compile(rf"(?<![\d.]){_CN_AGE}\s*(?:多)?\s*(?:周岁|岁)")
_CN_AGE_OVER_RE = re.compile(r"(?:年过|年近|年逾|年满|已过|过了)\s*(?:[七八九]十|[7-9]0)")
# English ages are figures: the figures of a text are found at C speed, then the words around them are read.
# English ages are figures next to a few words: each occurrence of "old", "of age" or "age" (found by plain substring
# search, much cheaper than a regular-expression scan of the text) is checked for an age of 65 or more around it.
_AGE_FIGURE = r"(?<![0-9$.,])(?:6[5-9]|[7-9][0-9]|10[0-9])"
_YEARS_OLD_RE = re.compile(rf"{_AGE_FIGURE}[\s-]*(?:years?|yrs?)[\s-]*(?:old|of age)$")
_AGE_THEN_FIGURE_RE = re.compile(rf"age(?:d| of)?\s+{_AGE_FIGURE}(?![0-9])")
_DECADE_RE = re.compile(r"\bin (?:my|his|her|their) (?:late sixties|seventies|eighties|nineties|[7-9]0'?s)")
# Debts and accounts have ages too ("a debt 10 years old"): only ages of 65 and more count, and "... years old"
# right after a debt word is not the customer's age.
_AGE_OF_A_THING = re.compile(
    r"(?:debt|account|loan|car|house|home|vehicle|record|item|card)s?\s+"
    r"(?:that is |is |was )?(?:over |more than |about )?$"
)


def _occurrences(text: str, needle: str) -> Iterator[int]:
    at = text.find(needle)
    while at >= 0:
        yield at
        at = text.find(needle, at + 1)


def _stated_age(text: str) -> str | None:
    """The first statement of an age of 65 or more in an already lower-cased text, or None."""
    if "岁" in text and (match := _CN_AGE_RE.search(text)):
        return match.group(0)
    if ("年" in text or "过了" in text) and (match := _CN_AGE_OVER_RE.search(text)):
        return match.group(0)
    for needle in ("old", "of age"):
        for at in _occurrences(text, needle):
            end = at + len(needle)
            years = _YEARS_OLD_RE.search(text, max(0, at - 16), end)
            if years and not _AGE_OF_A_THING.search(text, max(0, years.start() - 30), years.start()):
                return years.group(0)
    for at in _occurrences(text, "age"):
        if (at == 0 or not text[at - 1].isalpha()) and (match := _AGE_THEN_FIGURE_RE.match(text, at)):
            return match.group(0)
    if any(words in text for words in ("in my ", "in his ", "in her ", "in their ")) and (
        match := _DECADE_RE.search(text)
    ):
        return match.group(0)
    return None


class SignalScanner:
    """Every signal's leftmost term in a text, from one scan with all signals' terms.

    A signal's leftmost term starts either where the all-terms scan found a match or inside such a match
    (hidden by an overlapping term of another signal), so each signal is tried only at those few
    positions: the result is exactly what a separate search per signal gives, at the cost of one scan.
    """

    def __init__(self, patterns: Mapping[str, TermPattern]) -> None:
        self._patterns = dict(patterns)
        self._any = TermPattern(*(w for p in patterns.values() for w in p.words))

    def first_terms(self, text: str) -> dict[str, str]:
        padded = f" {text}"
        # (where the term would start in text, string to match in, index to match at, group of the term)
        candidates: list[tuple[int, str, int, int]] = []
        if self._any.latin is not None:
            for match in self._any.latin.finditer(padded):
                starts = range(match.start(), match.end())
                candidates += [(p, padded, p, 1) for p in starts if not "a" <= padded[p] <= "z"]
        if self._any.cjk is not None and _NON_ASCII.search(text):
            for match in self._any.cjk.finditer(text):
                candidates += [(p, text, p, 0) for p in range(match.start(), match.end())]
        if not candidates:
            return {}
        candidates.sort(key=lambda c: c[0])
        found: dict[str, tuple[int, str]] = {}
        for name, pattern in self._patterns.items():
            for position, haystack, index, group in candidates:
                regex = pattern.latin if group else pattern.cjk
                term = regex.match(haystack, index) if regex is not None else None
                if term is not None:
                    found[name] = (position, term.group(group))
                    break
        return {name: term for name, (_, term) in found.items()}


_GRAVE = (
    "regulator_threat",
    "media_threat",
    "legal_threat",
    "vulnerable_customer",
    "public_post_reach",
    "distress",
    "amount_high",
)
_SIGNAL_SCANNER = SignalScanner(SIGNAL_PATTERNS)
_RISKY_REASONS = frozenset(
    {Reason.unauthorised_loss, Reason.information_security, Reason.collection_conduct, Reason.mis_selling}
)


def _amount_signal(amount: Money | None, text: str, thresholds: SeverityThresholds) -> tuple[str | None, str]:
    """The signal for the highest threshold reached, and its level (``critical``/``high``/``medium``/"")."""
    found = [amount] if amount is not None else amounts_in_text(text)
    candidates = [(money.amount, money.currency) for money in found]
    best: tuple[int, str | None, str] = (0, None, "")
    for value, currency in candidates:
        limits = thresholds.amounts.get(currency.upper())
        if limits is None:
            continue
        for rank, level, limit in (
            (3, "critical", limits.critical),
            (2, "high", limits.high),
            (1, "medium", limits.medium),
        ):
            if value >= limit:
                if rank > best[0]:
                    best = (rank, f"amount>={limit:f}{currency.upper()}", level)
                break
    return best[1], best[2]


def _social_reach(social: SocialDetails | None, thresholds: SeverityThresholds) -> bool:
    return bool(
        social
        and social.public
        and (social.followers >= thresholds.social_followers or social.reposts >= thresholds.social_reposts)
    )


def _signal_terms(lowered: str) -> dict[str, str]:
    """Every signal's first term, once the phrases that only look like signals are blanked out. The blanking
    costs a scan of the text, so it is done only when the plain scan found some signal (it can only remove)."""
    found = _SIGNAL_SCANNER.first_terms(lowered)
    if found:
        blanked = lowered
        for signal, needle, phrase in _NOT_SIGNALS:
            if signal in found and needle in blanked:
                blanked = phrase.sub(" ", blanked)
        if blanked != lowered:
            found = _SIGNAL_SCANNER.first_terms(blanked)
    return found


def assess_text(
    text: str,
    classification: Classification | None,
    *,
    amount: Money | None = None,
    social: SocialDetails | None = None,
    tags: tuple[str, ...] = (),
    repeat_count: int = 0,
    storm: bool = False,
    thresholds: SeverityThresholds = DEFAULT,
) -> SeverityAssessment:
    """Severity from raw parts, for callers without a :class:`Complaint` (the ``classify`` CLI)."""
    lowered = f"{text} {' '.join(tags)}".lower()
    signals: list[str] = []
    explanations: list[str] = []
    amount_signal, amount_level = _amount_signal(amount, text, thresholds)
    if amount_signal:
        signals.append(amount_signal)
        explanations.append(f"amount at stake reaches the {amount_level} threshold ({amount_signal})")
    found = _signal_terms(lowered)
    if "vulnerable_customer" not in found and (age := _stated_age(lowered)):
        found["vulnerable_customer"] = age
    for name in SIGNAL_PATTERNS:
        if name in found:
            signals.append(name)
            explanations.append(f"{name}: {found[name]!r}")
    if repeat_count >= 1:
        signals.append("repeat_complaint")
        explanations.append(f"repeat_complaint: {repeat_count} earlier complaint(s) by this customer")
    if _social_reach(social, thresholds):
        assert social is not None
        signals.append("public_post_reach")
        explanations.append(f"public_post_reach: {social.followers} followers, {social.reposts} reposts")
    if storm:
        signals.append("storm")
        explanations.append("storm: many complaints about the same line and reason right now")
    severity, why = _grade(set(signals), amount_level, repeat_count, classification, thresholds)
    return SeverityAssessment(severity=severity, signals=tuple(signals), explanations=(*explanations, why))


def _grade(
    signals: set[str],
    amount_level: str,
    repeat_count: int,
    classification: Classification | None,
    thresholds: SeverityThresholds,
) -> tuple[Severity, str]:
    grave = {s for s in signals if s in _GRAVE}
    if amount_level in {"high", "critical"}:
        grave.add("amount_high")
    if "fraud_in_progress" in signals:
        return Severity.critical, "critical: fraud or unauthorised transactions in progress"
    if amount_level == "critical":
        return Severity.critical, "critical: amount at stake reaches the critical threshold"
    if len(grave) >= 2:
        return Severity.critical, f"critical: several grave signals ({', '.join(sorted(grave))})"
    if grave:
        return Severity.high, f"high: {next(iter(grave))}"
    if repeat_count >= thresholds.repeat_high:
        return Severity.high, f"high: complained {repeat_count} times before"
    if "storm" in signals:
        return Severity.high, "high: part of a complaint storm"
    if amount_level == "medium" or "repeat_complaint" in signals:
        return Severity.medium, "medium: amount at stake or a repeat complaint"
    if classification is not None and classification.reason in _RISKY_REASONS:
        return Severity.medium, f"medium: reason {classification.reason} puts money or data at risk"
    return Severity.low, "low: no severity signal"


def assess_severity(
    complaint: Complaint,
    classification: Classification | None,
    *,
    repeat_count: int = 0,
    storm: bool = False,
    thresholds: SeverityThresholds = DEFAULT,
) -> SeverityAssessment:
    text = f"{complaint.subject}\n{complaint.text}" if complaint.subject else complaint.text
    return assess_text(
        text,
        classification,
        amount=complaint.amount,
        social=complaint.social,
        tags=tuple(complaint.flags),
        repeat_count=repeat_count,
        storm=storm,
        thresholds=thresholds,
    )
