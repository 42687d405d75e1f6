"""What the JSON channels' payload models share (each model lives in its channel's module under
``services/intake/channels/``).

Unknown fields are refused (``extra="forbid"``) so a client's typo is caught rather than silently
ignored. Error messages name the field and the rule, never echo the value (it may be personal data).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

MAX_AMOUNT = Decimal("100000000000")  # 1e11, well beyond any retail complaint
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:@\-]{0,127}$"

EARLIEST_EVENT = datetime(2000, 1, 1, tzinfo=UTC)
CLOCK_SKEW = timedelta(days=1)


def plausible_time(value: datetime | None) -> datetime | None:
    """A call or post time must be real: not before 2000 nor more than a day ahead of this clock (a year-9999 date
    cannot even be converted to UTC everywhere, and would break every deadline computed from it)."""
    if value is None:
        return None
    try:
        in_utc = value.astimezone(UTC)
        real = EARLIEST_EVENT <= in_utc <= datetime.now(UTC) + CLOCK_SKEW
    except (OverflowError, ValueError):
        real = False
    if not real:
        raise ValueError("must be a real time: not before 2000 and not in the future")
    return value


class Request(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)


def last4_field(value: Any, what: str) -> str | None:
    if value is None or value == "":
        return None
    text = str(value).replace(" ", "").replace("-", "")
    digits = sum(c.isdigit() for c in text)
    if digits >= 8:
        raise ValueError(f"enter only the last 4 digits of the {what}, never the full number")
    if len(text) != 4 or not text.isdigit():
        raise ValueError(f"must be exactly the last 4 digits of the {what}")
    return text


def describe_validation_error(error: ValidationError, limit: int = 6) -> str:
    """One readable line per problem ('description: String should have at least 10 characters'),
    without the offending values, for API answers and dead-letter records."""
    problems = []
    for item in error.errors(include_url=False, include_input=False)[:limit]:
        location = ".".join(str(part)[:40] for part in item.get("loc", ())) or "payload"
        message = str(item.get("msg", "invalid")).removeprefix("Value error, ")
        problems.append(f"{location}: {message}")
    more = error.error_count() - len(problems)
    if more > 0:
        problems.append(f"and {more} more")
    return "; ".join(problems)
