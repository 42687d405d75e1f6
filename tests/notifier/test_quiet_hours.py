from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from services.notifier.quiet_hours import parse_window, send_after

SHANGHAI = ZoneInfo("Asia/Shanghai")


def at(hour: int, minute: int = 0, day: int = 22, zone: ZoneInfo = SHANGHAI) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=zone)


def test_outside_quiet_hours_sends_now() -> None:
    assert send_after(at(12)) is None
    assert send_after(at(8, 0)) is None  # the window ends at 08:00 sharp
    assert send_after(at(20, 59)) is None


def test_evening_waits_for_next_morning() -> None:
    resume = send_after(at(22, 15))
    assert resume == at(8, 0, day=23)
    assert resume is not None and resume.tzinfo is not None
    assert send_after(at(21, 0)) == at(8, 0, day=23)


def test_early_morning_waits_until_eight_the_same_day() -> None:
    assert send_after(at(3, 30)) == at(8, 0)
    assert send_after(at(0, 0)) == at(8, 0)


def test_utc_input_is_judged_in_the_customer_zone() -> None:
    # 14:00 UTC is 22:00 in Shanghai but 14:00 in London.
    now = datetime(2026, 11, 22, 14, 0, tzinfo=UTC)
    assert send_after(now, tz="Asia/Shanghai") == at(8, 0, day=23)
    assert send_after(now, tz="Europe/London") is None
    london_night = datetime(2026, 11, 22, 23, 0, tzinfo=UTC)
    assert send_after(london_night, tz="Europe/London") == datetime(
        2026, 11, 23, 8, 0, tzinfo=ZoneInfo("Europe/London")
    )


def test_window_within_one_day() -> None:
    assert send_after(at(12, 30), window="12:00-14:00") == at(14, 0)
    assert send_after(at(14, 0), window="12:00-14:00") is None
    assert send_after(at(23, 0), window="12:00-14:00") is None


def test_empty_window_never_defers() -> None:
    assert send_after(at(23), window="00:00-00:00") is None


def test_dst_change_inside_the_window() -> None:
    new_york = ZoneInfo("America/New_York")
    # Clocks go back at 02:00 on 1 November 2026; the window still ends at 08:00 local time.
    resume = send_after(datetime(2026, 10, 31, 23, 0, tzinfo=new_york), tz="America/New_York")
    assert resume == datetime(2026, 11, 1, 8, 0, tzinfo=new_york)
    assert resume is not None and resume.utcoffset() is not None and resume.utcoffset().total_seconds() == -5 * 3600


def test_unknown_zone_uses_the_bank_default() -> None:
    assert send_after(datetime(2026, 11, 22, 14, 0, tzinfo=UTC), tz="Nowhere/Atlantis") == at(8, 0, day=23)


def test_bad_input() -> None:
    with pytest.raises(ValueError):
        parse_window("9pm to 8am")
    with pytest.raises(ValueError):
        send_after(datetime(2026, 11, 22, 22, 0))
    assert parse_window("21:30-07:45")[0].minute == 30
