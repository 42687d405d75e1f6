"""The complaint ledger: folds the event log into one row per complaint and computes the report's figures.

Pure: takes schema records, returns plain data. Records arrive at least once, so every input is deduplicated
on its stable id (routing id + revision, update id, event id). Nothing personal leaves this module: customers
appear only as masked ids derived from the hashed identity keys the router already uses.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from zoneinfo import ZoneInfo

from kernel.state import customer_keys
from schemas import ComplaintEvent, ComplaintStatus, EventKind, RoutedComplaint, StatusUpdate

FIRST_CONTACT_EVENTS = frozenset({EventKind.in_progress, EventKind.need_info, EventKind.assigned})
S = ComplaintStatus
FIRST_CONTACT_STATUSES = frozenset({S.accepted, S.investigating, S.need_info, S.proposal})
DECISION_EVENTS = {EventKind.resolved: "resolved", EventKind.rejected: "rejected"}
DECISION_STATUSES = {ComplaintStatus.resolved: "resolved", ComplaintStatus.rejected: "rejected"}
PERCENTILES = (50, 90, 95)
TOP_PAIRS = 10


@dataclass
class LedgerEntry:
    """What the ledger knows about one complaint. Holds no personal data."""

    complaint_id: str
    channel: str
    business_line: str
    reason: str
    severity: str
    department: str
    received_at: datetime
    revision: int
    customer: str | None
    incident_id: str | None
    acknowledged_at: datetime | None = None
    first_contact_at: datetime | None = None
    decided_at: datetime | None = None
    outcome: str | None = None
    extensions: int = 0
    breaches: set[str] = field(default_factory=set)
    warnings: set[str] = field(default_factory=set)
    scores: list[int] = field(default_factory=list)

    def hours_to(self, moment: datetime | None) -> float | None:
        return None if moment is None else (moment - self.received_at).total_seconds() / 3600


@dataclass
class Ledger:
    since: datetime
    until: datetime
    timezone: str
    entries: dict[str, LedgerEntry]
    events: list[ComplaintEvent]
    """Deduplicated events of the period (also those of complaints received earlier)."""


@dataclass
class Table:
    """One figure of the report: rows of values under bilingual column labels."""

    name: str
    title: tuple[str, str]
    columns: list[str]
    rows: list[list[object]]
    keys: int = 1  # how many leading columns identify a row; the rest are measures

    def as_dicts(self) -> list[dict[str, object]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]


def masked_customer(keys: Iterable[str]) -> str | None:
    """A stable, non-reversible id for a customer from their hashed identity keys (the smallest one)."""
    ordered = sorted(keys)
    return "C-" + hashlib.sha256(ordered[0].encode()).hexdigest()[:10] if ordered else None


def _earliest(current: datetime | None, candidate: datetime) -> datetime:
    return candidate if current is None or candidate < current else current


def _customer_groups(routed: Iterable[RoutedComplaint]) -> dict[str, str]:
    """complaint id → masked customer, joining complaints that share any identity (phone, e-mail, ...)."""
    parent: dict[str, str] = {}

    def find(key: str) -> str:
        while parent.setdefault(key, key) != key:
            parent[key] = parent[parent[key]]
            key = parent[key]
        return key

    keys_of: dict[str, list[str]] = {}
    for record in routed:
        keys = customer_keys(record.complaint.customer)
        keys_of[record.complaint.complaint_id] = keys
        for key in keys[1:]:
            parent[find(key)] = find(keys[0])
    members: dict[str, list[str]] = defaultdict(list)
    for keys in keys_of.values():
        for key in keys:
            members[find(key)].append(key)
    masks = {root: masked_customer(keys) for root, keys in members.items()}
    return {cid: masks[find(keys[0])] for cid, keys in keys_of.items() if keys}  # type: ignore[misc]


def _version(record: RoutedComplaint) -> tuple[int, int]:
    return record.revision, record.deadlines.extensions


def build_ledger(
    routed: Iterable[RoutedComplaint],
    statuses: Iterable[StatusUpdate],
    events: Iterable[ComplaintEvent],
    since: datetime,
    until: datetime,
    timezone: str = "Asia/Shanghai",
) -> Ledger:
    """Complaints received in [since, until] with everything that happened to them up to ``until``."""
    latest: dict[str, RoutedComplaint] = {}
    for record in routed:
        cid = record.complaint.complaint_id
        known = latest.get(cid)
        # A transfer raises the revision, an extension re-publishes the same revision with one more extension.
        if known is None or _version(record) >= _version(known):
            latest[cid] = record
    in_period = {cid: r for cid, r in latest.items() if since <= r.complaint.received_at <= until}
    customers = _customer_groups(in_period.values())
    entries = {
        cid: LedgerEntry(
            complaint_id=cid,
            channel=r.complaint.channel.value,
            business_line=r.business_line.value,
            reason=r.reason.value,
            severity=r.severity.value,
            department=r.department.value,
            received_at=r.complaint.received_at,
            revision=r.revision,
            customer=customers.get(cid),
            incident_id=r.incident_id,
        )
        for cid, r in in_period.items()
    }
    unique_events = {e.event_id: e for e in events if e.occurred_at <= until}
    ordered_events = sorted(unique_events.values(), key=lambda e: (e.occurred_at, e.event_id))
    for event in ordered_events:
        entry = entries.get(event.complaint_id)
        if entry is not None:
            _apply_event(entry, event)
    numbers_to_ids = {r.complaint.complaint_number: cid for cid, r in in_period.items()}
    unique_updates = {u.update_id: u for u in statuses if u.at <= until}
    for update in unique_updates.values():
        entry = entries.get(update.complaint_id or numbers_to_ids.get(update.complaint_number, ""))
        if entry is not None:
            _apply_status(entry, update)
    period_events = [e for e in ordered_events if e.occurred_at >= since or e.complaint_id in entries]
    return Ledger(since, until, timezone, entries, period_events)


def _apply_event(entry: LedgerEntry, event: ComplaintEvent) -> None:
    kind = event.kind
    if kind == EventKind.acknowledged:
        entry.acknowledged_at = _earliest(entry.acknowledged_at, event.occurred_at)
    elif kind in FIRST_CONTACT_EVENTS:
        entry.first_contact_at = _earliest(entry.first_contact_at, event.occurred_at)
    elif kind in DECISION_EVENTS and (entry.decided_at is None or event.occurred_at < entry.decided_at):
        entry.decided_at, entry.outcome = event.occurred_at, DECISION_EVENTS[kind]
    elif kind == EventKind.extended:
        entry.extensions += 1
    elif kind == EventKind.sla_breached:
        entry.breaches.add(event.details.get("deadline_kind", "decision"))
    elif kind == EventKind.sla_warning:
        entry.warnings.add(event.details.get("deadline_kind", "decision"))
    elif kind == EventKind.feedback_received:
        score = event.details.get("score", "")
        if score.isdigit():
            entry.scores.append(int(score))


def _apply_status(entry: LedgerEntry, update: StatusUpdate) -> None:
    """A department's own word counts too (its event may not have been written yet)."""
    if update.status in FIRST_CONTACT_STATUSES:
        entry.first_contact_at = _earliest(entry.first_contact_at, update.at)
    elif update.status in DECISION_STATUSES and (entry.decided_at is None or update.at < entry.decided_at):
        entry.decided_at, entry.outcome = update.at, DECISION_STATUSES[update.status]


