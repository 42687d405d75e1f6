"""`complaintflow report` end to end: a generated month on real topics, read back by the command."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from complaintflow.report.sample import SampleMonth, generate_month
from kernel.embedded import EmbeddedStack
from kernel.kafka import ensure_topics, producer
from kernel.topics import Topics
from tests.conftest import REPO, stack_env

pytestmark = pytest.mark.integration
PREFIX = "rpt."


@pytest.fixture(scope="module")
def published(embedded: EmbeddedStack) -> SampleMonth:
    month = generate_month(seed=7, start=datetime(2026, 3, 1, tzinfo=UTC), complaints=80, customers=50, storm_size=20)
    topics = Topics(PREFIX)
    bootstrap = embedded.kafka_bootstrap_servers or ""
    ensure_topics(bootstrap, topics.all(6))
    send = producer(bootstrap)
    for record in month.routed:
        send.send(topics.routed, key=record.complaint.complaint_id.encode(), value=record.model_dump_json().encode())
    for update in month.statuses:
        send.send(topics.status, key=update.complaint_number.encode(), value=update.model_dump_json().encode())
    for event in month.events:
        send.send(topics.events, key=event.complaint_id.encode(), value=event.model_dump_json().encode())
    send.send(topics.events, key=b"junk", value=b"not a record")
    send.flush()
    send.close()
    return month


def _report(embedded: EmbeddedStack, tmp_path: Path, fmt: str) -> Path:
    env = stack_env(embedded, tmp_path / "var", PREFIX)
    out = tmp_path / "out"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "complaintflow.cli",
            "report",
            "--since",
            "2026-03-01",
            "--until",
            "2026-03-31",
            "--out",
            str(out),
            "--format",
            fmt,
        ],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    path = Path(result.stdout.strip().removeprefix("wrote "))
    assert path.exists() and path.suffix == f".{fmt}"
    return path


def test_json_report_counts_every_complaint(published: SampleMonth, embedded: EmbeddedStack, tmp_path: Path) -> None:
    document = json.loads(_report(embedded, tmp_path, "json").read_text())
    tables = document["tables"]
    summary = {row["figure"]: row["value"] for row in tables["summary"]}
    assert summary["complaints"] == len(published.plans)
    assert {r["channel"]: r["complaints"] for r in tables["by_channel"]} == dict(
        Counter(p.channel.value for p in published.plans)
    )
    assert tables["incidents"][0]["complaints"] == 20
    assert summary["incidents"] == 1


def test_csv_report_has_the_same_figures(published: SampleMonth, embedded: EmbeddedStack, tmp_path: Path) -> None:
    rows = list(csv.DictReader(_report(embedded, tmp_path, "csv").open(encoding="utf-8-sig")))
    severity = {r["key"]: int(r["value"]) for r in rows if r["table"] == "by_severity" and r["measure"] == "complaints"}
    assert severity == dict(Counter(p.severity.value for p in published.plans))


def test_html_report_is_one_file_with_charts(published: SampleMonth, embedded: EmbeddedStack, tmp_path: Path) -> None:
    html = _report(embedded, tmp_path, "html").read_text()
    assert html.count("<svg") >= 6 and "投诉台账报告" in html and "Complaint ledger report" in html
    for customer in {r.complaint.customer for r in published.routed}:
        assert customer.phone not in html and (customer.name or "") not in html
