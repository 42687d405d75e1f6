"""Reliability scenarios: one summary line each, printed at the end of the run whatever the capture mode."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.reliability.support import Tally

_SUMMARIES: list[str] = []
# Directories the scenarios' processes wrote to; the personal-data scenario scans them all.
WRITTEN_DIRS: list[Path] = []


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "reliability: breaks things for real and counts what got through")
    config.addinivalue_line("markers", "runs_last: needs what the other reliability scenarios wrote")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: item.get_closest_marker("runs_last") is not None)


class Summary:
    def record(self, name: str, figures: Tally) -> str:
        line = (
            f"scenario {name}: offered={figures.offered} delivered={figures.delivered} "
            f"lost={figures.lost} duplicated={figures.duplicated}"
        )
        if figures.extra:
            line += " (" + " ".join(f"{k}={v}" for k, v in figures.extra.items()) + ")"
        _SUMMARIES.append(line)
        return line


@pytest.fixture
def summary() -> Iterator[Summary]:
    yield Summary()


@pytest.fixture
def scenario_dir(tmp_path: Path) -> Path:
    WRITTEN_DIRS.append(tmp_path)
    return tmp_path


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:  # type: ignore[no-untyped-def]
    if _SUMMARIES:
        terminalreporter.section("reliability scenarios")
        for line in _SUMMARIES:
            terminalreporter.write_line(line)
