"""Corrections from transfers: the record a transfer leaves, one label per complaint, and a retrain using them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from schemas import ComplaintStatus, Department, RoutingCorrection, StatusUpdate
from services.router.classifier import Classifier
from services.router.corrections import latest_per_complaint, write_corrections
from services.router.decide import decide, routing_correction
from services.router.routing import RoutingTable
from tests.router.test_decide import NOW, complaint
from tools.model.training import DEFAULT_CSV, Correction, load_corrections, load_examples, train_payload

AT = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)


def _correction(cid: str, to: Department, at: datetime, update_id: str) -> RoutingCorrection:
    return RoutingCorrection(
        correction_id=update_id,
        complaint_id=cid,
        text="text",
        from_department=Department.lending,
        to_department=to,
        at=at,
    )


def test_a_transfer_becomes_a_correction_with_the_redacted_text() -> None:
    item = complaint("My card 6222 0212 3456 7890 was charged twice.").model_copy(
        update={"redacted_text": "My card **** **** **** 7890 was charged twice.", "redacted_subject": "Card"}
    )
    routed = decide(item, classifier=Classifier.load(), table=RoutingTable.load(), now=NOW)
    update = StatusUpdate(
        update_id="upd-1",
        complaint_id=item.complaint_id,
        complaint_number=item.complaint_number,
        status=ComplaintStatus.transferred,
        department=routed.department,
        to_department=Department.payments,
        reason="a transfer, not a card",
        at=AT,
    )
    correction = routing_correction(routed, update, Department.payments, AT)
    assert (correction.correction_id, correction.complaint_id) == ("upd-1", item.complaint_id)
    assert (correction.from_department, correction.to_department) == (routed.department, Department.payments)
    assert correction.text == "Card\nMy card **** **** **** 7890 was charged twice."
    assert "6222" not in correction.model_dump_json()


def test_last_transfer_of_a_complaint_wins_and_repeats_count_once(tmp_path: Path) -> None:
    first = _correction("c1", Department.cards, AT, "u1")
    second = _correction("c1", Department.payments, AT + timedelta(hours=1), "u2")
    other = _correction("c2", Department.fraud, AT, "u3")
    kept = latest_per_complaint([second, first, other, second])
    assert [(c.complaint_id, c.to_department) for c in kept] == [("c2", Department.fraud), ("c1", Department.payments)]
    loaded = load_corrections(write_corrections(kept, tmp_path / "corrections.jsonl"))
    assert [(c.complaint_id, c.department, c.from_department) for c in loaded] == [
        ("c2", "fraud", "lending"),
        ("c1", "payments", "lending"),
    ]


@pytest.mark.skipif(not DEFAULT_CSV.exists(), reason="training file not present")
def test_retraining_with_corrections_teaches_a_department_the_file_lacks() -> None:
    examples = load_examples(DEFAULT_CSV)[::8]  # a small model is enough to see the corrections learnt
    wording = "the mobile app logs me out and the screen freezes whenever I open the app"
    corrections = [
        Correction(text=f"{wording} ({n}) and support says wait", department="digital_channels") for n in range(12)
    ]
    payload = train_payload(examples, 13, corrections=corrections, refit=False)
    assert "digital_channels" in payload["department"]["classes"]
    assert payload["metadata"]["corrections"] == 12
    plain = train_payload(examples, 13, refit=False)
    assert "digital_channels" not in plain["department"]["classes"]
