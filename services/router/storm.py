"""Complaint storms: many customers complaining about the same business line and reason within one window.

Pure window arithmetic and the rule; the counts live in Redis (``kernel.state.count_storm_customer``: the
distinct hashed customer keys and the complaint ids of each window). A storm counts **customers**, not complaints:
twenty complaints from two senders are two angry customers, not an incident. One incident per (line, reason,
window): its id is stable, so the router raises the incident once, and every complaint of the window, those counted
before the threshold too, is linked to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from schemas import stable_id


@dataclass(frozen=True)
class StormRule:
    window_s: int  # windows are aligned on the epoch: [k * window_s, (k + 1) * window_s)
    min_customers: int  # distinct customers in one window that make a storm

    def bucket(self, at: datetime) -> int:
        """The window ``at`` falls in (its number since the epoch)."""
        return int(at.timestamp() // self.window_s)

    def key_ttl_s(self) -> int:
        """How long a window's counts are kept: the window itself and the next one, for late complaints."""
        return self.window_s * 2

    def is_storm(self, customers: int) -> bool:
        return customers >= self.min_customers

    @staticmethod
    def incident_id(line: str, reason: str, bucket: int) -> str:
        return stable_id("inc", line, reason, str(bucket))

    def explain(self, line: str, reason: str, customers: int) -> str:
        return (
            f"storm: {customers} customers complained about {line}/{reason} within {self.window_s} s "
            f"(threshold {self.min_customers})"
        )
