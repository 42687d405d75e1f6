"""Figures of a bench run: percentiles, the JSON document, and the table a person reads."""

from __future__ import annotations

import os
import platform
from typing import Any

from rich.console import Console
from rich.table import Table

from complaintflow.report.ledger import percentile  # the one nearest-rank percentile


def latency_summary(seconds: list[float]) -> dict[str, float | None]:
    def ms(value: float | None) -> float | None:
        return round(value * 1000, 1) if value is not None else None

    return {
        "p50": ms(percentile(seconds, 50)),
        "p95": ms(percentile(seconds, 95)),
        "p99": ms(percentile(seconds, 99)),
        "max": ms(max(seconds) if seconds else None),
        "samples": len(seconds),
    }


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        "processor": platform.machine(),
    }


def _fmt(value: object, suffix: str = "") -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:,.1f}{suffix}"
    return f"{value}{suffix}"


def print_table(figures: dict[str, Any], console: Console | None = None) -> None:
    console = console or Console()
    table = Table(title=f"tools.bench: {figures['command']}")
    table.add_column("measure")
    table.add_column("value", justify="right")
    rows: list[tuple[str, object, str]] = [
        ("complaints", figures["complaints"], ""),
        ("workers per role", figures["workers"], ""),
        ("offered load", figures["rate"] or "burst", " /s" if figures["rate"] else ""),
        ("broker ceiling: produce", figures["broker_produce_per_s"], " msg/s"),
        ("broker ceiling: consume", figures["broker_consume_per_s"], " msg/s"),
        ("framework ceiling: passthrough", figures["framework_passthrough_per_s"], " msg/s"),
        ("pipeline to department", figures["pipeline_per_s"], " complaints/s"),
        ("pipeline to acknowledgement", figures["ack_per_s"], " complaints/s"),
        ("pipeline / framework ceiling", figures["ratio_to_framework"], ""),
        ("pipeline / broker ceiling", figures["ratio_to_broker"], ""),
        (
            "framework CPU per record passed",
            " / ".join(f"{name} {ms:.3f}" for name, ms in figures["framework_cpu_ms_per_record"].items()),
            " ms",
        ),
        (
            "records per complaint: written / read",
            f"{figures['records_per_complaint']['written']} / {figures['records_per_complaint']['read']}",
            "",
        ),
        ("pipeline at best (handlers free)", figures["framework_bound_per_s"], " complaints/s"),
        ("that at best / framework ceiling", figures["ratio_to_framework_at_best"], ""),
    ]
    for name in ("to_department", "to_ack"):
        lat = figures["latency_ms"][name]
        rows.append(
            (
                f"latency {name.replace('_', ' ')} p50 / p95 / p99",
                f"{_fmt(lat['p50'])} / {_fmt(lat['p95'])} / {_fmt(lat['p99'])}",
                " ms",
            )
        )
    for role, cpu in figures["cpu_seconds"].items():
        rows.append((f"CPU seconds: {role}", cpu, " s"))
    rows.append(("CPU seconds: bench process", figures["bench_process_cpu_seconds"], " s"))
    for name, cpu in figures["embedded_services_cpu_seconds"].items():
        rows.append((f"CPU seconds: embedded {name}", cpu, " s"))
    rows.append(("machine busy (all cores)", f"{figures['machine_busy_share']:.0%}", ""))
    for role, rss in figures["peak_rss_mb_by_role"].items():
        rows.append((f"peak RSS: {role}", rss, " MB"))
    rows += [
        ("peak RSS: broker", figures["broker_peak_rss_mb"], " MB"),
        ("lost", figures["lost"], ""),
        ("duplicated", figures["duplicated"], ""),
        ("load average before / after", f"{figures['load_average_before']} / {figures['load_average_after']}", ""),
    ]
    for name, value, suffix in rows:
        shown = f"{value:,.3f}" if isinstance(value, float) and value < 10 and not suffix else _fmt(value, suffix)
        table.add_row(name, shown if not isinstance(value, str) else f"{value}{suffix}")
    console.print(table)
