"""Shared fixtures: one embedded broker and Redis per test session, real SMTP servers, a real running stack.

Integration tests talk to these over real sockets; nothing here is a mock.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from kernel.embedded import EmbeddedStack, embedded_services, free_port
from kernel.state import redis_client
from tests.delivery_servers import SmtpServer
from tests.kafka_support import BrokerOutbox, TopicsOnBroker

REPO = Path(__file__).resolve().parent.parent
# Tests in these folders, or asking for a real server, are integration tests: `make check` leaves them out.
_INTEGRATION_FOLDERS = ("integration", "reliability")
_REAL_SERVER_FIXTURES = frozenset({"embedded", "stack", "smtp_capture"})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    tests_root = Path(__file__).resolve().parent
    for item in items:
        folder = Path(str(item.path)).resolve().relative_to(tests_root).parts[0]
        uses_server = _REAL_SERVER_FIXTURES.intersection(getattr(item, "fixturenames", ()))
        if folder in _INTEGRATION_FOLDERS or uses_server:
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def embedded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedStack]:
    with embedded_services(kafka=True, redis=True, log_dir=tmp_path_factory.mktemp("embedded")) as stack:
        yield stack


@pytest.fixture(scope="module")
def module_topics(embedded: EmbeddedStack, request: pytest.FixtureRequest) -> Iterator[TopicsOnBroker]:
    """Every topic, on the session's broker, under a prefix of the test module's own."""
    prefix = f"{request.module.__name__.rsplit('.', 1)[-1]}-{uuid.uuid4().hex[:6]}."
    topics = TopicsOnBroker(embedded.kafka_bootstrap_servers or "", prefix)
    yield topics
    topics.close()


@pytest.fixture
def broker_outbox(module_topics: TopicsOnBroker) -> BrokerOutbox:
    """An outbox to hand the code under test: it sends to the real broker and reads back what this test published."""
    return module_topics.capture()


def on_own_redis_database(
    embedded: EmbeddedStack, database: int, scenario: Callable[[aioredis.Redis], Awaitable[None]]
) -> None:
    """Runs ``scenario`` with a client of the session's Redis on ``database``, emptied first, so a test file's keys
    and the shared stack's never meet."""
    assert embedded.redis_url

    async def run() -> None:
        client = redis_client(embedded.redis_url.rsplit("/", 1)[0] + f"/{database}")
        try:
            await client.flushdb()
            await scenario(client)
        finally:
            await client.aclose()

    asyncio.run(run())


@pytest.fixture(scope="session")
def smtp_capture() -> Iterator[SmtpServer]:
    """A real SMTP server that keeps every message the stacks send."""
    server = SmtpServer().start()
    yield server
    server.stop()


@dataclass
class RunningStack:
    http_url: str
    smtp_intake_port: int
    env: dict[str, str]
    var_dir: Path
    process: subprocess.Popen[bytes]
    log_path: Path

    def post(self, path: str, body: object, headers: dict[str, str] | None = None) -> tuple[int, dict]:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        request = urllib.request.Request(
            self.http_url + path,
            data=data,
            method="POST",
            headers={"Content-Type": "application/json", **(headers or {})},
        )
        return _call(request)

    def get(self, path: str) -> tuple[int, dict]:
        return _call(urllib.request.Request(self.http_url + path))

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> str:
    """Run ``complaintflow ARGS`` as a real subprocess; its stdout, or the test fails with its stderr."""
    result = subprocess.run(
        [sys.executable, "-m", "complaintflow.cli", *args],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, f"complaintflow {' '.join(args)} failed:\n{result.stderr[-3000:]}"
    return result.stdout


def _call(request: urllib.request.Request) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as err:
        body = err.read()
        try:
            return err.code, json.loads(body or b"{}")
        except ValueError:
            return err.code, {"raw": body.decode(errors="replace")}


def stack_env(embedded: EmbeddedStack, var_dir: Path, prefix: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SMTP_", "KAFKA_", "REDIS_", "COMPLAINTFLOW_"))}
    env.update(
        {
            "KAFKA_BOOTSTRAP_SERVERS": embedded.kafka_bootstrap_servers or "",
            "REDIS_URL": embedded.redis_url or "",
            "COMPLAINTFLOW_VAR_DIR": str(var_dir),
            "COMPLAINTFLOW_TOPIC_PREFIX": prefix,
            "COMPLAINTFLOW_GROUP_PREFIX": f"{prefix}cf",
            "COMPLAINTFLOW_KAFKA_SESSION_TIMEOUT_S": "6",
            "COMPLAINTFLOW_KAFKA_HEARTBEAT_INTERVAL_S": "1",
            "COMPLAINTFLOW_KAFKA_OFFSET_GAP_PATIENCE_MS": "500",
            "COMPLAINTFLOW_LOG_FORMAT": "json",
            "HTTP_PORT": str(free_port()),
            "SMTP_INTAKE_PORT": str(free_port()),
        }
    )
    env.update(extra)
    return env


def start_stack(
    args: list[str], env: dict[str, str], var_dir: Path, wait_ready: bool = True, timeout: float = 90.0
) -> RunningStack:
    var_dir.mkdir(parents=True, exist_ok=True)
    log_path = var_dir / f"{args[0]}.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "complaintflow.cli", *args],
            env=env,
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    stack = RunningStack(
        f"http://127.0.0.1:{env['HTTP_PORT']}", int(env["SMTP_INTAKE_PORT"]), env, var_dir, process, log_path
    )
    if wait_ready:
        wait_until_ready(stack, timeout)
    return stack


def wait_until_ready(stack: RunningStack, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if stack.process.poll() is not None:
            raise RuntimeError(f"stack exited with {stack.process.returncode}:\n{stack.log_text()[-4000:]}")
        try:
            status, _ = stack.get("/readyz")
            if status == 200:
                return
        except OSError:
            pass
        time.sleep(0.25)
    raise TimeoutError(f"stack not ready after {timeout}s:\n{stack.log_text()[-4000:]}")


def stop_stack(stack: RunningStack, sig: int = signal.SIGTERM, timeout: float = 15.0) -> float:
    started = time.monotonic()
    if stack.process.poll() is None:
        stack.process.send_signal(sig)
        try:
            stack.process.wait(timeout)
        except subprocess.TimeoutExpired:
            stack.process.kill()
            stack.process.wait(5)
    return time.monotonic() - started


@pytest.fixture(scope="session")
def stack(
    embedded: EmbeddedStack, smtp_capture: SmtpServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningStack]:
    """``complaintflow run`` against the session's broker and Redis, mailing the capture server."""
    var_dir = tmp_path_factory.mktemp("stack")
    env = stack_env(
        embedded,
        var_dir,
        "e2e.",
        SMTP_HOST=smtp_capture.host,
        SMTP_PORT=str(smtp_capture.port),
        COMPLAINTFLOW_COMPLAINT_ADDRESSES="complaints@bank.example,tousu@bank.example",
    )
    running = start_stack(["run"], env, var_dir)
    yield running
    stop_stack(running)
