"""The workers' producer linger: longer on the embedded broker, whose CPU goes with the number of requests."""

from __future__ import annotations

from pathlib import Path

import pytest

from complaintflow.settings import Settings
from complaintflow.streams import make_app


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
