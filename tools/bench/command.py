"""``python -m tools.bench``: the pipeline's throughput, latency and memory against the broker's own limit.

One run, one broker: the broker ceiling (kafka-python), the framework ceiling (a faust passthrough agent),
then N complaints through intake, router and notifier worker processes, until every complaint is on its
department topic and every acknowledgement was accepted. Each run uses its own topic and group prefix.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console

from kernel import offsetgaps
from kernel.embedded import EmbeddedStack, embedded_services, free_port
from kernel.kafka import ensure_topics, producer
from kernel.progress import progress
from kernel.settings import Settings
from kernel.topics import Topics
from schemas import Channel, Department
from tools.bench.ceilings import (
    FrameworkCeiling,
    broker_ceiling,
    framework_ceiling,
    passthrough_process,
    records_on,
)
from tools.bench.observe import CountingSink, Observer, Tally, events_of, start_sink
from tools.bench.processes import (
    Sampler,
    Worker,
    load_average,
    process_cpu_seconds,
    start_workers,
    stop_workers,
    wait_ready,
)
from tools.bench.report import latency_summary, machine, print_table
from tools.bench.workload import BenchComplaint, build_workload, mean_size

PUBLISH_TICK_S = 0.02  # at a steady rate the adapter wakes at most this often and sends what is due
STALL_TIMEOUT_S = 60.0  # no new arrival for this long ends the wait; what is missing is counted as lost
GRACE_S = 3.0  # keep counting after the last arrival, so late duplicates are seen
MB = 1024 * 1024


def _worker_env(
    settings: Settings, bootstrap: str, redis_url: str, prefix: str, var_dir: Path, smtp_port: int
) -> dict[str, str]:
    dropped = ("KAFKA_", "REDIS_", "SMTP_", "SMS_GATEWAY_", "HTTP_PORT")
    env = {k: v for k, v in os.environ.items() if not k.startswith(dropped)}
    env.update(
        {
            "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "REDIS_URL": redis_url,
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(smtp_port),
            "SMTP_INTAKE_PORT": str(free_port()),
            "COMPLAINTFLOW_VAR_DIR": str(var_dir),
            "COMPLAINTFLOW_TOPIC_PREFIX": prefix,
            "COMPLAINTFLOW_GROUP_PREFIX": f"{prefix}cf",
            # The workers reach the broker by address, so they are told whether it is the embedded one: its client
            # defaults (session timeout, fetch wait, linger, offset-gap patience) follow from that.
            "COMPLAINTFLOW_KAFKA_EMBEDDED": str(settings.embedded_kafka).lower(),
            # Every acknowledgement is measured whatever the hour: SMS must not wait for the morning.
            "COMPLAINTFLOW_QUIET_HOURS": "00:00-00:00",
            "COMPLAINTFLOW_LOG_FORMAT": "json",
        }
    )
    return env


def _publish(
    bootstrap: str, topics: Topics, workload: list[BenchComplaint], rate: float | None, tick: Any
) -> list[float]:
    """Send every complaint (burst, or ``rate`` per second); returns each one's publish instant."""
    sender = producer(bootstrap, enable_idempotence=True, client_id="complaintflow-bench-adapter")
    published = [0.0] * len(workload)
    started = time.monotonic()
    try:
        for complaint in workload:
            if rate:
                due = started + complaint.index / rate
                pause = due - time.monotonic()
                if pause > 0:
                    time.sleep(max(pause, PUBLISH_TICK_S))
            now = time.time()
            published[complaint.index] = now
            sender.send(topics.raw(complaint.channel), key=complaint.key, value=complaint.value_at(now))
            if complaint.index % 200 == 199:
                tick(200)
        sender.flush(120)
        tick(len(workload) % 200)
    finally:
        sender.close()
    return published


def _records_per_complaint(bootstrap: str, topics: Topics, partitions: int, count: int) -> dict[str, float]:
    """Records the workers wrote and read per complaint: everything on the run's topics but the raw ones is
    written by a worker, and each record of the topics the workers consume is read by one group."""
    held = records_on(bootstrap, list(topics.all(partitions)))
    raw = {topics.raw(c) for c in Channel}
    consumed = {*raw, topics.normalized, topics.status, topics.events, topics.followups}
    written = sum(n for topic, n in held.items() if topic not in raw)
    read = sum(n for topic, n in held.items() if topic in consumed)
    return {"written": round(written / max(1, count), 2), "read": round(read / max(1, count), 2)}


def _wait_for_pipeline(tally: Tally, bar: Any, tasks: tuple[Any, Any]) -> None:
    last_progress, last_seen = time.monotonic(), -1
    while True:
        seen = len(tally.department_at) + len(tally.ack_at)
        bar.update(tasks[0], completed=len(tally.department_at))
        bar.update(tasks[1], completed=len(tally.ack_at))
        if tally.done:
            break
        if seen != last_seen:
            last_progress, last_seen = time.monotonic(), seen
        elif time.monotonic() - last_progress > STALL_TIMEOUT_S:
            break
        time.sleep(0.2)
    time.sleep(GRACE_S)


