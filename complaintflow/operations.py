"""Operational gauges every worker keeps up to date: consumer lag and SLA clocks.

Lag is the fetch high-water mark (carried by every fetch response) minus the group's committed offset; the
broker's latest-offset answer is not used because some brokers answer it wrongly.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import faust
import mode
import redis.asyncio as aioredis

from complaintflow.metrics import CONSUMER_LAG, SLA_CLOCKS
from complaintflow.runtime import Runtime
from complaintflow.web import RouteInstaller

log = logging.getLogger(__name__)

SLA_DUE = "cf:sla:due"  # the router's schedule (services/router/sla_clock.py)
REFRESH_S = 5.0
# The SLA gauges count clocks that move on the scale of hours, and counting them reads the whole schedule.
SLA_REFRESH_EVERY = 12  # lag refreshes, i.e. once a minute


async def consumer_lag(app: faust.App) -> dict[tuple[str, int], int]:
    """(topic, partition) → messages between the group's committed offset and the high-water mark."""
    if not app.started or app.rebalancing:
        return {}
    consumer = app.consumer
    lag: dict[tuple[str, int], int] = {}
    for tp in consumer.assignment():
        try:
            highwater = consumer.highwater(tp)
        except (AssertionError, KeyError, AttributeError):
            continue
        if highwater is None:
            continue
        committed = consumer._committed_offset.get(tp)  # faust's own record of what it committed
        if committed is None:
            committed = await consumer.position(tp) or 0
        lag[(tp.topic, tp.partition)] = max(0, highwater - committed)
    return lag


async def sla_clock_states(client: aioredis.Redis, batch: int = 2000) -> dict[str, int]:
    """Open clocks (a breach alert still ahead) and, of those, the ones already past their warning.

    Schedule members read ``complaint|deadline kind|alert kind|deadline``; a claimed alert leaves the set.
    """
    pending_breach: set[tuple[str, str, str]] = set()
    pending_warning: set[tuple[str, str, str]] = set()
    async for member, _ in client.zscan_iter(SLA_DUE, count=batch):
        parts = (member.decode() if isinstance(member, bytes) else member).split("|")
        if len(parts) != 4:
            continue
        clock = (parts[0], parts[1], parts[3])
        (pending_breach if parts[2] == "sla_breached" else pending_warning).add(clock)
    return {"open": len(pending_breach), "warning": len(pending_breach - pending_warning)}


class GaugeUpdater(mode.Service):
    """Refreshes the lag and SLA gauges on a timer."""

    def __init__(self, apps: Sequence[faust.App], runtime: Runtime, with_sla: bool, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.apps = list(apps)
        self.runtime = runtime
        self.with_sla = with_sla
        self._refreshes = 0

    @mode.Service.timer(REFRESH_S)
    async def _refresh(self) -> None:
        for app in self.apps:
            try:
                for (topic, partition), lag in (await consumer_lag(app)).items():
                    CONSUMER_LAG.labels(app.conf.id, topic, str(partition)).set(lag)
            except Exception as exc:  # a gauge must never take a worker down
                log.debug("lag refresh failed", extra={"app": app.conf.id, "error_type": type(exc).__name__})
        self._refreshes += 1
        if self.with_sla and self._refreshes % SLA_REFRESH_EVERY == 1:
            try:
                for state, count in (await sla_clock_states(self.runtime.redis)).items():
                    SLA_CLOCKS.labels(state).set(count)
            except Exception as exc:
                log.debug("sla gauge refresh failed", extra={"error_type": type(exc).__name__})


@dataclass
class OperationsParts:
    routes: list[RouteInstaller] = field(default_factory=list)
    services: list[mode.ServiceT] = field(default_factory=list)


def install_operations(apps: Sequence[faust.App], runtime: Runtime, roles: Sequence[str]) -> OperationsParts:
    """Gauges for every process; the live dashboard for a process that runs every role (`complaintflow run`)."""
    parts = OperationsParts(services=[GaugeUpdater(apps, runtime, with_sla="router" in roles)])
    if {"intake", "router", "notifier"} <= set(roles):
        from complaintflow.dashboard.routes import Dashboard

        dashboard = Dashboard(runtime)
        parts.routes.append(dashboard.install)
        parts.services.append(dashboard.depth)
    return parts
