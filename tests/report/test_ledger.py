"""The ledger's figures against a generated month, each counted a second way straight from the records."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from complaintflow.report.ledger import Table, build_ledger, compute_figures, percentile
from complaintflow.report.render import render_csv, render_html, render_json
from complaintflow.report.sample import SampleMonth, generate_month
from schemas import EventKind

START = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def month() -> SampleMonth:
    return generate_month(seed=20260301, start=START)


@pytest.fixture(scope="module")
def tables(month: SampleMonth) -> dict[str, Table]:
    ledger = build_ledger(month.routed, month.statuses, month.events, month.start, month.end)
    return {table.name: table for table in compute_figures(ledger)}


def _column(table: Table, column: str) -> dict[object, object]:
    index = table.columns.index(column)
    return {row[0]: row[index] for row in table.rows}


def _final_departments(month: SampleMonth) -> dict[str, str]:
    final: dict[str, tuple[int, str]] = {}
    for record in month.routed:
        cid = record.complaint.complaint_id
        if cid not in final or record.revision > final[cid][0]:
            final[cid] = (record.revision, record.department.value)
    return {cid: department for cid, (_, department) in final.items()}


def _unique_events(month: SampleMonth, until: datetime | None = None) -> list:
    return list({e.event_id: e for e in month.events if until is None or e.occurred_at <= until}.values())


def test_counts_by_each_dimension_match_the_plan(month: SampleMonth, tables: dict[str, Table]) -> None:
    plans = month.plans
    assert _column(tables["summary"], "value")["complaints"] == len(plans) == len({p.complaint_id for p in plans})
    assert _column(tables["by_channel"], "complaints") == dict(Counter(p.channel.value for p in plans))
    assert _column(tables["by_business_line"], "complaints") == dict(Counter(p.business_line.value for p in plans))
    assert _column(tables["by_reason"], "complaints") == dict(Counter(p.reason.value for p in plans))
    assert _column(tables["by_severity"], "complaints") == dict(Counter(p.severity.value for p in plans))
    final = Counter((p.transferred_to or p.department).value for p in plans)
    assert _column(tables["by_department"], "complaints") == dict(final)
    assert sum(_column(tables["by_channel"], "share_pct").values()) == pytest.approx(100, abs=0.3)


def test_daily_trend_covers_every_day_and_sums_to_the_total(month: SampleMonth, tables: dict[str, Table]) -> None:
    trend = tables["trend_daily"]
    days = [row[0] for row in trend.rows]
    assert days[0] == "2026-03-01" and len(days) == len(set(days)) >= 30
    shanghai = Counter(p.received_at.astimezone(ZoneInfo("Asia/Shanghai")).date().isoformat() for p in month.plans)
    assert {row[0]: row[1] for row in trend.rows if row[1]} == dict(shanghai)
    storm_day = (START + timedelta(days=12, hours=3)).astimezone(ZoneInfo("Asia/Shanghai")).date().isoformat()
    assert _column(trend, "complaints")[storm_day] == max(row[1] for row in trend.rows)


def test_recurring_pairs_and_the_storm(month: SampleMonth, tables: dict[str, Table]) -> None:
    pairs = Counter((p.business_line.value, p.reason.value) for p in month.plans)
    top = tables["recurring_pairs"].rows[0]
    assert (top[0], top[1]) == ("digital_channels", "system_failure")
    assert top[2] == pairs[("digital_channels", "system_failure")] == max(pairs.values())
    assert [tuple(row) for row in tables["recurring_pairs"].rows] == [
        (line, reason, n) for (line, reason), n in pairs.most_common(10) if n > 1
    ][: len(tables["recurring_pairs"].rows)]
    incidents = tables["incidents"].rows
    assert len(incidents) == 1
    assert incidents[0][2:] == ["digital_channels", "system_failure", sum(1 for p in month.plans if p.incident_id)]


def test_repeat_complainants_are_masked_and_counted(month: SampleMonth, tables: dict[str, Table]) -> None:
    per_person = Counter(p.customer_index for p in month.plans)
    repeaters = sorted((n for n in per_person.values() if n > 1), reverse=True)
    rows = tables["repeat_complainants"].rows
    assert [row[1] for row in rows] == repeaters
    assert all(str(row[0]).startswith("C-") and len(str(row[0])) == 12 for row in rows)
    people = {r.complaint.customer for r in month.routed}
    text = render_json(list(tables.values()), month.start, month.end, month.end) + render_csv(list(tables.values()))
    text += render_html(list(tables.values()), month.start, month.end, month.end)
    for person in people:
        assert person.phone not in text and person.name not in text
        assert person.email is None or person.email not in text


def test_sla_percentiles_breaches_and_extensions(month: SampleMonth, tables: dict[str, Table]) -> None:
    sla = {row[0]: dict(zip(tables["sla"].columns, row, strict=True)) for row in tables["sla"].rows}
    overall = sla["all"]
    ack_hours = [p.acknowledged_after.total_seconds() / 3600 for p in month.plans]  # type: ignore[union-attr]
    assert overall["acknowledged"] == len(month.plans)
    assert overall["ack_p90_h"] == pytest.approx(np.percentile(ack_hours, 90, method="inverted_cdf"), abs=0.006)
    decided = [p for p in month.plans if p.decided_after is not None and p.received_at + p.decided_after <= month.end]
    decision_hours = [p.decided_after.total_seconds() / 3600 for p in decided]  # type: ignore[union-attr]
    assert overall["decided"] == len(decided)
    for p in (50, 90, 95):
        expected = np.percentile(decision_hours, p, method="inverted_cdf")
        assert overall[f"decision_p{p}_h"] == pytest.approx(expected, abs=0.006)
    events = _unique_events(month, month.end)
    breaches = [e for e in events if e.kind == EventKind.sla_breached]
    final = _final_departments(month)
    breaches_by_final = Counter(
        (final[e.complaint_id], e.details["deadline_kind"]) for e in events if e.kind == EventKind.sla_breached
    )
    assert len(breaches) == overall["breaches_first_contact"] + overall["breaches_decision"]
    for department, row in sla.items():
        if department != "all":
            assert row["breaches_decision"] == breaches_by_final[(department, "decision")]
    extensions = sum(1 for e in events if e.kind == EventKind.extended)
    in_time = sum(1 for p in month.plans if p.extended and p.received_at + timedelta(days=10) <= month.end)
    assert overall["extensions"] == extensions == in_time


def test_notifications_and_satisfaction(month: SampleMonth, tables: dict[str, Table]) -> None:
    events = _unique_events(month, month.end)
    sent = Counter(e.details["medium"] for e in events if e.kind == EventKind.notification_sent)
    failed = Counter(e.details["medium"] for e in events if e.kind == EventKind.notification_failed)
    assert _column(tables["notifications"], "sent") == dict(sent)
    assert _column(tables["notifications"], "failed") == {k: failed.get(k, 0) for k in sent}
    scores = [int(e.details["score"]) for e in events if e.kind == EventKind.feedback_received]
    overall = dict(zip(tables["satisfaction"].columns, tables["satisfaction"].rows[-1], strict=True))
    assert overall["department"] == "all" and overall["responses"] == len(scores)
    assert overall["mean_score"] == pytest.approx(sum(scores) / len(scores), abs=0.006)
    assert [overall[f"score_{s}"] for s in range(1, 6)] == [scores.count(s) for s in range(1, 6)]


def test_duplicates_do_not_count_twice(month: SampleMonth) -> None:
    doubled = build_ledger(month.routed * 2, month.statuses * 2, month.events * 2, month.start, month.end)
    single = build_ledger(month.routed, month.statuses, month.events, month.start, month.end)
    assert [t.rows for t in compute_figures(doubled)] == [t.rows for t in compute_figures(single)]


def test_a_narrower_period_keeps_only_its_complaints(month: SampleMonth) -> None:
    since, until = START + timedelta(days=5), START + timedelta(days=9)
    ledger = build_ledger(month.routed, month.statuses, month.events, since, until)
    assert set(ledger.entries) == {p.complaint_id for p in month.plans if since <= p.received_at <= until}
    decided_later = [e for e in ledger.entries.values() if e.decided_at is not None and e.decided_at > until]
    assert decided_later == []


def test_csv_and_json_carry_the_same_figures(month: SampleMonth, tables: dict[str, Table]) -> None:
    listed = list(tables.values())
    document = json.loads(render_json(listed, month.start, month.end, month.end))
    rows = list(csv.DictReader(io.StringIO(render_csv(listed))))
    by_channel = {
        r["key"]: int(r["value"]) for r in rows if r["table"] == "by_channel" and r["measure"] == "complaints"
    }
    assert by_channel == {r["channel"]: r["complaints"] for r in document["tables"]["by_channel"]}
    assert by_channel == _column(tables["by_channel"], "complaints")
    sla_all = next(r for r in document["tables"]["sla"] if r["department"] == "all")
    assert (
        float(
            next(
                r["value"]
                for r in rows
                if r["table"] == "sla" and r["key"] == "all" and r["measure"] == "decision_p90_h"
            )
        )
        == sla_all["decision_p90_h"]
    )


def test_html_is_self_contained_with_charts_and_both_languages(month: SampleMonth, tables: dict[str, Table]) -> None:
    html = render_html(list(tables.values()), month.start, month.end, month.end)
    assert html.count("<svg") >= 6
    for external in ('src="http', 'href="http', "url(http", "<script", "<link", "@import"):
        assert external not in html
    for label in ("按渠道", "By channel", "时效（小时）", "SLA (hours)", "客服热线", "Hotline", "反欺诈中心"):
        assert label in html


def test_percentile_is_nearest_rank() -> None:
    assert percentile([], 50) is None
    assert percentile([5.0], 95) == 5.0
    values = [float(v) for v in range(1, 101)]
    assert [percentile(values, p) for p in (50, 90, 95)] == [50.0, 90.0, 95.0]
