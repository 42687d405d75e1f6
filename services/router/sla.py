"""SLA arithmetic: acknowledgement, first-contact and decision deadlines, extensions and the alerts the SLA clock plans.

Profiles (``cn`` is the default, after CBIRC Order 2020 No. 3):

* ``cn``: first contact by severity (critical 2 hours, high 1, medium 2, low 3 business days); decision
  15 calendar days after receipt; may be extended to 30 days, then to 60 days with a named approver.
* ``uk`` (FCA DISP): first contact within 3 business days (2 hours if critical); final response 8 weeks;
  no extension.
* ``us`` (CFPB): first contact as ``cn``; response 15 days; one extension to 60 days.

Waiting on the customer (``need_info``) stops the decision clock where the profile says so (``cn``; the
``sla_pause_on_need_info`` setting overrides it): the customer's reply starts it again, and the decision
deadline moves by the time waited.

Business days skip Saturdays, Sundays and the given holidays, in the profile's local time zone. "N business
days" means the same local clock time on the Nth business day after the local date of receipt.
Acknowledgement is immediate (due at receipt). All times are returned in UTC.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

from schemas import Deadlines, Severity

DEFAULT_HOLIDAYS_PATH = Path(__file__).parent / "holidays_cn.txt"

AlertKind = Literal["sla_warning", "sla_breached"]
DeadlineName = Literal["first_contact", "decision"]


class ExtensionNotAllowed(ValueError):
    """The profile's rules forbid this extension."""


class UnknownProfile(ValueError):
    pass


@dataclass(frozen=True)
class SlaProfile:
    name: str
    first_contact_hours: Mapping[Severity, int]  # wall-clock hours, for severities that count in hours
    first_contact_business_days: Mapping[Severity, int]
    decision_days: int
    extension_days: tuple[int, ...]  # total days from receipt after the 1st, 2nd ... extension
    approver_required_from: int  # the 1-based extension from which an approver must be named
    pause_on_need_info: bool = False  # waiting on the customer stops the decision clock


_CN_FIRST_CONTACT_DAYS = {Severity.high: 1, Severity.medium: 2, Severity.low: 3}

PROFILES: dict[str, SlaProfile] = {
    # cn: the time a customer takes to supply requested information does not count towards the decision.
    "cn": SlaProfile("cn", {Severity.critical: 2}, _CN_FIRST_CONTACT_DAYS, 15, (30, 60), 2, pause_on_need_info=True),
    "uk": SlaProfile("uk", {Severity.critical: 2}, {Severity.high: 3, Severity.medium: 3, Severity.low: 3}, 56, (), 1),
    "us": SlaProfile("us", {Severity.critical: 2}, _CN_FIRST_CONTACT_DAYS, 15, (60,), 2),
}


def get_profile(name: str) -> SlaProfile:
    try:
        return PROFILES[name]
    except KeyError:
        raise UnknownProfile(f"unknown SLA profile {name!r} (known: {', '.join(PROFILES)})") from None


def load_holidays(path: Path | None = None) -> frozenset[date]:
    """ISO dates, one per line (``2026-10-01``) or as YAML list items (``- 2026-10-01``).

    ``#`` starts a comment."""
    holidays = set()
    for number, raw in enumerate(Path(path or DEFAULT_HOLIDAYS_PATH).read_text(encoding="utf-8").splitlines(), 1):
        line = raw.split("#", 1)[0].strip().removeprefix("-").strip().strip("'\"")
        if not line:
            continue
        try:
            holidays.add(date.fromisoformat(line))
        except ValueError:
            raise ValueError(f"{path}:{number}: not an ISO date: {raw.strip()!r}") from None
    return frozenset(holidays)


def is_business_day(day: date, holidays: Iterable[date] = frozenset()) -> bool:
    return day.weekday() < 5 and day not in holidays


def add_business_days(start: datetime, days: int, holidays: frozenset[date] = frozenset()) -> datetime:
    """Same local time on the ``days``-th business day after ``start``'s local date."""
    current = start
    remaining = days
    while remaining > 0:
        current = current + timedelta(days=1)
        if is_business_day(current.date(), holidays):
            remaining -= 1
    # Re-attach the zone so a DST change between the two dates keeps the local clock time.
    return current.replace(tzinfo=start.tzinfo)


