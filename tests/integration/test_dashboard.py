"""The live dashboard of `complaintflow run`, rendered by a real headless Chromium."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from kernel.embedded import EmbeddedStack
from tests.conftest import RunningStack, stack_env, start_stack, stop_stack

pytestmark = pytest.mark.integration
CHROMIUM = next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)
COMPLAINTS = (
    "手机银行转账失败但是钱被扣了5000元，客服态度很差",
    "信用卡被盗刷了三笔，请马上处理",
    "My mortgage payment was taken twice this month",
)


def _chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    command = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
        "--window-size=1280,900",
        *args,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=90, check=False)


@pytest.fixture(scope="module")
def dashboard_stack(embedded: EmbeddedStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    var_dir = tmp_path_factory.mktemp("dashboard")
    running = start_stack(["run"], stack_env(embedded, var_dir, "dash."), var_dir)
    yield running
    stop_stack(running)


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium found: apt-get install -y chromium fonts-noto-cjk")
def test_dashboard_renders_its_charts_in_headless_chromium(dashboard_stack: RunningStack, tmp_path: Path) -> None:
    for index, text in enumerate(COMPLAINTS * 3):
        status, _ = dashboard_stack.post(
            "/api/v1/complaints",
            {"name": "测试客户", "phone": f"1380013800{index}", "consent": True, "description": text},
        )
        assert status in (200, 201, 202)
    deadline = time.monotonic() + 60
    data: dict = {}
    while time.monotonic() < deadline:
        _, data = dashboard_stack.get("/dashboard/data")
        if sum(data["per_minute"]["channels"]["webform"]) >= len(COMPLAINTS) and sum(
            d["depth"] for d in data["departments"]
        ) >= len(COMPLAINTS):
            break
        time.sleep(0.5)
    assert sum(data["per_minute"]["channels"]["webform"]) >= len(COMPLAINTS), data
    assert sum(d["depth"] for d in data["departments"]) >= len(COMPLAINTS), data
    assert {"open", "warning", "breached"} <= set(data["sla"]) and data["sla"]["open"] >= len(COMPLAINTS)

    with urllib.request.urlopen(dashboard_stack.http_url + "/metrics", timeout=10) as response:
        metrics = response.read().decode()
    assert re.search(r'complaintflow_consumer_lag\{group="dash\.cf-router",partition="\d+",topic="dash\.', metrics)
    assert 'complaintflow_sla_clocks{state="open"}' in metrics

    url = dashboard_stack.http_url + "/dashboard"
    dom = _chromium(tmp_path, "--virtual-time-budget=8000", "--dump-dom", url).stdout
    assert 'data-rendered="1"' in dom
    assert re.search(r'<svg id="depth-chart"[^>]*data-bars="11"', dom)
    rate_bars = re.search(r'<svg id="rate-chart"[^>]*data-bars="(\d+)"', dom)
    assert rate_bars and int(rate_bars.group(1)) >= 1
    assert dom.count('class="bar"') >= 12

    screenshot = tmp_path / "dashboard.png"
    _chromium(tmp_path, "--virtual-time-budget=8000", f"--screenshot={screenshot}", url)
    image = Image.open(screenshot).convert("RGB")
    colours = image.getcolors(maxcolors=1 << 20) or []
    assert image.size == (1280, 900) and len(colours) > 50  # a blank page has a handful of colours
    assert any(count > 200 and rgb == (0x2F, 0x66, 0x90) for count, rgb in colours)  # the bars' blue
    if os.environ.get("COMPLAINTFLOW_DOCS_DIR"):  # refreshes the picture in docs/operations.md
        shutil.copy(screenshot, Path(os.environ["COMPLAINTFLOW_DOCS_DIR"]) / "dashboard.png")
