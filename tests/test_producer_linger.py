"""Kafka client defaults: the embedded broker's (longer linger, its CPU goes with requests) or Kafka's."""

from __future__ import annotations

from pathlib import Path

import pytest

from kernel.settings import Settings
from kernel.streams import make_app


@pytest.mark.parametrize(
    ("bootstrap", "linger_ms", "expected_ms"),
    [("", None, 20), ("kafka:9092", None, 2), ("kafka:9092", 15, 15), ("", 0, 0)],
)
def test_workers_linger_by_broker_unless_set(
    tmp_path: Path, bootstrap: str, linger_ms: int | None, expected_ms: int
) -> None:
    linger = {} if linger_ms is None else {"COMPLAINTFLOW_KAFKA_LINGER_MS": linger_ms}
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        KAFKA_BOOTSTRAP_SERVERS=bootstrap or None,
        COMPLAINTFLOW_VAR_DIR=tmp_path,
        COMPLAINTFLOW_KAFKA_OFFSET_GAP_PATIENCE_MS=0,
        **linger,
    )
    app = make_app("intake", settings, bootstrap or "127.0.0.1:9092")
    assert app.conf.producer_linger == pytest.approx(expected_ms / 1000)


def test_a_negative_linger_is_refused() -> None:
    with pytest.raises(ValueError, match="COMPLAINTFLOW_KAFKA_LINGER_MS"):
        Settings(_env_file=None, COMPLAINTFLOW_KAFKA_LINGER_MS=-1)  # type: ignore[call-arg]


@pytest.mark.parametrize(("flag", "on_embedded"), [(None, False), ("true", True), ("false", False)])
def test_a_process_told_the_broker_is_embedded_takes_its_client_defaults(flag: str | None, on_embedded: bool) -> None:
    told = {} if flag is None else {"COMPLAINTFLOW_KAFKA_EMBEDDED": flag}
    settings = Settings(_env_file=None, KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:9092", **told)  # type: ignore[call-arg]
    defaults = (
        settings.session_timeout_s,
        settings.heartbeat_interval_s,
        settings.fetch_max_wait_ms,
        settings.producer_linger_ms,
        settings.offset_gap_patience_s,
    )
    assert defaults == ((6.0, 1.0, 100, 20, 0.5) if on_embedded else (45.0, 3.0, None, 2, 0.0))
