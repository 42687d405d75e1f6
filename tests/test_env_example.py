"""`.env.example` documents every setting, and what it shows as active values are the real defaults."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import AliasChoices

from kernel.settings import Settings

ENV_EXAMPLE = Path(__file__).resolve().parent.parent / ".env.example"
ASSIGNMENT = re.compile(r"^(?P<commented>#\s*)?(?P<name>[A-Z][A-Z0-9_]*)=(?P<value>.*)$")
CONTRACT_NAMES = (
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
# Unset means something of its own here (embedded broker, embedded Redis, local mail sink).
MUST_STAY_COMMENTED = ("KAFKA_BOOTSTRAP_SERVERS", "REDIS_URL", "SMTP_HOST")


def settings_env_names() -> list[str]:
    names: list[str] = []
    for field_name, field in Settings.model_fields.items():
        alias = field.validation_alias
        assert isinstance(alias, AliasChoices), f"{field_name} has no environment name"
        names.extend(choice for choice in alias.choices if isinstance(choice, str))
    return names


def documented() -> dict[str, bool]:
    """Variable name -> whether the example sets it (False: shown commented out)."""
    found: dict[str, bool] = {}
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        match = ASSIGNMENT.match(line.strip())
        if match:
            found.setdefault(match["name"], False)
            found[match["name"]] |= match["commented"] is None
    return found


def test_every_settings_variable_is_documented() -> None:
    missing = sorted(set(settings_env_names()) - set(documented()))
    assert not missing, f".env.example lacks {missing}"


def test_nothing_documented_that_settings_do_not_read() -> None:
    unknown = sorted(set(documented()) - set(settings_env_names()))
    assert not unknown, f".env.example documents variables no setting reads: {unknown}"


def test_contract_names_come_first_and_embedded_defaults_stay_unset() -> None:
    order = list(documented())
    assert order[: len(CONTRACT_NAMES)] == list(CONTRACT_NAMES)
    active = documented()
    assert not any(active[name] for name in MUST_STAY_COMMENTED)


def test_every_variable_has_a_comment_above_it() -> None:
    lines = ENV_EXAMPLE.read_text(encoding="utf-8").splitlines()
    for index, line in enumerate(lines):
        if ASSIGNMENT.match(line) and not line.startswith("#"):
            assert lines[index - 1].startswith("#"), f"no comment above {line!r}"


def test_active_values_are_the_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in settings_env_names():
        monkeypatch.delenv(name, raising=False)
    from_example = Settings(_env_file=ENV_EXAMPLE)  # type: ignore[call-arg]
    built_in = Settings(_env_file=None)  # type: ignore[call-arg]
    assert from_example == built_in
