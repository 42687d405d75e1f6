"""Bilingual product and reason vocabulary: what the domain knows that the training file does not.

The training file is English and US-only and barely holds card, deposit, transfer, wealth or digital-channel
complaints; Chinese complaints share no features with it at all. These terms carry that knowledge. Each term
has a weight (1.0 = a clear product or reason word, lower for words that are suggestive but shared). Chinese
terms match as substrings (no word segmentation needed); English terms match on word boundaries,
case-insensitively, so "ATM" and "atm" are the same term.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import NamedTuple

from schemas import BusinessLine, Reason

L = BusinessLine
R = Reason

LINE_TERMS: Mapping[BusinessLine, Mapping[str, float]] = {
    L.credit_cards: {
        "信用卡": 1.0,
        "贷记卡": 1.0,
        "准贷记卡": 1.0,
        "年费": 0.7,
        "信用卡中心": 1.0,
        "卡中心": 0.6,
        "账单分期": 0.8,
        "最低还款": 0.8,
        "循环利息": 0.8,
        "临时额度": 0.8,
        "信用额度": 0.6,
        "预付卡": 0.8,
        "credit card": 1.0,
        "credit cards": 1.0,
        "card issuer": 0.8,
        "annual fee": 0.7,
        "credit limit": 0.6,
        "balance transfer": 0.6,
        "statement balance": 0.6,
        "prepaid card": 0.9,
        "gift card": 0.6,
        "american express": 0.8,
        "amex": 0.8,
        "mastercard": 0.5,
        "discover card": 0.9,
        "rewards points": 0.7,
        "cash back": 0.4,
        "chargeback": 0.5,
        "card member": 0.6,
        "cardmember": 0.6,
    },
    L.debit_cards: {
        "借记卡": 1.0,
        "储蓄卡": 1.0,
        "银行卡": 0.6,
        "工资卡": 0.8,
        "社保卡": 0.8,
        "挂失": 0.6,
        "补卡": 0.7,
        "换卡": 0.6,
        "卡片": 0.3,
        "磁条卡": 0.8,
        "芯片卡": 0.6,
        "卡费": 0.6,
        "密码锁定": 0.4,
        "debit card": 1.0,
        "debit cards": 1.0,
        "atm card": 0.8,
        "check card": 0.8,
        "replacement card": 0.5,
        "card was declined": 0.4,
        "pin number": 0.4,
    },
    L.deposits_accounts: {
        "存款": 0.8,
        "定期存款": 1.0,
        "活期": 0.8,
        "定期": 0.6,
        "存折": 1.0,
        "储蓄账户": 1.0,
        "结算账户": 0.8,
        "开户": 0.8,
        "销户": 0.8,
        "账户": 0.4,
        "余额": 0.4,
        "取款": 0.5,
        "取现": 0.5,
        "存钱": 0.6,
        "大额取现": 0.8,
        "账户被冻结": 0.6,
        "久悬": 0.8,
        "对账单": 0.4,
        "柜台": 0.3,
        "柜面": 0.3,
        "复印": 0.4,
        "零钞": 0.6,
        "checking account": 1.0,
        "savings account": 1.0,
        "bank account": 0.6,
        "overdraft": 0.8,
        "nsf": 0.8,
        "overdrawn": 0.8,
        "certificate of deposit": 1.0,
        "direct deposit": 0.5,
        "deposited": 0.4,
        "minimum balance": 0.6,
        "closed my account": 0.5,
        "account was closed": 0.5,
        "teller": 0.4,
        "cashier's check": 0.6,
        "deposit": 0.3,
        "withdrawal": 0.3,
        "branch": 0.3,
    },
    L.loans_mortgages: {
        "贷款": 1.0,
        "房贷": 1.0,
        "按揭": 1.0,
        "车贷": 1.0,
        "助学贷款": 1.0,
        "消费贷": 1.0,
        "经营贷": 1.0,
        "抵押": 0.8,
        "提前还款": 0.8,
        "放款": 0.8,
        "借款": 0.6,
        "网贷": 0.8,
        "延期还款": 0.8,
        "展期": 0.6,
        "贷款利率": 1.0,
        "月供": 1.0,
        "公积金贷款": 1.0,
        "loan": 0.8,
        "loans": 0.8,
        "mortgage": 1.0,
        "payday": 1.0,
        "lender": 0.8,
        "refinance": 0.7,
        "escrow": 0.8,
        "foreclosure": 0.9,
        "loan modification": 1.0,
        "forbearance": 0.7,
        "auto loan": 1.0,
        "car loan": 1.0,
        "title loan": 1.0,
        "student loan": 1.0,
        "installment loan": 1.0,
        "line of credit": 0.6,
        "loan servicer": 1.0,
        "repossessed": 0.7,
        "repossession": 0.7,
    },
    L.payments_transfers: {
        "转账": 1.0,
        "汇款": 1.0,
        "跨行": 0.6,
        "汇错": 1.0,
        "转错": 1.0,
        "收款人": 0.8,
        "收款方": 0.6,
        "快捷支付": 0.8,
        "第三方支付": 0.8,
        "支付宝": 0.8,
        "微信支付": 0.8,
        "到账": 0.6,
        "退汇": 1.0,
        "电汇": 1.0,
        "境外汇款": 1.0,
        "代扣": 0.5,
        "付款": 0.3,
        "支付": 0.3,
        "wire transfer": 1.0,
        "money transfer": 1.0,
        "zelle": 1.0,
        "venmo": 1.0,
        "paypal": 0.9,
        "cash app": 1.0,
        "western union": 1.0,
        "moneygram": 1.0,
        "remittance": 1.0,
        "wired": 0.6,
        "sent money": 0.6,
        "send money": 0.6,
        "international transfer": 1.0,
        "bitcoin": 0.8,
        "crypto": 0.8,
        "coinbase": 0.9,
        "virtual currency": 0.9,
        "recipient": 0.4,
        "transfer": 0.3,
    },
    L.wealth_insurance: {
        "理财": 1.0,
        "理财产品": 1.0,
        "基金": 1.0,
        "保险": 0.9,
        "保单": 1.0,
        "退保": 1.0,
        "寿险": 1.0,
        "分红险": 1.0,
        "万能险": 1.0,
        "年金": 0.8,
        "净值": 0.8,
        "代销": 0.8,
        "贵金属": 0.8,
        "黄金": 0.5,
        "国债": 0.7,
        "信托": 0.7,
        "理财经理": 0.6,
        "investment": 0.6,
        "mutual fund": 1.0,
        "annuity": 1.0,
        "life insurance": 1.0,
        "insurance policy": 0.8,
        "wealth management": 1.0,
        "brokerage": 0.8,
        "financial advisor": 0.8,
        "portfolio": 0.6,
        "structured product": 1.0,
    },
    L.digital_channels: {
        "手机银行": 1.0,
        "网上银行": 1.0,
        "网银": 1.0,
        "客户端": 0.6,
        "短信": 0.8,
        "短信提醒": 1.0,
        "短信通知": 1.0,
        "动账通知": 1.0,
        "自助设备": 1.0,
        "自助机": 1.0,
        "取款机": 1.0,
        "存款机": 1.0,
        "柜员机": 1.0,
        "自动柜员机": 1.0,
        "自助服务区": 1.0,
        "自助银行": 1.0,
        "智能柜台": 1.0,
        "吞卡": 1.0,
        "吞钱": 1.0,
        "吞钞": 1.0,
        "闪退": 0.8,
        "u盾": 1.0,
        "验证码": 0.5,
        "浏览器": 0.8,
        "app": 0.7,
        "atm": 1.0,
        "mobile app": 1.0,
        "mobile banking": 1.0,
        "online banking": 1.0,
        "banking app": 1.0,
        "the app": 0.6,
        "atms": 1.0,
        "text alert": 0.9,
        "text alerts": 0.9,
        "sms": 0.8,
        "two-factor": 0.6,
        "verification code": 0.5,
        "online portal": 0.5,
        "website": 0.3,
        "log in": 0.3,
        "login": 0.3,
    },
    L.credit_reporting: {
        "征信": 1.0,
        "征信报告": 1.0,
        "信用报告": 1.0,
        "信用记录": 0.8,
        "不良记录": 0.8,
        "征信中心": 1.0,
        "征信异议": 1.0,
        "credit report": 1.0,
        "credit reports": 1.0,
        "credit bureau": 1.0,
        "credit bureaus": 1.0,
        "equifax": 1.0,
        "experian": 1.0,
        "transunion": 1.0,
        "credit score": 0.6,
        "fcra": 0.8,
        "hard inquiry": 0.8,
        "consumer reporting agency": 1.0,
        "credit file": 0.8,
    },
    L.debt_collection: {
        "催收": 1.0,
        "催债": 1.0,
        "催款": 0.8,
        "讨债": 1.0,
        "暴力催收": 1.0,
        "外包催收": 1.0,
        "debt collector": 1.0,
        "debt collectors": 1.0,
        "collection agency": 1.0,
        "collections agency": 1.0,
        "fdcpa": 1.0,
        "debt validation": 1.0,
        "validation letter": 0.9,
        "collect a debt": 0.9,
        "collection account": 0.5,
    },
}

REASON_TERMS: Mapping[Reason, Mapping[str, float]] = {
    R.service_attitude: {
        "态度": 0.8,
        "态度差": 1.0,
        "态度恶劣": 1.0,
        "不耐烦": 1.0,
        "冷漠": 0.8,
        "爱答不理": 1.0,
        "辱骂": 0.6,
        "顶撞": 1.0,
        "推诿": 0.8,
        "首问": 0.8,
        "不理睬": 0.8,
        "服务差": 1.0,
        "甩脸色": 1.0,
        "吵架": 0.6,
        "歧视": 0.8,
        "冤枉": 0.6,
        "不当言论": 0.8,
        "rude": 0.8,
        "unprofessional": 0.6,
        "disrespectful": 0.8,
        "yelled": 0.5,
        "condescending": 0.8,
        "hung up on me": 0.4,
        "attitude": 0.6,
        "discriminated": 0.7,
        "impolite": 0.9,
    },
    R.staff_skill: {
        "业务不熟": 1.0,
        "不熟练": 1.0,
        "业务技能": 1.0,
        "回答错误": 1.0,
        "解释不清": 0.8,
        "说法不一": 1.0,
        "说法不一致": 1.0,
        "不专业": 0.8,
        "办理速度慢": 1.0,
        "速度过慢": 1.0,
        "效率低": 0.6,
        "新员工": 0.6,
        "一问三不知": 1.0,
        "引导不一致": 1.0,
        "incompetent": 0.8,
        "wrong information": 0.4,
        "conflicting information": 0.5,
        "not trained": 0.8,
        "untrained": 0.8,
        "inexperienced": 0.8,
        "didn't know how": 0.6,
    },
    R.queues_staffing: {
        "排队": 1.0,
        "排长队": 1.0,
        "等候": 0.6,
        "叫号": 0.9,
        "过号": 1.0,
        "插队": 1.0,
        "窗口": 0.5,
        "只开": 0.6,
        "人手不足": 1.0,
        "提前关门": 1.0,
        "提早关门": 1.0,
        "营业时间": 0.8,
        "等了": 0.5,
        "等待时间": 0.8,
        "wait in line": 1.0,
        "waiting in line": 1.0,
        "long line": 0.9,
        "queue": 0.8,
        "only one teller": 1.0,
        "understaffed": 1.0,
        "closed early": 1.0,
        "opening hours": 0.8,
        "waited for hours": 0.6,
    },
    R.operational_error: {
        "操作失误": 1.0,
        "操作错误": 1.0,
        "操作不当": 1.0,
        "差错": 0.8,
        "出错": 0.6,
        "弄错": 0.8,
        "搞错": 0.8,
        "错账": 1.0,
        "清零": 1.0,
        "扣错": 1.0,
        "重复扣款": 1.0,
        "多扣": 0.8,
        "未到账": 0.8,
        "没到账": 0.8,
        "交易失败": 0.6,
        "录入错误": 1.0,
        "到期日有误": 1.0,
        "有误": 0.6,
        "mistake": 0.5,
        "misapplied": 0.8,
        "not credited": 0.8,
        "double charged": 0.8,
        "charged twice": 0.8,
        "wrong amount": 0.6,
        "processed incorrectly": 0.8,
        "clerical error": 0.9,
    },
    R.system_failure: {
        "系统故障": 1.0,
        "系统问题": 0.8,
        "故障": 0.8,
        "死机": 1.0,
        "闪退": 1.0,
        "无法登录": 1.0,
        "登录不上": 1.0,
        "打不开": 0.8,
        "吞卡": 1.0,
        "吞钱": 1.0,
        "吞钞": 1.0,
        "收不到": 0.6,
        "没收到短信": 1.0,
        "未收到短信": 1.0,
        "兼容": 1.0,
        "卡顿": 0.8,
        "假币": 0.8,
        "被锁": 0.6,
        "错发": 0.6,
        "系统升级": 0.6,
        "不够用": 0.4,
        "system error": 0.8,
        "glitch": 0.8,
        "outage": 0.9,
        "crashed": 0.8,
        "crashes": 0.8,
        "not working": 0.5,
        "technical issue": 0.7,
        "technical issues": 0.7,
        "error message": 0.6,
        "unable to log in": 0.8,
        "couldn't log in": 0.8,
        "can't log in": 0.8,
        "ate my card": 1.0,
        "kept my card": 0.8,
        "down for": 0.3,
    },
    R.fees_pricing: {
        "收费": 1.0,
        "手续费": 1.0,
        "年费": 1.0,
        "管理费": 1.0,
        "扣费": 0.8,
        "费用": 0.6,
        "利息太高": 1.0,
        "罚息": 0.8,
        "违约金": 0.6,
        "滞纳金": 0.8,
        "工本费": 1.0,
        "托管费": 1.0,
        "乱收费": 1.0,
        "乱扣钱": 0.8,
        "扣钱": 0.4,
        "服务费": 0.8,
        "fee": 0.7,
        "fees": 0.7,
        "late fee": 0.8,
        "overdraft fee": 1.0,
        "overdraft fees": 1.0,
        "annual fee": 1.0,
        "interest rate": 0.5,
        "interest charges": 0.6,
        "overcharged": 0.8,
        "finance charge": 0.7,
        "service charge": 0.7,
    },
    R.mis_selling: {
        "误导": 1.0,
        "夸大": 1.0,
        "未告知": 0.8,
        "没告知": 0.8,
        "没说明": 0.8,
        "没有说明": 0.8,
        "未说明": 0.8,
        "隐瞒": 0.8,
        "当成存款": 1.0,
        "存款变保险": 1.0,
        "变成了保险": 1.0,
        "以为是存款": 1.0,
        "搭售": 1.0,
        "捆绑": 0.8,
        "强制购买": 1.0,
        "飞单": 1.0,
        "风险评估": 0.6,
        "没跟我说": 0.6,
        "什么都没说": 0.6,
        "营销": 0.4,
        "推销": 0.5,
        "misled": 1.0,
        "misleading": 0.8,
        "mis-sold": 1.0,
        "misrepresented": 0.9,
        "deceptive": 0.7,
        "never told": 0.5,
        "not disclosed": 0.8,
        "bait and switch": 1.0,
        "pressured": 0.6,
        "add-on": 0.6,
        "without my consent": 0.3,
    },
    R.product_returns: {
        "收益": 0.8,
        "收益率": 0.8,
        "亏损": 1.0,
        "亏了": 1.0,
        "本金损失": 1.0,
        "低于预期": 1.0,
        "没达到预期": 1.0,
        "预期收益": 0.8,
        "净值下跌": 1.0,
        "回报": 0.6,
        "收益差": 1.0,
        "相差": 0.4,
        "returns": 0.6,
        "lost value": 0.8,
        "lower than expected": 0.8,
        "investment losses": 1.0,
        "yield": 0.4,
    },
    R.contract_terms: {
        "合同": 0.8,
        "条款": 0.8,
        "协议": 0.5,
        "格式条款": 1.0,
        "保密条款": 0.6,
        "提前还款": 0.6,
        "变更": 0.4,
        "承诺": 0.4,
        "未兑现": 0.8,
        "contract": 0.5,
        "terms and conditions": 0.7,
        "agreement": 0.3,
        "loan modification": 0.6,
        "forbearance": 0.6,
        "deferment": 0.6,
        "hardship": 0.5,
        "payoff": 0.4,
    },
    R.rules_policy: {
        "规定": 0.8,
        "制度": 0.8,
        "预约": 0.8,
        "不给办": 1.0,
        "不能办理": 0.8,
        "必须本人": 1.0,
        "本人到场": 1.0,
        "证明": 0.4,
        "政策": 0.6,
        "手续繁琐": 1.0,
        "流程繁琐": 1.0,
        "不予办理": 1.0,
        "拒绝办理": 1.0,
        "限额": 0.6,
        "policy": 0.5,
        "not allowed": 0.6,
        "refused to": 0.4,
        "requirement": 0.4,
        "closed my account": 0.6,
        "froze my account": 0.6,
        "hold on my": 0.5,
        "denied": 0.3,
    },
    R.unauthorised_loss: {
        "盗刷": 1.0,
        "被盗": 1.0,
        "盗用": 1.0,
        "被骗": 1.0,
        "诈骗": 1.0,
        "骗子": 0.6,
        "冒用": 1.0,
        "冒名": 1.0,
        "被转走": 1.0,
        "不是本人": 0.8,
        "非本人": 0.8,
        "未经授权": 1.0,
        "未授权": 1.0,
        "不明扣款": 1.0,
        "莫名扣款": 1.0,
        "钱不见了": 1.0,
        "资金被转": 1.0,
        "丢失": 0.3,
        "unauthorized": 1.0,
        "unauthorised": 1.0,
        "fraud": 0.7,
        "fraudulent": 0.6,
        "scam": 1.0,
        "scammed": 1.0,
        "scammer": 1.0,
        "identity theft": 0.6,
        "stolen": 0.6,
        "someone used my": 0.8,
        "someone is using my": 1.0,
        "did not authorize": 0.8,
        "didn't authorize": 0.8,
        "phishing": 1.0,
        "hacked": 0.9,
    },
    R.information_security: {
        "泄露": 1.0,
        "信息泄露": 1.0,
        "个人信息": 0.8,
        "隐私": 1.0,
        "身份信息": 0.6,
        "骚扰电话": 0.6,
        "推销电话": 0.6,
        "营销短信": 0.6,
        "卖给": 0.4,
        "data breach": 1.0,
        "privacy": 0.8,
        "leaked": 0.9,
        "exposed my": 0.6,
        "shared my information": 0.8,
        "security breach": 1.0,
        "personal information": 0.4,
    },
    R.collection_conduct: {
        "催收": 1.0,
        "暴力催收": 1.0,
        "恐吓": 1.0,
        "爆通讯录": 1.0,
        "打电话给家人": 1.0,
        "上门催收": 1.0,
        "骚扰": 0.6,
        "威胁": 0.5,
        "讨债": 1.0,
        "催债": 1.0,
        "harass": 0.8,
        "harassing": 0.8,
        "harassment": 0.8,
        "threatened": 0.5,
        "calling my family": 1.0,
        "called my employer": 1.0,
        "collection calls": 1.0,
        "debt collector": 0.8,
        "fdcpa": 0.8,
        "validation": 0.5,
    },
    R.credit_report_error: {
        "征信": 1.0,
        "不良记录": 1.0,
        "逾期记录": 1.0,
        "征信异议": 1.0,
        "信用记录": 0.8,
        "上征信": 1.0,
        "影响征信": 1.0,
        "credit report": 0.8,
        "credit reports": 0.8,
        "inaccurate": 0.5,
        "incorrect information": 0.6,
        "credit bureau": 0.8,
        "reported late": 0.7,
        "reporting": 0.3,
    },
}


class LexiconHit(NamedTuple):
    term: str
    label: str
    weight: float


class LexiconMatcher:
    """Finds every term of one dimension in a text: Chinese by regular expression, English by word n-gram."""

    def __init__(self, terms: Mapping[str, Mapping[str, float]]) -> None:
        self._by_term: dict[str, list[tuple[str, float]]] = {}
        for label, table in terms.items():
            for term, weight in table.items():
                key = term.lower() if _has_cjk(term) else " ".join(_TOKEN.findall(term.lower()))
                self._by_term.setdefault(key, []).append((str(label), weight))
        cjk = sorted((t for t in self._by_term if _has_cjk(t)), key=len, reverse=True)
        # Longest-first alternation hides nested terms ("暴力催收" hides "催收"): each term knows its nested ones.
        self._cjk_nested = {t: frozenset(u for u in self._by_term if len(u) < len(t) and u in t) for t in cjk}
        self._cjk = re.compile("|".join(map(re.escape, cjk))) if cjk else None
        # English terms are looked up by word: set intersections and substring tests run in C, a large
        # regular-expression alternation does not.
        latin = [t for t in self._by_term if not _has_cjk(t)]
        self._single_words = frozenset(t for t in latin if " " not in t)
        # Phrases by their first word, with their other words: a phrase whose words are not all in the text
        # is ruled out by set lookups before any substring test.
        self._phrases_by_first: dict[str, list[tuple[str, frozenset[str]]]] = {}
        for phrase in (t for t in latin if " " in t):
            first, *rest = phrase.split()
            self._phrases_by_first.setdefault(first, []).append((f" {phrase} ", frozenset(rest)))

    def hits(self, lowered_text: str, tokens: list[str] | None = None) -> list[LexiconHit]:
        """Terms found in an already lower-cased text; pass ``tokens`` (:func:`tokens`) to share the work."""
        return [
            LexiconHit(term, label, weight)
            for term in self.terms(lowered_text, tokens)
            for label, weight in self._by_term[term]
        ]

    def all_hits(self) -> list[LexiconHit]:
        """Every (term, label, weight) of the vocabulary."""
        return [LexiconHit(term, label, weight) for term, pairs in self._by_term.items() for label, weight in pairs]

    def terms(self, lowered_text: str, tokens: list[str] | None = None) -> list[str]:
        """The vocabulary terms found in an already lower-cased text, sorted."""
        found: set[str] = set()
        if self._cjk is not None and _ANY_CJK.search(lowered_text):
            found.update(self._cjk_terms(lowered_text))
        if tokens is None:
            tokens = _TOKEN.findall(lowered_text)
        present = set(tokens)
        found.update(self._single_words & present)
        first_words = present.intersection(self._phrases_by_first)
        candidates = [
            padded
            for w in first_words
            for padded, rest in self._phrases_by_first[w]
            if rest.issubset(present)
        ]
        if candidates:
            joined = f" {' '.join(tokens)} "
            found.update(padded[1:-1] for padded in candidates if padded in joined)
        return sorted(found)

    def _cjk_terms(self, text: str) -> set[str]:
        assert self._cjk is not None
        terms: set[str] = set()
        for span in self._cjk.findall(text):
            terms.add(span)
            terms.update(self._cjk_nested[span])
        return terms


# Words of two or more letters; apostrophes, hyphens and digits split or drop on both sides alike, so
# "cashier's check" is looked up as "cashier check" and "two-factor" as "two factor".
_TOKEN = re.compile(r"[a-z]{2,}")
_ANY_CJK = re.compile(r"[\u4e00-\u9fff]")


# Every byte but a-z becomes a space (UTF-8 bytes of other scripts too): translate and split run in C and
# give exactly ``_TOKEN.findall`` once one-letter words are dropped, about a third faster on long texts.
_LETTERS_ONLY = bytes(b if 97 <= b <= 122 else 32 for b in range(256))


def tokens(lowered_text: str) -> list[str]:
    """Words of two or more letters a-z, as ``_TOKEN.findall(lowered_text)``."""
    letters = lowered_text.encode("utf-8", "surrogatepass").translate(_LETTERS_ONLY).decode("ascii")
    return [w for w in letters.split() if len(w) > 1]


def _has_cjk(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


def line_matcher() -> LexiconMatcher:
    return LexiconMatcher({str(k): v for k, v in LINE_TERMS.items()})


def reason_matcher() -> LexiconMatcher:
    return LexiconMatcher({str(k): v for k, v in REASON_TERMS.items()})


def combined_matcher() -> LexiconMatcher:
    """Both dimensions in one pass; labels are ``line:<business line>`` and ``reason:<reason>``."""
    return LexiconMatcher(
        {
            **{f"line:{k}": v for k, v in LINE_TERMS.items()},
            **{f"reason:{k}": v for k, v in REASON_TERMS.items()},
        }
    )
