"""Complaint storms: many complaints about the same business line and reason within a short window.

Pure window arithmetic; the counts live in Redis in the worker (``INCR`` on :meth:`StormDetector.key`, with
an expiry of :meth:`StormDetector.key_ttl`). One incident per (line, reason, window): its id is stable, so
the worker raises the incident event only when the count first reaches the threshold.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from schemas import BusinessLine, Reason, stable_id


@dataclass(frozen=True)
class StormThresholds:
    window: timedelta = timedelta(minutes=30)
    min_complaints: int = 20
    # Lines or reasons that are storms at a lower count (a dozen card thefts in half an hour is an attack).
    per_reason: Mapping[Reason, int] = field(
        default_factory=lambda: {
            Reason.unauthorised_loss: 10,
            Reason.information_security: 10,
            Reason.system_failure: 15,
        }
    )


@dataclass(frozen=True)
class StormVerdict:
    storm: bool
    first: bool  # this complaint is the one that made it a storm: raise the incident now
    incident_id: str | None
    explanation: str


class StormDetector:
    def __init__(self, thresholds: StormThresholds | None = None) -> None:
        self.thresholds = thresholds or StormThresholds()

    def window_start(self, at: datetime) -> datetime:
        seconds = int(self.thresholds.window.total_seconds())
        epoch = int(at.astimezone(UTC).timestamp())
        return datetime.fromtimestamp(epoch - epoch % seconds, tz=UTC)

    def key(self, line: BusinessLine, reason: Reason, at: datetime) -> str:
        return f"storm:{line}:{reason}:{self.window_start(at):%Y%m%dT%H%M}"

    def key_ttl(self) -> timedelta:
        return self.thresholds.window * 2

    def threshold(self, reason: Reason) -> int:
        return self.thresholds.per_reason.get(reason, self.thresholds.min_complaints)

    def incident_id(self, line: BusinessLine, reason: Reason, at: datetime) -> str:
        return stable_id("inc", str(line), str(reason), self.window_start(at).isoformat())

    def assess(self, line: BusinessLine, reason: Reason, count: int, at: datetime) -> StormVerdict:
        """``count`` is the number of complaints in this window including the current one."""
        limit = self.threshold(reason)
        if count < limit:
            return StormVerdict(False, False, None, f"{count} of {limit} {line}/{reason} complaints in window")
        return StormVerdict(
            storm=True,
            first=count == limit,
            incident_id=self.incident_id(line, reason, at),
            explanation=f"storm: {count} {line}/{reason} complaints since {self.window_start(at):%H:%M} UTC "
            f"(threshold {limit} per {self.thresholds.window})",
        )
