"""A worker with one stage whose agent crashes once, for test_agent_crash.py (run as ``python -m``).

The stage reads ``CRASH_TOPIC``. Its handler takes a while (so several records are in hand at once) and writes
each value it handled to ``CRASH_HANDLED`` (one per line). The stage's quick filter raises on the value
``crash`` the first time any run of this worker meets it (a bug in the worker, not in the record): faust's
agent crashes with the records it had in hand, and faust starts it again.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from kernel.settings import Settings
from kernel.stage import StageRunner, add_stage
from kernel.streams import InboundMessage, Outbox, make_app
from kernel.topics import Topics

HANDLING_S = 0.5


def main() -> None:
    settings = Settings()
    handled, crashed_once = Path(os.environ["CRASH_HANDLED"]), Path(os.environ["CRASH_MARKER"])
    app = make_app("crashing", settings, settings.kafka_bootstrap_servers or "")

    async def handler(message: InboundMessage) -> str:
        await asyncio.sleep(HANDLING_S)
        with handled.open("a") as out:
            out.write(message.value.decode() + "\n")
        return "handled"

    def not_for_me(value: bytes) -> bool:
        if value == b"crash" and not crashed_once.exists():
            crashed_once.touch()
            raise RuntimeError("a bug in the stage's filter")
        return False

    outbox = Outbox(app)
    runner = StageRunner("test.crashing", handler, outbox, Topics(settings.topic_prefix))
    add_stage(app, os.environ["CRASH_TOPIC"], runner, settings, not_for_me=not_for_me)
    sys.argv = [sys.argv[0], "worker", "--without-web", "--loglevel=INFO"]
    app.main()


if __name__ == "__main__":
    main()
