"""Quiet hours: SMS that is not urgent waits until the customer's morning."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_WINDOW = "21:00-08:00"
DEFAULT_TIMEZONE = "Asia/Shanghai"


def parse_window(window: str) -> tuple[time, time]:
    """``"21:00-08:00"`` → (21:00, 08:00). A window whose start equals its end is empty."""
    try:
        start_text, end_text = (part.strip() for part in window.split("-"))
        return time.fromisoformat(start_text), time.fromisoformat(end_text)
    except ValueError as exc:
        raise ValueError(f"quiet hours must look like HH:MM-HH:MM, got {window!r}") from exc


def zone_or_default(name: str | None, default: str = DEFAULT_TIMEZONE) -> ZoneInfo:
    """The customer's zone when it is a real IANA name, else the bank's."""
    if name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return ZoneInfo(default)


def send_after(now: datetime, window: str = DEFAULT_WINDOW, tz: str = DEFAULT_TIMEZONE) -> datetime | None:
    """When a message composed at ``now`` may go out: None if ``now`` is outside quiet hours, else the
    end of the window as an aware datetime in ``tz``. Windows that cross midnight are handled; an
    unknown zone name counts as Asia/Shanghai."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    start, end = parse_window(window)
    if start == end:
        return None
    zone = zone_or_default(tz)  # an unknown customer zone falls back to the bank's default
    local = now.astimezone(zone)
    clock = local.time().replace(tzinfo=None)
    today = local.date()
    if start < end:
        in_window = start <= clock < end
        end_day = today
    else:
        in_window = clock >= start or clock < end
        end_day = today + timedelta(days=1) if clock >= start else today
    if not in_window:
        return None
    # Built from the wall clock so a DST change inside the window still ends it at the local time.
    return datetime.combine(end_day, end, tzinfo=zone)
