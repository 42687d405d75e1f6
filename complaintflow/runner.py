"""Assembles one worker process: embedded services if needed, topics, the role apps, HTTP and SMTP servers."""

from __future__ import annotations

import gc
import logging
import os
import signal
import sys
import threading
from collections.abc import Awaitable, Callable, Sequence

import faust
import mode

from complaintflow.operations import install_operations
from kernel.brokerwatch import EXIT_BROKER_LOST, BrokerWatch
from kernel.doors import TokenError, open_doors_problem
from kernel.embedded import BROKER_WARNING, REDIS_NOTICE, embedded_services, free_port
from kernel.health import HEALTH, tcp_reachable
from kernel.kafka import create_all_topics
from kernel.logs import configure_logging
from kernel.roles import RoleParts
from kernel.runtime import Runtime, remove_stack_file, write_stack_file
from kernel.settings import Settings
from kernel.smtpd import OutboxHandler, SmtpServer
from kernel.streams import make_app
from kernel.topics import Topics
from kernel.web import RouteInstaller, WebServer, build_web_app
from services.intake import worker as intake_worker
from services.notifier import worker as notifier_worker
from services.router import worker as router_worker

log = logging.getLogger(__name__)
EXIT_CONFIG = 78  # EX_CONFIG: the configuration is unsafe or invalid; restarting will not help

