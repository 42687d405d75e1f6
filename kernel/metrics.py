"""The one metrics registry (Prometheus). Labels carry topics, stages and outcomes, never personal data."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

MESSAGES = Counter(
    "complaintflow_messages_total", "Messages handled, by topic and outcome", ["stage", "topic", "outcome"]
)
DEAD_LETTERS = Counter(
    "complaintflow_dead_letters_total",
    "Dead letters written, by stage and error type",
    ["stage", "error_type"],
)
DEAD_LETTER_PUBLISH_FAILURES = Counter(
    "complaintflow_dead_letter_publish_failures_total",
    "Dead letters the broker did not accept (each try), by stage and error type; the partition waits meanwhile",
    ["stage", "error_type"],
)
AGENT_CRASHES = Counter(
    "complaintflow_agent_crashes_total", "Stream agents that crashed, by stage and error type", ["stage", "error_type"]
)
PROCESSING_SECONDS = Histogram(
    "complaintflow_processing_seconds",
    "Time to handle one batch of messages",
    ["stage"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
BATCH_SIZE = Histogram(
    "complaintflow_batch_size",
    "Calls carried out together in one batch (a stage's batch of messages, a Redis round trip, a classification)",
    ["batch"],
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
)
STAGE_WAITING_SECONDS = Counter(
    "complaintflow_stage_waiting_seconds_total",
    "Time a stage waited for records with nothing to handle (its input, not its handlers, held it back)",
    ["stage"],
)
NOTIFICATIONS = Counter(
    "complaintflow_notifications_total", "Notifications by delivery medium and result", ["medium", "result"]
)
SLA_CLOCKS = Gauge("complaintflow_sla_clocks", "Open SLA clocks by state", ["state"])
OFFSET_GAPS = Counter(
    "complaintflow_offset_gaps_total",
    "Holes in a partition's offsets met while fetching: held back until filled, or accepted after the patience",
    ["outcome"],
)
CONSUMER_LAG = Gauge(
    "complaintflow_consumer_lag", "Messages behind the fetch high-water mark", ["group", "topic", "partition"]
)
HTTP_REQUESTS = Counter("complaintflow_http_requests_total", "HTTP requests by route and status", ["route", "status"])
SMTP_INTAKE = Counter("complaintflow_smtp_intake_total", "Mail offered to the SMTP intake, by result", ["result"])


def render_latest() -> tuple[bytes, str]:
    return generate_latest(), CONTENT_TYPE_LATEST
