"""`complaintflow report`: read the event log, fold it into the ledger, write one file."""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from complaintflow.report.ledger import build_ledger, compute_figures
from complaintflow.report.read import read_event_log
from complaintflow.report.render import render_csv, render_html, render_json
from kernel.settings import Settings
from kernel.topics import Topics

_DURATION = re.compile(r"^\s*(\d+)\s*([dhw])\s*$")
_UNITS = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}


def parse_since(text: str, now: datetime, tz: ZoneInfo) -> datetime:
    """``30d``, ``12h``, ``2w`` back from now, or a date (start of that day in the bank's time zone)."""
    match = _DURATION.match(text)
    if match:
        return now - int(match.group(1)) * _UNITS[match.group(2)]
    return _as_moment(text, tz, end_of_day=False)


def parse_until(text: str | None, now: datetime, tz: ZoneInfo) -> datetime:
    """A date counts whole (to the end of that day); nothing means now."""
    return now if not text else _as_moment(text, tz, end_of_day=True)


def _as_moment(text: str, tz: ZoneInfo, end_of_day: bool) -> datetime:
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"not a duration (30d, 12h, 2w) or a date (YYYY-MM-DD): {text!r}") from None
    if len(text.strip()) == 10:  # a bare date
        moment = datetime.combine(moment.date(), time.max if end_of_day else time.min)
    return moment if moment.tzinfo else moment.replace(tzinfo=tz)


def run_report(
    settings: Settings,
    bootstrap: str,
    *,
    since: str = "30d",
    until: str | None = None,
    out_dir: Path = Path("var/report"),
    fmt: str = "html",
) -> Path:
    tz = ZoneInfo(settings.timezone)
    now = datetime.now(UTC)
    start, end = parse_since(since, now, tz), parse_until(until, now, tz)
    if start >= end:
        raise ValueError(f"--since ({start.isoformat()}) must be before --until ({end.isoformat()})")
    log = read_event_log(bootstrap, Topics(settings.topic_prefix))
    ledger = build_ledger(log.routed, log.statuses, log.events, start, end, settings.timezone)
    tables = compute_figures(ledger)
    local_start, local_end, generated = start.astimezone(tz), end.astimezone(tz), now.astimezone(tz)
    if fmt == "html":
        text = render_html(tables, local_start, local_end, generated)
    elif fmt == "csv":
        text = render_csv(tables)
    elif fmt == "json":
        text = render_json(tables, local_start, local_end, generated)
    else:
        raise ValueError(f"unknown format {fmt!r}")
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"complaint-ledger-{local_start:%Y%m%d}-{local_end:%Y%m%d}.{fmt}"
    path.write_text(text, encoding="utf-8-sig" if fmt == "csv" else "utf-8")  # BOM: Excel reads UTF-8 CSV right
    return path