def _figures(
    count: int,
    workers_per_role: int,
    rate: float | None,
    workload: list[BenchComplaint],
    published: list[float],
    tally: Tally,
    ceilings: dict[str, float],
    framework: FrameworkCeiling,
    moved: dict[str, float],
    workers: list[Worker],
    sampler: Sampler,
) -> dict[str, Any]:
    counts = tally.summary()
    to_department = [tally.department_at[i] - published[i] for i in tally.department_at]
    to_ack = [tally.ack_at[i] - published[i] for i in tally.ack_at]
    first = min(published) if published else 0.0
    last_department = max(tally.department_at.values(), default=first)
    last_ack = max(tally.ack_at.values(), default=first)
    pipeline_per_s = len(tally.department_at) / max(1e-6, last_department - first)
    ack_per_s = len(tally.ack_at) / max(1e-6, last_ack - first)
    broker_limit = min(ceilings["broker_produce_per_s"], ceilings["broker_consume_per_s"])
    roles = sorted({w.role for w in workers})
    cpu = {role: round(sum(w.cpu_at_end - w.cpu_at_start for w in workers if w.role == role), 2) for role in roles}
    rss = {role: round(max(w.peak_rss for w in workers if w.role == role) / MB, 1) for role in roles}
    lost = counts["lost_department"] + counts["lost_ack"]
    # If every handler cost nothing, each complaint would still cost the framework's CPU per record passed for
    # every record it moves (half a pass for each read, half for each write), and every core could run it.
    agent_ms = framework.cpu_ms_per_record().get("agent", 0.0)
    passes = (moved["written"] + moved["read"]) / 2
    bound = (os.cpu_count() or 1) * 1000 / (passes * agent_ms) if passes and agent_ms else None
    argv = ["python", "-m", "tools.bench", "--complaints", str(count), "--workers", str(workers_per_role)]
    return {
        "command": " ".join(argv + (["--rate", f"{rate:g}"] if rate else [])),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "complaints": count,
        "workers": workers_per_role,
        "rate": rate,
        "raw_mean_bytes": mean_size(workload),
        "pipeline_per_s": round(pipeline_per_s, 1),
        "ack_per_s": round(ack_per_s, 1),
        **{name: round(value, 1) for name, value in ceilings.items()},
        "ratio_to_framework": round(pipeline_per_s / ceilings["framework_passthrough_per_s"], 3),
        "ratio_to_broker": round(pipeline_per_s / broker_limit, 3),
        "framework_cpu_ms_per_record": framework.cpu_ms_per_record(),
        "records_per_complaint": moved,
        "framework_bound_per_s": round(bound, 1) if bound else None,
        "ratio_to_framework_at_best": round(bound / framework.per_s, 3) if bound else None,
        "latency_ms": {"to_department": latency_summary(to_department), "to_ack": latency_summary(to_ack)},
        "cpu_seconds": {**cpu, "total": round(sum(cpu.values()), 2)},
        "cpu_ms_per_complaint": round(sum(cpu.values()) * 1000 / max(1, count), 2),
        "bench_process_cpu_seconds": round(sampler.own_cpu_seconds, 2),
        "embedded_services_cpu_seconds": {name: round(cpu, 2) for name, cpu in sampler.service_cpu_seconds.items()},
        "machine_busy_share": round(sampler.machine_busy_share, 3),
        "peak_rss_mb": max(rss.values(), default=0.0),
        "peak_rss_mb_by_role": rss,
        "broker_peak_rss_mb": round(sampler.service_peak_rss["kafka"] / MB, 1) if "kafka" in sampler.services else None,
        "lost": lost,
        "duplicated": counts["duplicated_department"] + counts["duplicated_ack"],
        "counts": counts,
        # What to look for when something is missing: the complaint, its channel and what did not arrive.
        "missing_examples": [
            {"complaint_id": c.complaint_id, "channel": c.channel.value, "ack_event_id": c.ack_event_id, "missing": gap}
            for gap, arrived in (("department", tally.department_at), ("ack", tally.ack_at))
            for c in workload
            if c.index not in arrived
        ][:20],
    }


