"""Chinese and English labels for the report's columns and the vocabularies' values."""

from __future__ import annotations

from schemas.labels import DEPARTMENT_NAMES
from schemas.labels import VALUE_LABELS as SCHEMA_VALUE_LABELS

VALUE_LABELS: dict[str, tuple[str, str]] = {
    **SCHEMA_VALUE_LABELS,
    "all": ("合计", "All"),
    "sms": ("短信", "SMS"),
}
# Channel.email and the delivery medium "email" share a key: the channel label reads right for both.
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
    "medium": ("通知方式", "Medium"),
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
