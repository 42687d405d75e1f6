"""What a running process knows: resolved endpoints (configured or embedded) and shared clients."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import redis.asyncio as aioredis

from kernel.settings import Settings
from kernel.state import ComplaintStore, redis_client
from kernel.topics import Topics


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


def user_stack_file() -> Path:
    """Where the user's running stack is also recorded, whatever the directory: the per-user runtime directory
    (``XDG_RUNTIME_DIR``), else the user's cache directory."""
    base = os.environ.get("XDG_RUNTIME_DIR") or os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "complaintflow" / STACK_FILE


def _stack_files(settings: Settings) -> list[Path]:
    return [stack_file(settings), user_stack_file()]


def write_stack_file(settings: Settings, endpoints: dict[str, object]) -> Path:
    """Tells CLI commands in other terminals (demo, dept, deadletter) where the running stack is: in its var
    folder, and in the user's runtime folder for commands started from another directory."""
    record = {
        **endpoints,
        "pid": os.getpid(),
        "var_dir": str(settings.var_dir.resolve()),
        "topic_prefix": settings.topic_prefix,
    }
    written = []
    for path in _stack_files(settings):
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps(record, indent=2))
            tmp.replace(path)
            written.append(path)
        except OSError:
            if not written:
                raise  # the var folder must take it; the user's folder is a convenience
    return written[0]


def read_stack_file(settings: Settings) -> dict[str, object] | None:
    """Endpoints of a running ``complaintflow run`` of this user, or None if none is alive: the one of the
    configured var folder, else the last one started (with the same topic prefix) from any directory."""
    for index, path in enumerate(_stack_files(settings)):
        try:
            data = json.loads(path.read_text())
            os.kill(int(data["pid"]), 0)
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if index > 0 and data.get("topic_prefix", "") != settings.topic_prefix:
            continue
        return data
    return None


def remove_stack_file(settings: Settings) -> None:
    for path in _stack_files(settings):
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
