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

from kernel.metrics import CONSUMER_LAG, SLA_CLOCKS
from kernel.runtime import Runtime
from kernel.state import sla_clock_states
from kernel.web import RouteInstaller

log = logging.getLogger(__name__)

REFRESH_S = 5.0


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


class GaugeUpdater(mode.Service):
    """Refreshes the lag and SLA gauges on a timer."""

    def __init__(self, apps: Sequence[faust.App], runtime: Runtime, with_sla: bool, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.apps = list(apps)
        self.runtime = runtime
        self.with_sla = with_sla

    @mode.Service.timer(REFRESH_S)
    async def _refresh(self) -> None:
        for app in self.apps:
            try:
                for (topic, partition), lag in (await consumer_lag(app)).items():
                    CONSUMER_LAG.labels(app.conf.id, topic, str(partition)).set(lag)
            except Exception as exc:  # a gauge must never take a worker down
                log.debug("lag refresh failed", extra={"app": app.conf.id, "error_type": type(exc).__name__})
        if self.with_sla:
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