def run_bench(
    settings: Settings, *, count: int, workers: int = 1, rate: float | None = None, json_path: Path | None = None
) -> int:
    console = Console(stderr=True)
    run = uuid.uuid4().hex[:8]
    prefix = f"{settings.topic_prefix}bench-{run}."
    run_dir = (settings.var_dir / "bench" / run).resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    load_before = load_average()
    console.print(f"bench run {run}: {count} complaints, {workers} worker(s) per role, files in {run_dir}")
    with embedded_services(settings.embedded_kafka, settings.embedded_redis, run_dir / "embedded") as stack:
        figures = _run(settings, stack, run, prefix, run_dir, count, workers, rate, console)
    figures["load_average_before"] = load_before
    figures["load_average_after"] = load_average()
    print_table(figures, Console())
    if json_path:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(figures, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        console.print(f"wrote {json_path}")
    return 0 if figures["lost"] == 0 and figures["duplicated"] == 0 else 1


def _run(
    settings: Settings,
    stack: EmbeddedStack,
    run: str,
    prefix: str,
    run_dir: Path,
    count: int,
    workers_per_role: int,
    rate: float | None,
    console: Console,
) -> dict[str, Any]:
    bootstrap = settings.kafka_bootstrap_servers or stack.kafka_bootstrap_servers or ""
    redis_url = settings.redis_url or stack.redis_url or ""
    topics = Topics(prefix)
    partitions = settings.topic_partitions
    bench_topics = {f"{prefix}bench.broker": partitions, f"{prefix}bench.a": partitions, f"{prefix}bench.b": partitions}
    ensure_topics(bootstrap, {**topics.all(partitions), **bench_topics}, settings.topic_replication)
    workload = build_workload(count, run)
    values = [c.value_at(time.time()) for c in workload[:64]]
    tally = Tally(count)
    sink = CountingSink(tally, {key: c.index for c in workload for key in (c.ack_event_id, c.complaint_id)})
    controller = start_sink(sink)
    env = _worker_env(settings, bootstrap, redis_url, prefix, run_dir, controller.port)
    passthrough = None
    running: list[Worker] = []
    service_pids = {s.name: s.proc.pid for s in stack.services if s.proc is not None}
    try:
        with progress() as bar:
            task = bar.add_task("broker ceiling", total=2 * count)
            broker = broker_ceiling(bootstrap, f"{prefix}bench.broker", values, count, lambda n: bar.advance(task, n))
            task = bar.add_task("framework ceiling", total=count)

            def start_agent() -> None:
                nonlocal passthrough
                agent_env = {**env, "BENCH_SOURCE_TOPIC": f"{prefix}bench.a", "BENCH_TARGET_TOPIC": f"{prefix}bench.b"}
                agent_env["COMPLAINTFLOW_GROUP_PREFIX"] = f"{prefix}pass"
                passthrough = passthrough_process(agent_env, run_dir / "passthrough.log")

            def framework_cpu() -> dict[str, float]:
                pid = passthrough.pid if passthrough is not None else 0
                broker = {"broker": process_cpu_seconds(service_pids["kafka"])} if "kafka" in service_pids else {}
                return {"agent": process_cpu_seconds(pid), **broker}

            framework = framework_ceiling(
                bootstrap, f"{prefix}bench.a", f"{prefix}bench.b", values, count,
                lambda n: bar.advance(task, n), start_agent, framework_cpu,
            )  # fmt: skip
            if passthrough is not None:
                passthrough.terminate()
                passthrough.wait(20)
            ceilings = {
                "broker_produce_per_s": broker.produce_per_s,
                "broker_consume_per_s": broker.consume_per_s,
                "framework_passthrough_per_s": framework.per_s,
            }
            starting = bar.add_task("starting workers", total=3 * workers_per_role)
            running = start_workers(["intake", "router", "notifier"], workers_per_role, env, run_dir / "log")
            wait_ready(running)
            bar.update(starting, completed=3 * workers_per_role)
            offsetgaps.install(settings.offset_gap_patience_s)  # the observer reads at the head, as departments do
            observer = Observer(
                bootstrap,
                [topics.department(d) for d in Department],
                topics.notifications_social,
                run_dir / "outbox" / "sms.jsonl",
                workload,
                tally,
            )
            observer.start()
            sampler = Sampler(running, service_pids)
            sampler.begin()
            task = bar.add_task("publishing", total=count)
            arrivals = (bar.add_task("on department topics", total=count), bar.add_task("acknowledged", total=count))
            published = _publish(bootstrap, topics, workload, rate, lambda n: bar.advance(task, n))
            _wait_for_pipeline(tally, bar, arrivals)
            sampler.end()
            observer.stop()
            moved = _records_per_complaint(bootstrap, topics, partitions, count)
    finally:
        if passthrough is not None and passthrough.poll() is None:
            passthrough.kill()
        stop_workers(running)
        controller.stop()
    figures = _figures(
        count, workers_per_role, rate, workload, published, tally, ceilings, framework, moved, running, sampler
    )
    if figures["missing_examples"]:  # while the broker still holds the run's records
        missing = {m["complaint_id"] for m in figures["missing_examples"]}
        kinds = events_of(bootstrap, [topics.events, topics.deliveries], missing)
        for example in figures["missing_examples"]:
            example["events_on_topic"] = kinds.get(example["complaint_id"], {})
    figures["run"] = run
    figures["email_accepted_by_sink"] = sink.accepted
    return figures
