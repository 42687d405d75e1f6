"""The worker processes under test: started as ``python -m complaintflow.cli <role>``, sampled with psutil."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import psutil

from complaintflow.embedded import _die_with_parent, free_port

ROLE_ARGS = {"intake": ["intake", "--no-http", "--no-smtp"], "router": ["router"], "notifier": ["notifier"]}


@dataclass
class Worker:
    role: str
    process: subprocess.Popen[bytes]
    http_port: int
    log_path: Path
    peak_rss: int = 0
    cpu_at_start: float = 0.0
    cpu_at_end: float = 0.0

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}/readyz", timeout=2) as answer:
                return answer.status == 200
        except OSError:
            return False

    def cpu_seconds(self) -> float:
        try:
            times = psutil.Process(self.process.pid).cpu_times()
        except psutil.Error:
            return self.cpu_at_end
        return times.user + times.system


def start_workers(roles: list[str], workers: int, env: dict[str, str], log_dir: Path) -> list[Worker]:
    log_dir.mkdir(parents=True, exist_ok=True)
    started = []
    for role in roles:
        for n in range(workers):
            port = free_port()
            log_path = log_dir / f"{role}-{n}.log"
            with log_path.open("ab") as log:
                process = subprocess.Popen(
                    [sys.executable, "-m", "complaintflow.cli", *ROLE_ARGS[role]],
                    env={**env, "HTTP_PORT": str(port)},
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    preexec_fn=_die_with_parent,  # no orphans if the bench is killed
                )
            started.append(Worker(role, process, port, log_path))
    return started


def wait_ready(workers: list[Worker], timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    pending = list(workers)
    while pending:
        for worker in list(pending):
            if worker.process.poll() is not None:
                tail = worker.log_path.read_text(errors="replace")[-3000:]
                raise RuntimeError(f"{worker.role} worker exited with {worker.process.returncode}:\n{tail}")
            if worker.ready():
                pending.remove(worker)
        if pending and time.monotonic() > deadline:
            raise TimeoutError(f"workers not ready after {timeout_s:.0f}s: {[w.role for w in pending]}")
        time.sleep(0.25)


def stop_workers(workers: list[Worker], timeout_s: float = 20.0) -> None:
    for worker in workers:
        if worker.process.poll() is None:
            worker.process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    for worker in workers:
        try:
            worker.process.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            worker.process.kill()
            worker.process.wait(5)


class Sampler(threading.Thread):
    """Samples RSS of every worker (and the broker) every ``interval_s`` and keeps the peaks."""

    def __init__(self, workers: list[Worker], broker_pid: int | None = None, interval_s: float = 0.5) -> None:
        super().__init__(name="bench-sampler", daemon=True)
        self.workers = workers
        self.broker_pid = broker_pid
        self.interval_s = interval_s
        self.broker_peak_rss = 0
        self.own_cpu_seconds = 0.0  # the bench process itself (publisher, sink, observer) shares the machine
        self._halt = threading.Event()

    def begin(self) -> None:
        for worker in self.workers:
            worker.cpu_at_start = worker.cpu_seconds()
        own = psutil.Process().cpu_times()
        self.own_cpu_seconds = -(own.user + own.system)
        self.start()

    def end(self) -> None:
        self._halt.set()
        self.join(5)
        for worker in self.workers:
            worker.cpu_at_end = worker.cpu_seconds()
        own = psutil.Process().cpu_times()
        self.own_cpu_seconds += own.user + own.system

    def run(self) -> None:
        handles = {w.process.pid: psutil.Process(w.process.pid) for w in self.workers}
        broker = psutil.Process(self.broker_pid) if self.broker_pid else None
        while not self._halt.wait(self.interval_s):
            for worker in self.workers:
                with contextlib.suppress(psutil.Error):
                    worker.peak_rss = max(worker.peak_rss, handles[worker.process.pid].memory_info().rss)
            if broker is not None:
                with contextlib.suppress(psutil.Error):
                    self.broker_peak_rss = max(self.broker_peak_rss, broker.memory_info().rss)


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]