ROLES: dict[str, Callable[[faust.App, Runtime, dict[str, object]], RoleParts]] = {
    "intake": intake_worker.install,
    "router": router_worker.install,
    "notifier": notifier_worker.install,
}


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _settle_garbage_collector() -> None:
    """Everything loaded at start (the model, the lexicon, the schemas, the framework) lives as long as the process:
    it is moved out of the collector's sight, and the youngest generation is collected less often. A worker allocates
    many short-lived objects per record, and each collection otherwise walks them again."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNGEST_THRESHOLD, *gc.get_threshold()[1:])


GC_YOUNGEST_THRESHOLD = 20_000  # allocations between collections of the youngest generation (Python's default: 700)


def serve(roles: Sequence[str], settings: Settings, options: dict[str, object] | None = None) -> int:
    """Run the given roles in this process until SIGINT/SIGTERM. Returns the exit code."""
    configure_logging(settings.log_level, settings.log_format)
    options = options or {}
    try:
        doors = settings.doors()
    except TokenError as exc:
        _say(f"complaintflow: {exc}")
        return EXIT_CONFIG
    serves_adapters = "intake" in roles and bool(options.get("http", True))
    problem = open_doors_problem(settings.bind_host, doors.adapter_tokens, doors.admin_token, serves_adapters)
    if problem:
        _say(f"complaintflow: {problem}")
        return EXIT_CONFIG
    with embedded_services(
        settings.embedded_kafka, settings.embedded_redis, settings.var_dir / "log", settings.redis_data_dir
    ) as stack:
        if settings.embedded_kafka:
            _say(f"⚠ {BROKER_WARNING}")
        if settings.embedded_redis:
            _say(REDIS_NOTICE.format(dir=settings.redis_data_dir))
        bootstrap = settings.kafka_bootstrap_servers or stack.kafka_bootstrap_servers or ""
        redis_url = settings.redis_url or stack.redis_url or ""
        services: list[mode.ServiceT] = []
        smtp_host, smtp_port = settings.smtp_host or "", settings.smtp_port
        if settings.local_smtp_sink and "notifier" in roles:
            smtp_host, smtp_port = "127.0.0.1", free_port()
            services.append(SmtpServer(OutboxHandler(settings.outbox_dir), smtp_host, smtp_port, "local-mail-sink"))
        runtime = Runtime(settings, bootstrap, redis_url, smtp_host, smtp_port, Topics(settings.topic_prefix))
        created = create_all_topics(settings, bootstrap)
        log.info("topics ready", extra={"topics_created": len(created)})
        HEALTH.add_check("redis", runtime.store.ping)
        HEALTH.add_check("kafka", lambda: tcp_reachable(bootstrap))
        if "notifier" in roles:
            HEALTH.add_check("smtp", lambda: tcp_reachable(f"{smtp_host}:{smtp_port}"), readiness_only=True)

        apps: list[faust.App] = []
        routes: list[RouteInstaller] = []
        for role in roles:
            app = make_app(role, settings, bootstrap)
            parts = ROLES[role](app, runtime, options)
            routes.extend(parts.routes)
            services.extend(parts.services)
            apps.append(app)
        for app in apps:
            app.finalize()
            HEALTH.add_check(f"{app.conf.id}.partitions", _assigned(app), readiness_only=True)
        # Operations: lag and SLA gauges in every process, the /dashboard page in `complaintflow run`.
        operations = install_operations(apps, runtime, roles)
        routes.extend(operations.routes)
        services.extend(operations.services)
        web_app = build_web_app(routes, settings.http_max_body_bytes, doors)
        services.append(WebServer(web_app, settings.bind_host, settings.http_port))
        exit_code: list[int] = []
        services.append(BrokerWatch(settings, bootstrap, lambda: _exit_for_restart(exit_code)))
        endpoints = {
            "kafka_bootstrap_servers": bootstrap,
            "redis_url": redis_url,
            "http_url": f"http://{settings.bind_host}:{settings.http_port}",
            "smtp_intake": f"{settings.bind_host}:{settings.smtp_intake_port}" if "intake" in roles else None,
            "mail_sink": f"{smtp_host}:{smtp_port}" if settings.local_smtp_sink and "notifier" in roles else None,
            "outbox": str(settings.outbox_dir.resolve()),
            "roles": list(roles),
            "embedded": {"kafka": settings.embedded_kafka, "redis": settings.embedded_redis},
            "redis_data_dir": str(settings.redis_data_dir) if settings.embedded_redis else None,
        }
        write_stack_file(settings, endpoints)
        _say(_banner(endpoints))
        worker = faust.Worker(
            apps[0],
            *apps[1:],
            *services,
            loglevel=settings.log_level,
            override_logging=False,
            redirect_stdouts=False,
        )
        _settle_garbage_collector()
        try:
            worker.execute_from_commandline()
        except SystemExit as exit_:
            return exit_code[0] if exit_code else int(exit_.code or 0)
        finally:
            remove_stack_file(settings)
    return 0


def _exit_for_restart(exit_code: list[int], grace_s: float = 20.0) -> None:
    """Stop the worker the usual way (SIGTERM), with a non-zero exit code; if the shutdown itself hangs on the
    broken connections, end the process after ``grace_s``."""
    exit_code.append(EXIT_BROKER_LOST)
    timer = threading.Timer(grace_s, os._exit, args=(EXIT_BROKER_LOST,))
    timer.daemon = True
    timer.start()
    os.kill(os.getpid(), signal.SIGTERM)


def _assigned(app: faust.App) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        consumer = app.consumer if app.started else None
        return bool(consumer and not app.rebalancing and consumer.assignment())

    return check


def _banner(endpoints: dict[str, object]) -> str:
    lines = [
        "complaintflow is running: " + ", ".join(endpoints["roles"]),  # type: ignore[arg-type]
        f"  HTTP       {endpoints['http_url']}  (POST /api/v1/complaints, GET /healthz, /readyz, /metrics)",
    ]
    if endpoints.get("smtp_intake"):
        lines.append(f"  SMTP in    {endpoints['smtp_intake']}  (mail to the complaint addresses)")
    embedded: dict[str, bool] = endpoints.get("embedded") or {}  # type: ignore[assignment]
    kafka_note = "  (embedded, memory only: records in flight are lost at stop)" if embedded.get("kafka") else ""
    lines.append(f"  Kafka      {endpoints['kafka_bootstrap_servers']}{kafka_note}")
    redis_note = (
        f"  (embedded, kept in {endpoints['redis_data_dir']}: lookups, threads, updates survive a restart)"
        if embedded.get("redis") and endpoints.get("redis_data_dir")
        else ""
    )
    lines.append(f"  Redis      {endpoints['redis_url']}{redis_note}")
    if endpoints.get("mail_sink"):
        lines.append(f"  Outbox     {endpoints['outbox']}  (e-mails as .eml, SMS in sms.jsonl)")
    lines.append("Stop with Ctrl-C.")
    return "\n".join(lines)
