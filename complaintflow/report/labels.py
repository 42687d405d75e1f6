"""Chinese and English labels for the report's columns and the vocabularies' values."""

from __future__ import annotations

from schemas import BusinessLine, Channel, Reason, Severity
from services.notifier.wording import DEPARTMENT_NAMES

VALUE_LABELS: dict[str, tuple[str, str]] = {
    Channel.email: ("电子邮件", "E-mail"),
    Channel.webform: ("网页表单", "Web form"),
    Channel.hotline: ("客服热线", "Hotline"),
    Channel.social: ("社交媒体", "Social media"),
    BusinessLine.deposits_accounts: ("存款账户", "Deposits and accounts"),
    BusinessLine.debit_cards: ("借记卡", "Debit cards"),
    BusinessLine.credit_cards: ("信用卡", "Credit cards"),
    BusinessLine.loans_mortgages: ("贷款按揭", "Loans and mortgages"),
    BusinessLine.payments_transfers: ("支付转账", "Payments and transfers"),
    BusinessLine.wealth_insurance: ("理财保险", "Wealth and insurance"),
    BusinessLine.digital_channels: ("电子渠道", "Digital channels"),
    BusinessLine.credit_reporting: ("征信", "Credit reporting"),
    BusinessLine.debt_collection: ("催收", "Debt collection"),
    Reason.service_attitude: ("服务态度", "Service attitude"),
    Reason.staff_skill: ("业务技能", "Staff skill"),
    Reason.queues_staffing: ("排队与人手", "Queues and staffing"),
    Reason.operational_error: ("操作差错", "Operational error"),
    Reason.system_failure: ("系统故障", "System failure"),
    Reason.fees_pricing: ("收费定价", "Fees and pricing"),
    Reason.mis_selling: ("销售误导", "Mis-selling"),
    Reason.product_returns: ("产品收益", "Product returns"),
    Reason.contract_terms: ("合同条款", "Contract terms"),
    Reason.rules_policy: ("制度政策", "Rules and policy"),
    Reason.unauthorised_loss: ("盗刷与资金损失", "Unauthorised loss"),
    Reason.information_security: ("信息安全", "Information security"),
    Reason.collection_conduct: ("催收行为", "Collection conduct"),
    Reason.credit_report_error: ("征信异议", "Credit report error"),
    Severity.critical: ("紧急", "Critical"),
    Severity.high: ("高", "High"),
    Severity.medium: ("中", "Medium"),
    Severity.low: ("低", "Low"),
    "other": ("其他", "Other"),
    "all": ("合计", "All"),
    "sms": ("短信", "SMS"),
}
# Channel.email and the delivery "email" share a key: the channel label reads right for both.
DEPARTMENT_LABELS: dict[str, tuple[str, str]] = {d.value: names for d, names in DEPARTMENT_NAMES.items()}
# Some departments share their value with a business line (digital_channels, credit_reporting).
DEPARTMENT_COLUMNS = frozenset({"department", "escalate_to"})

COLUMN_LABELS: dict[str, tuple[str, str]] = {
    "channel": ("渠道", "Channel"),
    "business_line": ("业务类别", "Business line"),
    "reason": ("原因", "Reason"),
    "department": ("部门", "Department"),
    "severity": ("严重程度", "Severity"),
    "complaints": ("投诉数", "Complaints"),
    "share_pct": ("占比 %", "Share %"),
    "figure": ("指标", "Figure"),
    "value": ("数值", "Value"),
    "day": ("日期", "Day"),
    "customer": ("客户（脱敏）", "Customer (masked)"),
    "channels": ("渠道", "Channels"),
    "business_lines": ("业务类别", "Business lines"),
    "first": ("首次", "First"),
    "last": ("最近", "Last"),
    "incident": ("事件编号", "Incident"),
    "first_seen": ("首次发现", "First seen"),
    "acknowledged": ("已确认", "Acknowledged"),
    "first_contacted": ("已首次联系", "First contacted"),
    "decided": ("已办结", "Decided"),
    "sla_warnings": ("时效预警", "SLA warnings"),
    "breaches_first_contact": ("首次联系超时", "First-contact breaches"),
    "breaches_decision": ("办结超时", "Decision breaches"),
    "extensions": ("延期", "Extensions"),
    "delivery": ("通知渠道", "Delivery"),
    "sent": ("已发送", "Sent"),
    "failed": ("失败", "Failed"),
    "failure_pct": ("失败率 %", "Failure %"),
    "responses": ("评价数", "Responses"),
    "mean_score": ("平均分", "Mean score"),
}
SUMMARY_LABELS: dict[str, tuple[str, str]] = {
    "complaints": ("投诉总数", "Complaints"),
    "resolved": ("已解决", "Resolved"),
    "rejected": ("不予支持", "Rejected"),
    "open": ("处理中", "Open"),
    "transferred": ("曾转办", "Transferred"),
    "sla_breached_complaints": ("超时投诉", "Complaints past an SLA deadline"),
    "extended_complaints": ("延期投诉", "Complaints extended"),
    "repeat_customers": ("重复投诉客户", "Repeat complainants"),
    "incidents": ("投诉风暴", "Incidents (storms)"),
}
_STAGES = {
    "ack": ("确认", "Ack"),
    "first_contact": ("首次联系", "First contact"),
    "decision": ("办结", "Decision"),
}


def column_label(column: str) -> tuple[str, str]:
    if column in COLUMN_LABELS:
        return COLUMN_LABELS[column]
    if column.startswith("score_"):
        return f"{column[6:]}分", f"Score {column[6:]}"
    for stage, (zh, en) in _STAGES.items():
        if column.startswith(stage + "_p") and column.endswith("_h"):
            p = column[len(stage) + 2 : -2]
            return f"{zh} P{p}", f"{en} P{p}"
    return VALUE_LABELS.get(column, (column, column))


def value_label(value: object, column: str = "") -> tuple[str, str] | None:
    if not isinstance(value, str):
        return None
    if column in DEPARTMENT_COLUMNS and value in DEPARTMENT_LABELS:
        return DEPARTMENT_LABELS[value]
    return VALUE_LABELS.get(value) or DEPARTMENT_LABELS.get(value)


def bilingual(value: object, column: str = "") -> str:
    names = value_label(value, column)
    return f"{names[0]} {names[1]}" if names else str(value)
