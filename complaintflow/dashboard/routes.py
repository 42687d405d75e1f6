"""``/dashboard`` (a page that draws its own SVG charts, no network but this server) and ``/dashboard/data``."""

from __future__ import annotations

import time
from importlib import resources

from aiohttp import web
from prometheus_client import REGISTRY

from complaintflow.dashboard.depth import DepartmentDepth
from kernel.runtime import Runtime
from kernel.state import intake_per_minute, latest_incidents, sla_clock_states
from schemas import Department, channel_names
from schemas.labels import DEPARTMENT_NAMES

MINUTES = 30


def _metric_total(name: str, **labels: str) -> float:
    total = 0.0
    for metric in REGISTRY.collect():
        for sample in metric.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                total += sample.value
    return total


class Dashboard:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.depth = DepartmentDepth(runtime)
        self.page = resources.files("complaintflow.dashboard").joinpath("static/dashboard.html").read_bytes()

    def install(self, app: web.Application) -> None:
        app.router.add_get("/dashboard", self.show)
        app.router.add_get("/dashboard/data", self.data)

    async def show(self, _: web.Request) -> web.Response:
        return web.Response(
            body=self.page, content_type="text/html", charset="utf-8", headers={"Cache-Control": "no-cache"}
        )

    async def data(self, _: web.Request) -> web.Response:
        return web.json_response(await self.snapshot(), headers={"Cache-Control": "no-store"})

    async def snapshot(self) -> dict[str, object]:
        redis = self.runtime.redis
        channels = list(channel_names())
        starts, per_minute = await intake_per_minute(redis, channels, MINUTES)
        sla = await sla_clock_states(redis)
        return {
            "generated_at": time.time(),
            "departments": [
                {
                    "department": d.value,
                    "zh": DEPARTMENT_NAMES[d][0],
                    "en": DEPARTMENT_NAMES[d][1],
                    "depth": self.depth.depth.get(d.value, 0),
                }
                for d in Department
            ],
            "per_minute": {"minutes": starts, "channels": per_minute},
            "sla": {**sla, "breached": int(_metric_total("complaintflow_sla_clocks", state="breached"))},
            "incidents": await latest_incidents(redis),
            "totals": {
                "complaints_last_30_min": sum(sum(v) for v in per_minute.values()),
                "dead_letters": int(_metric_total("complaintflow_dead_letters_total")),
                "notifications_sent": int(_metric_total("complaintflow_notifications_total", result="sent")),
                "notifications_failed": int(_metric_total("complaintflow_notifications_total", result="failed")),
            },
        }
