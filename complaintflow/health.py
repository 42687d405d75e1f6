"""Process-wide health: components report themselves; ``/healthz`` and ``/readyz`` read it."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field


@dataclass
class ComponentState:
    ok: bool
    detail: str = ""
    since: float = field(default_factory=time.time)


class Health:
    def __init__(self) -> None:
        self.components: dict[str, ComponentState] = {}
        self.checks: dict[str, Callable[[], Awaitable[bool]]] = {}

    def report(self, component: str, ok: bool, detail: str = "") -> None:
        current = self.components.get(component)
        if current is None or current.ok != ok or current.detail != detail:
            self.components[component] = ComponentState(ok, detail)

    def add_check(self, name: str, check: Callable[[], Awaitable[bool]]) -> None:
        self.checks[name] = check

    async def readiness(self) -> tuple[bool, dict[str, dict[str, object]]]:
        results: dict[str, dict[str, object]] = {}
        for name, check in self.checks.items():
            try:
                ok = bool(await check())
                detail = ""
            except Exception as exc:
                ok, detail = False, type(exc).__name__
            results[name] = {"ok": ok, "detail": detail}
        for name, state in self.components.items():
            results[name] = {"ok": state.ok, "detail": state.detail}
        return all(r["ok"] for r in results.values()), results


HEALTH = Health()
