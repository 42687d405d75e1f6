"""``python -m tools.bench`` end to end with a tiny N: the figures are there and nothing is lost or doubled.

No timing is asserted: the machine running the tests is shared, so only the counts are checked.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from schemas import Channel
from tools.bench.workload import build_workload

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration

KEYS = {
    "complaints",
    "pipeline_per_s",
    "framework_passthrough_per_s",
    "broker_produce_per_s",
    "broker_consume_per_s",
    "ratio_to_framework",
    "ratio_to_broker",
    "latency_ms",
    "peak_rss_mb",
    "lost",
    "duplicated",
}


def test_workload_is_a_realistic_mix_of_new_complaints() -> None:
    workload = build_workload(48, "t3st")
    # Inbound SMS mostly answers open complaints, so the mix of new complaints is the other channels'.
    assert {c.channel for c in workload} == set(Channel) - {Channel.sms}
    assert len({c.complaint_id for c in workload}) == 48
    assert len({c.key for c in workload}) == 48
    stamped = workload[0].value_at(1_795_000_000.25)
    assert b'"received_at":"2026-11-18T' in stamped
    assert any("王".encode() in c.template or "客户".encode() in c.template for c in workload)


def test_bench_command_counts_every_complaint_once(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KAFKA_", "REDIS_", "SMTP_", "COMPLAINTFLOW_"))}
    env["COMPLAINTFLOW_VAR_DIR"] = str(tmp_path / "var")
    out = tmp_path / "bench.json"
    result = subprocess.run(
        # A steady rate, so the adapter's paced sending is exercised too (a burst is the same loop without pauses).
        [sys.executable, "-m", "tools.bench", "--complaints", "40", "--rate", "50", "--json", str(out)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=420,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    figures = json.loads(out.read_text(encoding="utf-8"))
    assert figures.keys() >= KEYS
    assert figures["complaints"] == 40
    assert figures["rate"] == 50
    assert figures["lost"] == 0
    assert figures["duplicated"] == 0
    assert figures["counts"]["department_complaints"] == 40
    assert figures["counts"]["acknowledged_complaints"] == 40
    for path in ("to_department", "to_ack"):
        assert set(figures["latency_ms"][path]) >= {"p50", "p95", "p99"}
        assert figures["latency_ms"][path]["samples"] == 40
    assert figures["peak_rss_mb"] > 0
    # The bench started the embedded broker and Redis itself, so it can say what they cost.
    assert set(figures["embedded_services_cpu_seconds"]) == {"kafka", "redis"}
    assert all(cpu > 0 for cpu in figures["embedded_services_cpu_seconds"].values())
    assert figures["broker_peak_rss_mb"] > 0
    assert 0 < figures["machine_busy_share"] <= 1
    assert figures["pipeline_per_s"] > 0 and figures["framework_passthrough_per_s"] > 0
    # Counted on the run's topics: a complaint is at least normalised, routed, put on a department topic and
    # acknowledged (with the notification recorded), and read from its raw topic, as normalised and as events.
    assert figures["records_per_complaint"]["written"] >= 4
    assert figures["records_per_complaint"]["read"] >= 3
    assert set(figures["framework_cpu_ms_per_record"]) == {"agent", "broker"}
