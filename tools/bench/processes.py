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

from kernel.embedded import _die_with_parent, free_port

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
        return process_cpu_seconds(self.process.pid, default=self.cpu_at_end)


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
    """Samples RSS of every worker and embedded service every ``interval_s`` and keeps the peaks; between
    ``begin`` and ``end`` it also takes the CPU of the workers, the embedded services, the bench process itself
    and how busy the whole machine was, so a run shows where the cores went."""

    def __init__(self, workers: list[Worker], services: dict[str, int] | None = None, interval_s: float = 0.5) -> None:
        super().__init__(name="bench-sampler", daemon=True)
        self.workers = workers
        self.services = {name: psutil.Process(pid) for name, pid in (services or {}).items()}
        self.interval_s = interval_s
        self.service_peak_rss = dict.fromkeys(self.services, 0)
        self.service_cpu_seconds = dict.fromkeys(self.services, 0.0)
        self.own_cpu_seconds = 0.0  # the bench process itself (publisher, sink, observer) shares the machine
        self.machine_busy_share = 0.0
        self._machine_at_start = psutil.cpu_times()
        self._halt = threading.Event()

    def _service_cpu(self) -> dict[str, float]:
        return {name: process_cpu_seconds(process) for name, process in self.services.items()}

    def begin(self) -> None:
        for worker in self.workers:
            worker.cpu_at_start = worker.cpu_seconds()
        self.service_cpu_seconds = {name: -cpu for name, cpu in self._service_cpu().items()}
        self.own_cpu_seconds = -process_cpu_seconds(psutil.Process())
        self._machine_at_start = psutil.cpu_times()
        self.start()

    def end(self) -> None:
        self._halt.set()
        self.join(5)
        for worker in self.workers:
            worker.cpu_at_end = worker.cpu_seconds()
        for name, cpu in self._service_cpu().items():
            self.service_cpu_seconds[name] += cpu
        self.own_cpu_seconds += process_cpu_seconds(psutil.Process())
        before, after = self._machine_at_start, psutil.cpu_times()
        total = sum(after) - sum(before)
        idle = (after.idle - before.idle) + (getattr(after, "iowait", 0.0) - getattr(before, "iowait", 0.0))
        self.machine_busy_share = 1 - idle / total if total > 0 else 0.0

    def run(self) -> None:
        handles = {w.process.pid: psutil.Process(w.process.pid) for w in self.workers}
        while not self._halt.wait(self.interval_s):
            for worker in self.workers:
                with contextlib.suppress(psutil.Error):
                    worker.peak_rss = max(worker.peak_rss, handles[worker.process.pid].memory_info().rss)
            for name, process in self.services.items():
                with contextlib.suppress(psutil.Error):
                    self.service_peak_rss[name] = max(self.service_peak_rss[name], process.memory_info().rss)


def process_cpu_seconds(process: psutil.Process | int, default: float = 0.0) -> float:
    """User and system CPU of a process so far; ``default`` once it has ended."""
    try:
        times = (process if isinstance(process, psutil.Process) else psutil.Process(process)).cpu_times()
    except psutil.Error:
        return default
    return float(times.user + times.system)


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]
