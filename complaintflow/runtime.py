"""What a running process knows: resolved endpoints (configured or embedded) and shared clients."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import redis.asyncio as aioredis

from complaintflow.settings import Settings
from complaintflow.state import ComplaintStore, redis_client
from complaintflow.topics import Topics


@dataclass
class Runtime:
    settings: Settings
    bootstrap: str
    redis_url: str
    smtp_host: str
    smtp_port: int
    topics: Topics
    _redis: aioredis.Redis | None = field(default=None, repr=False)

    @property
    def redis(self) -> aioredis.Redis:
        if self._redis is None:
            self._redis = redis_client(self.redis_url)
        return self._redis

    @property
    def store(self) -> ComplaintStore:
        return ComplaintStore(self.redis)


STACK_FILE = "stack.json"


def stack_file(settings: Settings) -> Path:
    return settings.var_dir / STACK_FILE


def write_stack_file(settings: Settings, endpoints: dict[str, object]) -> Path:
    """Tells CLI commands in other terminals (demo, dept, deadletter) where the running stack is."""
    path = stack_file(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({**endpoints, "pid": os.getpid()}, indent=2))
    tmp.replace(path)
    return path


def read_stack_file(settings: Settings) -> dict[str, object] | None:
    """Endpoints of a running ``complaintflow run`` on this machine, or None if none is alive."""
    path = stack_file(settings)
    try:
        data = json.loads(path.read_text())
        os.kill(int(data["pid"]), 0)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return data


def remove_stack_file(settings: Settings) -> None:
    path = stack_file(settings)
    try:
        if json.loads(path.read_text()).get("pid") == os.getpid():
            path.unlink()
    except (OSError, ValueError):
        pass


def resolve_redis_url(settings: Settings) -> str | None:
    """Redis of the configuration, else of the ``complaintflow run`` on this machine."""
    if settings.redis_url:
        return settings.redis_url
    stack = read_stack_file(settings)
    return str(stack["redis_url"]) if stack and stack.get("redis_url") else None
