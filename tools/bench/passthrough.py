"""The framework ceiling's worker: one faust agent, the workers' app settings, passing records A → B.

Run by ``python -m tools.bench`` as ``python -m tools.bench.passthrough`` with BENCH_SOURCE_TOPIC and
BENCH_TARGET_TOPIC in its environment; it stops on SIGTERM.
"""

from __future__ import annotations

import os

import faust

from kernel.eventloop import install_event_loop
from kernel.settings import get_settings
from kernel.streams import Outbox, make_app


def main() -> None:
    settings = get_settings()
    install_event_loop(settings.event_loop)  # the same loop as the workers it is compared with
    source_name, target = os.environ["BENCH_SOURCE_TOPIC"], os.environ["BENCH_TARGET_TOPIC"]
    app = make_app("bench-passthrough", settings, settings.kafka_bootstrap_servers or "")
    outbox = Outbox(app)
    source = app.topic(source_name, key_serializer="raw", value_serializer="raw")

    @app.agent(source, name="passthrough")
    async def passthrough(stream: faust.StreamT) -> None:
        async for event in stream.events():
            await outbox.send(target, event.key, event.value)

    app.finalize()
    worker = faust.Worker(app, loglevel="WARNING", override_logging=False, redirect_stdouts=False)
    worker.execute_from_commandline()


if __name__ == "__main__":
    main()
