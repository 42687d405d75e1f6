"""SLA arithmetic: business days over weekends and holidays, extensions, alerts."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from schemas import Severity
from services.router.sla import (
    ExtensionNotAllowed,
    add_business_days,
    extend_deadlines,
    initial_deadlines,
    load_holidays,
    pause_deadlines,
    pauses_on_need_info,
    planned_alerts,
    resume_deadlines,
    warning_at,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
NATIONAL_DAY = frozenset(date(2026, 10, d) for d in (1, 2, 5, 6, 7))


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)


def test_critical_first_contact_is_two_hours_and_acknowledgement_immediate() -> None:
    received = local(2026, 11, 20, 23, 30)  # a Friday night
    deadlines = initial_deadlines(received, Severity.critical)
    assert deadlines.acknowledge_by == received
    assert deadlines.first_contact_by == received + timedelta(hours=2)
    assert deadlines.decision_by == received + timedelta(days=15)
    assert deadlines.first_contact_by.tzinfo == UTC


@pytest.mark.parametrize(
    ("severity", "expected"),
    [
        (Severity.high, local(2026, 11, 23, 15)),
        (Severity.medium, local(2026, 11, 24, 15)),
        (Severity.low, local(2026, 11, 25, 15)),
    ],
)
def test_business_days_skip_the_weekend(severity: Severity, expected: datetime) -> None:
    received = local(2026, 11, 20, 15)  # Friday 15:00
    assert initial_deadlines(received, severity).first_contact_by == expected


def test_business_days_skip_holidays() -> None:
    received = local(2026, 9, 30, 10)  # Wednesday before National Day
    deadlines = initial_deadlines(received, Severity.high, holidays=NATIONAL_DAY)
    assert deadlines.first_contact_by == local(2026, 10, 8, 10)
    assert add_business_days(received, 3, NATIONAL_DAY) == local(2026, 10, 12, 10)  # Thu 8, Fri 9, Mon 12


def test_weekend_receipt_counts_from_next_business_day() -> None:
    assert initial_deadlines(local(2026, 11, 21, 9), Severity.high).first_contact_by == local(2026, 11, 23, 9)


def test_uk_and_us_profiles() -> None:
    received = local(2026, 11, 20, 15)
    uk = initial_deadlines(received, Severity.high, profile="uk", tz="Europe/London")
    assert uk.decision_by == received + timedelta(weeks=8)
    us = initial_deadlines(received, Severity.low, profile="us", tz="America/New_York")
    assert us.decision_by == received + timedelta(days=15)
    with pytest.raises(ValueError, match="unknown SLA profile 'xx'"):
        initial_deadlines(received, Severity.low, profile="xx")


def test_cn_extensions_30_then_60_with_approver() -> None:
    received = local(2026, 11, 2, 9)
    deadlines = initial_deadlines(received, Severity.medium)
    first = extend_deadlines(deadlines, received, approver=None)
    assert (first.decision_by, first.extensions) == (received + timedelta(days=30), 1)
    with pytest.raises(ExtensionNotAllowed, match="needs a named approver"):
        extend_deadlines(first, received, approver="  ")
    second = extend_deadlines(first, received, approver="Wang Li, vice-president")
    assert (second.decision_by, second.extensions) == (received + timedelta(days=60), 2)
    with pytest.raises(ExtensionNotAllowed, match="at most 2 extension"):
        extend_deadlines(second, received, approver="Wang Li")


def test_uk_allows_no_extension_and_us_one() -> None:
    received = local(2026, 11, 2, 9)
    with pytest.raises(ExtensionNotAllowed, match="uk profile allows no extension"):
        extend_deadlines(initial_deadlines(received, Severity.low, profile="uk"), received, approver="A")
    us = extend_deadlines(initial_deadlines(received, Severity.low, profile="us"), received, approver=None)
    assert us.decision_by == received + timedelta(days=60)


def test_warnings_fall_due_at_80_percent_of_the_time_allowed() -> None:
    received = local(2026, 11, 20, 10)
    deadlines = initial_deadlines(received, Severity.critical)  # first contact in 2 hours, decision in 15 days
    assert warning_at(received, deadlines.first_contact_by) == received + timedelta(hours=1, minutes=36)
    assert warning_at(received, deadlines.decision_by) == received + timedelta(days=12)
    assert planned_alerts(received, deadlines) == [
        ("first_contact", "sla_warning", deadlines.first_contact_by, received + timedelta(hours=1, minutes=36)),
        ("first_contact", "sla_breached", deadlines.first_contact_by, deadlines.first_contact_by),
        ("decision", "sla_warning", deadlines.decision_by, received + timedelta(days=12)),
        ("decision", "sla_breached", deadlines.decision_by, deadlines.decision_by),
    ]
    assert [a[:2] for a in planned_alerts(received, deadlines, only="decision")] == [
        ("decision", "sla_warning"),
        ("decision", "sla_breached"),
    ]
    with pytest.raises(ValueError, match="timezone-aware"):
        warning_at(datetime(2026, 11, 20, 10), deadlines.decision_by)


def test_naive_times_are_rejected() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        initial_deadlines(datetime(2026, 11, 20, 10), Severity.low)


def test_holiday_files(tmp_path: Path) -> None:
    shipped = load_holidays()
    assert date(2026, 10, 1) in shipped and date(2027, 1, 1) in shipped
    assert all(d.weekday() < 5 for d in shipped)
    yaml_style = tmp_path / "holidays.yaml"
    yaml_style.write_text("# office closures\n- 2026-12-24\n- '2026-12-25'  # Christmas\n", encoding="utf-8")
    assert load_holidays(yaml_style) == {date(2026, 12, 24), date(2026, 12, 25)}
    yaml_style.write_text("2026-13-01\n", encoding="utf-8")
    with pytest.raises(ValueError, match="not an ISO date"):
        load_holidays(yaml_style)


def test_waiting_on_the_customer_moves_the_decision_deadline_by_the_time_waited() -> None:
    received = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
    deadlines = initial_deadlines(received, Severity.medium)
    asked = received + timedelta(days=3)
    paused = pause_deadlines(deadlines, asked)
    assert paused.paused_at == asked and paused.decision_by == deadlines.decision_by
    assert pause_deadlines(paused, asked + timedelta(days=1)) == paused  # a second request does not restart it
    answered = asked + timedelta(days=2, hours=5, seconds=30.7)
    resumed = resume_deadlines(paused, answered)
    assert resumed.paused_at is None and resumed.paused_s == 2 * 86400 + 5 * 3600 + 30
    assert resumed.decision_by == deadlines.decision_by + timedelta(days=2, hours=5, seconds=30)
    assert resume_deadlines(resumed, answered + timedelta(days=1)) == resumed  # not paused: unchanged
    again = resume_deadlines(pause_deadlines(resumed, answered + timedelta(days=1)), answered + timedelta(days=2))
    assert again.paused_s == resumed.paused_s + 86400
    assert resume_deadlines(paused, asked - timedelta(hours=1)).decision_by == deadlines.decision_by  # never back


def test_which_profiles_stop_the_clock_for_the_customer() -> None:
    assert pauses_on_need_info("cn") and not pauses_on_need_info("uk") and not pauses_on_need_info("us")
    assert pauses_on_need_info("uk", override=True) and not pauses_on_need_info("cn", override=False)
