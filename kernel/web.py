"""The HTTP server every worker process runs: health, readiness, metrics, plus routes the roles add."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import mode
from aiohttp import web

from kernel.doors import Doors
from kernel.health import HEALTH
from kernel.metrics import render_latest

log = logging.getLogger(__name__)

RouteInstaller = Callable[[web.Application], None]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def healthz(_: web.Request) -> web.Response:
    healthy, components = await HEALTH.evaluate(readiness=False)
    return web.json_response(
        {"status": "alive" if healthy else "degraded", "components": components},
        status=200 if healthy else 503,
    )


async def readyz(_: web.Request) -> web.Response:
    ready, components = await HEALTH.evaluate(readiness=True)
    return web.json_response({"ready": ready, "components": components}, status=200 if ready else 503)


async def metrics(_: web.Request) -> web.Response:
    body, content_type = render_latest()
    return web.Response(body=body, headers={"Content-Type": content_type})


@web.middleware
async def unavailable_when_dependencies_are_down(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Kafka or Redis down: tell the client to come back (503 + Retry-After) rather than fail with a 500."""
    from kernel.streams import dependency_errors

    try:
        return await handler(request)
    except dependency_errors() as exc:
        log.warning(
            "request refused: dependency unavailable",
            extra={"path": request.path, "error_type": type(exc).__name__},
        )
        return web.json_response(
            {"error": "temporarily unavailable, please retry shortly"},
            status=503,
            headers={"Retry-After": "5"},
        )


def build_web_app(
    installers: list[RouteInstaller], client_max_size: int = 1024 * 1024, doors: Doors | None = None
) -> web.Application:
    """The app with health, readiness and metrics; ``doors`` asks for the adapter and admin tokens (open without)."""
    app = web.Application(
        client_max_size=client_max_size,
        middlewares=[(doors or Doors()).middleware(), unavailable_when_dependencies_are_down],
    )
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    for install in installers:
        install(app)
    return app


class WebServer(mode.Service):
    """Runs an aiohttp application inside the worker's event loop."""

    def __init__(self, app: web.Application, host: str, port: int, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.web_app = app
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None

    async def on_start(self) -> None:
        self._runner = web.AppRunner(self.web_app, access_log=None, handle_signals=False)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self.port).start()
        log.info("http server listening", extra={"host": self.host, "port": self.port})

    async def on_stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