# --- figures ------------------------------------------------------------------------------------------
def percentile(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile (a value that occurred), None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def _rounded(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


def _count_table(name: str, title: tuple[str, str], column: str, counter: Counter[str]) -> Table:
    total = sum(counter.values())
    rows = [[key, count, _rounded(100 * count / total, 1)] for key, count in counter.most_common()]
    return Table(name, title, [column, "complaints", "share_pct"], rows)


def local_day(moment: datetime, timezone: str) -> date:
    return moment.astimezone(ZoneInfo(timezone)).date()


def compute_figures(ledger: Ledger) -> list[Table]:
    entries = list(ledger.entries.values())
    tables = [
        summary_table(ledger),
        _count_table("by_channel", ("按渠道", "By channel"), "channel", Counter(e.channel for e in entries)),
        _count_table(
            "by_business_line",
            ("按业务类别", "By business line"),
            "business_line",
            Counter(e.business_line for e in entries),
        ),
        _count_table("by_reason", ("按投诉原因", "By reason"), "reason", Counter(e.reason for e in entries)),
        _count_table(
            "by_department", ("按承办部门", "By department"), "department", Counter(e.department for e in entries)
        ),
        _count_table("by_severity", ("按严重程度", "By severity"), "severity", Counter(e.severity for e in entries)),
        trend_table(ledger),
        top_pairs_table(entries),
        repeat_complainants_table(entries),
        incidents_table(ledger),
        sla_table(entries),
        notifications_table(ledger),
        satisfaction_table(entries),
    ]
    return tables


def summary_table(ledger: Ledger) -> Table:
    entries = ledger.entries.values()
    outcomes = Counter(e.outcome or "open" for e in entries)
    per_customer = Counter(e.customer for e in entries if e.customer)
    rows: list[list[object]] = [
        ["complaints", len(ledger.entries)],
        ["resolved", outcomes["resolved"]],
        ["rejected", outcomes["rejected"]],
        ["open", outcomes["open"]],
        ["transferred", sum(1 for e in entries if e.revision > 1)],
        ["sla_breached_complaints", sum(1 for e in entries if e.breaches)],
        ["extended_complaints", sum(1 for e in entries if e.extensions)],
        ["repeat_customers", sum(1 for n in per_customer.values() if n > 1)],
        ["incidents", len({e.incident_id for e in entries if e.incident_id})],
    ]
    return Table("summary", ("概览", "Summary"), ["figure", "value"], rows)


def trend_table(ledger: Ledger) -> Table:
    """Complaints per local day and channel, every day of the period listed (zero days too)."""
    channels = sorted({e.channel for e in ledger.entries.values()})
    per_day: dict[date, Counter[str]] = defaultdict(Counter)
    for entry in ledger.entries.values():
        per_day[local_day(entry.received_at, ledger.timezone)][entry.channel] += 1
    first, last = local_day(ledger.since, ledger.timezone), local_day(ledger.until, ledger.timezone)
    if per_day:
        first, last = min(first, *per_day), max(last, *per_day)
    rows = []
    day = first
    while day <= last:
        counts = per_day.get(day, Counter())
        rows.append([day.isoformat(), sum(counts.values()), *(counts[c] for c in channels)])
        day = date.fromordinal(day.toordinal() + 1)
    return Table("trend_daily", ("每日趋势", "Daily trend"), ["day", "complaints", *channels], rows)


def top_pairs_table(entries: list[LedgerEntry]) -> Table:
    pairs = Counter((e.business_line, e.reason) for e in entries)
    rows = [[line, reason, count] for (line, reason), count in pairs.most_common(TOP_PAIRS) if count > 1]
    return Table(
        "recurring_pairs",
        ("高频业务×原因", "Recurring business line × reason"),
        ["business_line", "reason", "complaints"],
        rows,
        keys=2,
    )


def repeat_complainants_table(entries: list[LedgerEntry]) -> Table:
    by_customer: dict[str, list[LedgerEntry]] = defaultdict(list)
    for entry in entries:
        if entry.customer:
            by_customer[entry.customer].append(entry)
    rows = []
    for customer, theirs in by_customer.items():
        if len(theirs) < 2:
            continue
        theirs.sort(key=lambda e: e.received_at)
        rows.append(
            [
                customer,
                len(theirs),
                ",".join(sorted({e.channel for e in theirs})),
                ",".join(sorted({e.business_line for e in theirs})),
                theirs[0].received_at.date().isoformat(),
                theirs[-1].received_at.date().isoformat(),
            ]
        )
    rows.sort(key=lambda row: (-int(row[1]), str(row[0])))  # type: ignore[call-overload]
    return Table(
        "repeat_complainants",
        ("重复投诉客户（已脱敏）", "Repeat complainants (masked)"),
        ["customer", "complaints", "channels", "business_lines", "first", "last"],
        rows,
    )


@dataclass
class _Incident:
    first: datetime
    business_line: str
    reason: str
    complaints: set[str] = field(default_factory=set)

    def see(self, complaint_id: str, at: datetime, business_line: str, reason: str) -> None:
        self.first = min(self.first, at)
        self.business_line = self.business_line or business_line
        self.reason = self.reason or reason
        self.complaints.add(complaint_id)


def incidents_table(ledger: Ledger) -> Table:
    """Complaint storms: incident events plus every complaint the router tied to each incident."""
    found: dict[str, _Incident] = {}
    for event in ledger.events:
        if event.kind == EventKind.incident and "incident_id" in event.details:
            line, reason = event.details.get("business_line", ""), event.details.get("reason", "")
            found.setdefault(event.details["incident_id"], _Incident(event.occurred_at, line, reason)).see(
                event.complaint_id, event.occurred_at, line, reason
            )
    for entry in ledger.entries.values():
        if entry.incident_id:
            found.setdefault(entry.incident_id, _Incident(entry.received_at, "", "")).see(
                entry.complaint_id, entry.received_at, entry.business_line, entry.reason
            )
    rows: list[list[object]] = [
        [incident_id, i.first.isoformat(timespec="minutes"), i.business_line, i.reason, len(i.complaints)]
        for incident_id, i in sorted(found.items(), key=lambda item: item[1].first)
    ]
    return Table(
        "incidents",
        ("投诉风暴 / 事件", "Storms and incidents"),
        ["incident", "first_seen", "business_line", "reason", "complaints"],
        rows,
    )


def _sla_row(department: str, group: list[LedgerEntry]) -> list[object]:
    ack = [h for e in group if (h := e.hours_to(e.acknowledged_at)) is not None]
    contact = [h for e in group if (h := e.hours_to(e.first_contact_at)) is not None]
    decision = [h for e in group if (h := e.hours_to(e.decided_at)) is not None]
    breaches = Counter(kind for e in group for kind in e.breaches)
    return [
        department,
        len(group),
        len(ack),
        *(_rounded(percentile(ack, p)) for p in PERCENTILES),
        len(contact),
        *(_rounded(percentile(contact, p)) for p in PERCENTILES),
        len(decision),
        *(_rounded(percentile(decision, p)) for p in PERCENTILES),
        sum(len(e.warnings) for e in group),
        breaches["first_contact"],
        breaches["decision"],
        sum(e.extensions for e in group),
    ]


SLA_COLUMNS = [
    "department",
    "complaints",
    "acknowledged",
    *(f"ack_p{p}_h" for p in PERCENTILES),
    "first_contacted",
    *(f"first_contact_p{p}_h" for p in PERCENTILES),
    "decided",
    *(f"decision_p{p}_h" for p in PERCENTILES),
    "sla_warnings",
    "breaches_first_contact",
    "breaches_decision",
    "extensions",
]


def sla_table(entries: list[LedgerEntry]) -> Table:
    """Hours from receipt to acknowledgement, first contact and decision, per department and overall."""
    by_department: dict[str, list[LedgerEntry]] = defaultdict(list)
    for entry in entries:
        by_department[entry.department].append(entry)
    rows = [_sla_row(d, group) for d, group in sorted(by_department.items())]
    rows.append(_sla_row("all", entries))
    return Table("sla", ("时效（小时）", "SLA (hours)"), SLA_COLUMNS, rows)


def notifications_table(ledger: Ledger) -> Table:
    results: dict[str, Counter[str]] = defaultdict(Counter)
    for event in ledger.events:
        if event.kind in (EventKind.notification_sent, EventKind.notification_failed):
            # "delivery" is the detail's name before schema 1's additive "medium"; the log may still hold such events
            medium = event.details.get("medium") or event.details.get("delivery") or "unknown"
            results[medium]["sent" if event.kind == EventKind.notification_sent else "failed"] += 1
    rows = []
    for medium, counts in sorted(results.items()):
        attempts = counts["sent"] + counts["failed"]
        failure_pct = _rounded(100 * counts["failed"] / attempts, 1)
        rows.append([medium, counts["sent"], counts["failed"], failure_pct])
    return Table(
        "notifications", ("客户通知", "Customer notifications"), ["medium", "sent", "failed", "failure_pct"], rows
    )


def satisfaction_table(entries: list[LedgerEntry]) -> Table:
    """Scores 1..5 from customers' replies, per department and overall."""
    by_department: dict[str, list[int]] = defaultdict(list)
    for entry in entries:
        by_department[entry.department].extend(entry.scores)
    everything = [s for scores in by_department.values() for s in scores]
    rows = []
    for department, scores in [*sorted(by_department.items()), ("all", everything)]:
        if not scores:
            continue
        counts = Counter(scores)
        mean = _rounded(sum(scores) / len(scores))
        rows.append([department, len(scores), mean, *(counts[s] for s in range(1, 6))])
    return Table(
        "satisfaction",
        ("客户满意度", "Satisfaction"),
        ["department", "responses", "mean_score", *(f"score_{s}" for s in range(1, 6))],
        rows,
    )
