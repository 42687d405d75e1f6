"""Process-wide health.

``/healthz`` answers 200 while the process is alive and can reach Kafka and Redis (so an orchestrator sees an
outage); ``/readyz`` also needs the SMTP server and partitions assigned to every role. Stages that are holding
a partition because a dependency is down report themselves here too.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

Check = Callable[[], Awaitable[bool]]


@dataclass
class ComponentState:
    ok: bool
    detail: str = ""
    since: float = field(default_factory=time.time)


class Health:
    def __init__(self) -> None:
        self.components: dict[str, ComponentState] = {}
        self.live_checks: dict[str, Check] = {}
        self.ready_checks: dict[str, Check] = {}

    def report(self, component: str, ok: bool, detail: str = "") -> None:
        current = self.components.get(component)
        if current is None or current.ok != ok or current.detail != detail:
            self.components[component] = ComponentState(ok, detail)

    def add_check(self, name: str, check: Check, readiness_only: bool = False) -> None:
        (self.ready_checks if readiness_only else self.live_checks)[name] = check

    async def evaluate(self, readiness: bool) -> tuple[bool, dict[str, dict[str, object]]]:
        checks = {**self.live_checks, **(self.ready_checks if readiness else {})}
        results: dict[str, dict[str, object]] = {}
        for name, check in checks.items():
            try:
                ok, detail = bool(await asyncio.wait_for(check(), timeout=2.0)), ""
            except Exception as exc:
                ok, detail = False, type(exc).__name__
            results[name] = {"ok": ok, "detail": detail}
        for name, state in self.components.items():
            results[name] = {"ok": state.ok, "detail": state.detail}
        return all(r["ok"] for r in results.values()), results


async def tcp_reachable(servers: str, timeout: float = 1.0) -> bool:
    """True when any of the comma-separated host:port servers accepts a TCP connection."""
    for server in servers.split(","):
        host, _, port = server.strip().rpartition(":")
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(host or "127.0.0.1", int(port)), timeout)
        except (OSError, ValueError, TimeoutError):
            continue
        writer.close()
        return True
    return False


HEALTH = Health()
