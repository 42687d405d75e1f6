"""The CLI finds a running stack from any directory; the demo's table shows held acknowledgements and whole ids."""

from __future__ import annotations

import os
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from rich.console import Console

from complaintflow.demo import Sample, _table, acknowledgement_text
from kernel.runtime import read_stack_file, remove_stack_file, user_stack_file, write_stack_file
from kernel.settings import Settings
from schemas import Channel


@pytest.fixture
def user_runtime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("COMPLAINTFLOW_VAR_DIR", raising=False)
    monkeypatch.delenv("COMPLAINTFLOW_TOPIC_PREFIX", raising=False)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "run-user"))
    return tmp_path / "run-user"


def test_a_running_stack_is_found_from_another_directory(
    tmp_path: Path, user_runtime: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started_in = tmp_path / "project"
    started_in.mkdir()
    monkeypatch.chdir(started_in)
    stack_settings = Settings()
    write_stack_file(stack_settings, {"http_url": "http://127.0.0.1:8080"})
    assert (started_in / "var" / "stack.json").exists()
    assert user_stack_file() == user_runtime / "complaintflow" / "stack.json"

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    found = read_stack_file(Settings())
    assert found is not None and found["pid"] == os.getpid() and found["http_url"] == "http://127.0.0.1:8080"
    assert found["var_dir"] == str((started_in / "var").resolve())
    assert read_stack_file(Settings().with_overrides(topic_prefix="other.")) is None  # another deployment

    monkeypatch.chdir(started_in)
    remove_stack_file(stack_settings)
    assert read_stack_file(stack_settings) is None and not user_stack_file().exists()


def test_held_acknowledgements_are_reported_as_held_not_missing() -> None:
    held = Sample("hotline (zh)", Channel.hotline, department="branch_service")
    assert not held.done and acknowledgement_text(held) == "not yet"
    held.held["sms"] = "2026-11-23T00:00:00+00:00"
    assert held.done and acknowledgement_text(held).startswith("sms held until ")
    assert acknowledgement_text(held, ZoneInfo("Asia/Shanghai")) == "sms held until 08:00 (quiet hours)"
    assert "quiet hours" in acknowledgement_text(held)
    held.notified.append("email")
    assert acknowledgement_text(held).startswith("email ✓, sms held")


def test_demo_table_never_cuts_complaint_numbers_at_80_columns() -> None:
    sent = [
        Sample(
            "e-mail HTML (en) with a long label",
            Channel.email,
            number=f"CF-20261123-{suffix}",
            department="consumer_protection (+fraud)",
            severity="critical",
            notified=["email"],
        )
        for suffix in ("7K3Q9M", "ZZ81QA")
    ]
    sent[1].held["sms"] = "2026-11-23T00:00:00+00:00"
    console = Console(width=80, record=True, force_terminal=False)
    console.print(_table(sent))
    text = console.export_text()
    assert "CF-20261123-7K3Q9M" in text and "CF-20261123-ZZ81QA" in text
    assert max(len(line) for line in text.splitlines()) <= 80
