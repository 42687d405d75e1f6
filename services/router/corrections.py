"""Corrections learnt from transfers: every applied ``transferred`` update is a department saying "not ours, it
belongs to X". The router records each one on ``complaints.corrections`` (:func:`decide.routing_correction`);
``python -m tools.model retrain`` reads them back here and folds them into the next model
(:func:`tools.model.training.build_model`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

from kafka import TopicPartition

from kernel.kafka import consumer
from kernel.settings import Settings
from kernel.topics import Topics
from schemas import RoutingCorrection


def latest_per_complaint(corrections: Iterable[RoutingCorrection]) -> list[RoutingCorrection]:
    """One label per complaint: the last transfer wins (A → B, then B → C teaches C). Seen twice counts once."""
    latest: dict[str, RoutingCorrection] = {}
    for correction in corrections:
        known = latest.get(correction.complaint_id)
        if known is None or (correction.at, correction.correction_id) >= (known.at, known.correction_id):
            latest[correction.complaint_id] = correction
    return sorted(latest.values(), key=lambda c: (c.at, c.correction_id))


def read_corrections(bootstrap: str, settings: Settings, timeout_s: float = 30.0) -> list[RoutingCorrection]:
    """Every correction on the topic up to its end as it is now (no consumer group: nothing is committed)."""
    topic = Topics(settings.topic_prefix).corrections
    reader = consumer(bootstrap, [], None, settings)
    try:
        partitions = reader.partitions_for_topic(topic) or set()
        if not partitions:
            return []
        assigned = [TopicPartition(topic, p) for p in sorted(partitions)]
        reader.assign(assigned)
        reader.seek_to_beginning(*assigned)
        found: list[RoutingCorrection] = []
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for records in reader.poll(timeout_ms=200).values():
                for record in records:
                    try:
                        found.append(RoutingCorrection.model_validate_json(record.value))
                    except ValueError:
                        continue  # not a correction: nothing to learn from it
            behind = [
                tp for tp in assigned if reader.highwater(tp) is None or reader.position(tp) < reader.highwater(tp)
            ]
            if not behind:
                break
        return latest_per_complaint(found)
    finally:
        reader.close()


def write_corrections(corrections: Sequence[RoutingCorrection], path: Path) -> Path:
    """JSON lines, as ``python -m tools.model build --corrections`` reads them."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps(c.model_dump(mode="json"), ensure_ascii=False, sort_keys=True) for c in corrections]
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path
