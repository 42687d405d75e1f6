"""Per-sender sliding-window rate limit for the HTTP and SMTP entry points (a flood gets 429 / 451)."""

from __future__ import annotations

import time
from collections import defaultdict, deque


class SenderRateLimit:
    """At most ``limit`` messages per ``window_s`` from one peer address; a flood gets a temporary failure."""

    def __init__(self, limit: int, window_s: float) -> None:
        self.limit = limit
        self.window_s = window_s
        self._seen: dict[str, deque[float]] = defaultdict(deque)

    def allow(self, peer: str) -> bool:
        now = time.monotonic()
        times = self._seen[peer]
        while times and now - times[0] > self.window_s:
            times.popleft()
        if len(times) >= self.limit:
            return False
        times.append(now)
        if len(self._seen) > 10000:  # bounded memory under a flood of distinct peers
            self._seen = defaultdict(deque, {k: v for k, v in self._seen.items() if v})
        return True
