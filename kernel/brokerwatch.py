"""Notices a broker that lost its topics and ends the worker so that a supervisor starts it afresh.

The memory-only embedded broker forgets every topic and offset when it restarts (so would a cluster whose
topics were deleted). The aiokafka consumers inside faust do not recover from that in-process: they spin on
protocol errors and never join again. So the watch re-creates the topics (for every other client) and then
stops this process with ``EXIT_BROKER_LOST``; the supervisor (docker compose ``restart:``, systemd, or the
operator) starts it again, and the new process joins cleanly and carries on.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import mode

from kernel.settings import Settings
from kernel.topics import Topics

log = logging.getLogger(__name__)

EXIT_BROKER_LOST = 75  # EX_TEMPFAIL: start me again
CHECK_INTERVAL_S = 5.0


def missing_topics(settings: Settings, bootstrap: str) -> list[str] | None:
    """Registry topics the broker does not have, or None when the broker cannot be asked right now."""
    from kernel.kafka import admin_client

    try:
        admin = admin_client(bootstrap, timeout_s=3.0)
    except Exception:
        return None
    try:
        present = set(admin.list_topics())
    except Exception:
        return None
    finally:
        admin.close()
    return sorted(set(Topics(settings.topic_prefix).all(settings.topic_partitions)) - present)


class BrokerWatch(mode.Service):
    def __init__(self, settings: Settings, bootstrap: str, on_lost: Callable[[], None], **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.settings = settings
        self.bootstrap = bootstrap
        self.on_lost = on_lost
        self.lost = False

    @mode.Service.timer(CHECK_INTERVAL_S)
    async def _check(self) -> None:
        if self.lost:
            return
        missing = await asyncio.to_thread(missing_topics, self.settings, self.bootstrap)
        if not missing:
            return
        self.lost = True
        log.error(
            "the broker lost its topics (restarted without its data?): re-creating them and exiting "
            "so that a supervisor restarts this worker",
            extra={"missing_topics": len(missing), "exit_code": EXIT_BROKER_LOST},
        )
        try:
            from kernel.kafka import create_all_topics

            await asyncio.to_thread(create_all_topics, self.settings, self.bootstrap)
        except Exception as exc:  # the next process creates them at start anyway
            log.warning("could not re-create topics", extra={"error_type": type(exc).__name__})
        self.on_lost()