def _require_aware(value: datetime, name: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")


def initial_deadlines(
    received_at: datetime,
    severity: Severity,
    profile: str = "cn",
    holidays: frozenset[date] = frozenset(),
    tz: str = "Asia/Shanghai",
) -> Deadlines:
    _require_aware(received_at, "received_at")
    rules = get_profile(profile)
    local = received_at.astimezone(ZoneInfo(tz))
    if severity in rules.first_contact_hours:
        first_contact = received_at + timedelta(hours=rules.first_contact_hours[severity])
    else:
        first_contact = add_business_days(local, rules.first_contact_business_days[severity], holidays)
    return Deadlines(
        profile=rules.name,
        acknowledge_by=received_at.astimezone(UTC),
        first_contact_by=first_contact.astimezone(UTC),
        decision_by=(received_at + timedelta(days=rules.decision_days)).astimezone(UTC),
        extensions=0,
    )


def extend_deadlines(
    deadlines: Deadlines, received_at: datetime, *, approver: str | None, profile: str | None = None
) -> Deadlines:
    """The decision deadline after one more extension; raises :class:`ExtensionNotAllowed` when forbidden."""
    _require_aware(received_at, "received_at")
    rules = get_profile(profile or deadlines.profile)
    number = deadlines.extensions + 1
    if not rules.extension_days:
        raise ExtensionNotAllowed(f"the {rules.name} profile allows no extension of the decision deadline")
    if number > len(rules.extension_days):
        raise ExtensionNotAllowed(
            f"the {rules.name} profile allows at most {len(rules.extension_days)} extension(s), to "
            f"{rules.extension_days[-1]} days after receipt; this complaint has had {deadlines.extensions}"
        )
    if number >= rules.approver_required_from and not (approver and approver.strip()):
        raise ExtensionNotAllowed(
            f"extension {number} (to {rules.extension_days[number - 1]} days) needs a named approver"
        )
    new_decision = (received_at + timedelta(days=rules.extension_days[number - 1])).astimezone(UTC)
    return deadlines.model_copy(update={"decision_by": max(new_decision, deadlines.decision_by), "extensions": number})


def pauses_on_need_info(profile: str, override: bool | None = None) -> bool:
    """Whether waiting on the customer stops the decision clock under ``profile`` (or as configured)."""
    return get_profile(profile).pause_on_need_info if override is None else override


def pause_deadlines(deadlines: Deadlines, now: datetime) -> Deadlines:
    """The decision clock stopped at ``now``; unchanged when it already stands."""
    _require_aware(now, "now")
    if deadlines.paused_at is not None:
        return deadlines
    return deadlines.model_copy(update={"paused_at": now.astimezone(UTC)})


def resume_deadlines(deadlines: Deadlines, now: datetime) -> Deadlines:
    """The decision clock running again at ``now``: the decision deadline moves by the whole seconds it stood
    still (never back); unchanged when it was running."""
    _require_aware(now, "now")
    if deadlines.paused_at is None:
        return deadlines
    waited = max(0, int((now - deadlines.paused_at).total_seconds()))
    return deadlines.model_copy(
        update={
            "decision_by": deadlines.decision_by + timedelta(seconds=waited),
            "paused_at": None,
            "paused_s": deadlines.paused_s + waited,
        }
    )


WARN_AT_FRACTION = 0.8  # warn when 80 % of the time allowed for a deadline has gone


def warning_at(received_at: datetime, deadline: datetime, fraction: float = WARN_AT_FRACTION) -> datetime:
    """When the warning before ``deadline`` falls due: ``fraction`` of the time from receipt to it has gone."""
    _require_aware(received_at, "received_at")
    return received_at + (deadline - received_at) * fraction


def planned_alerts(
    received_at: datetime, deadlines: Deadlines, only: DeadlineName | None = None
) -> list[tuple[DeadlineName, AlertKind, datetime, datetime]]:
    """The alerts the SLA clock plans for a complaint: for the first-contact and the decision deadline (or only
    the one named), a warning at :func:`warning_at` and a breach at the deadline, as (deadline name, alert kind,
    deadline, due at)."""
    alerts: list[tuple[DeadlineName, AlertKind, datetime, datetime]] = []
    which: DeadlineName
    for which, deadline in (("first_contact", deadlines.first_contact_by), ("decision", deadlines.decision_by)):
        if only and which != only:
            continue
        alerts.append((which, "sla_warning", deadline, warning_at(received_at, deadline)))
        alerts.append((which, "sla_breached", deadline, deadline))
    return alerts
