"""What the training file can teach: the learning curve's arithmetic, label agreement, and a small real curve."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from schemas import BusinessLine, Reason
from services.router import learning
from services.router.routing import RoutingTable
from services.router.training import Example, load_examples, shipped_trainer

TRAINING_CSV = Path("/work/shared/data/cfpb_complaints_train.csv")


@pytest.fixture(scope="module")
def table() -> RoutingTable:
    return RoutingTable.load()


def _example(text: str, line: BusinessLine, owning: Reason, product: str) -> Example:
    return Example("cfpb-a", product, "", text, line, owning, "default", owning)


def test_doubling_gain_is_the_slope_on_log2_rows() -> None:
    # The direct department model's cross-validated curve on the CFPB file.
    gain = learning.doubling_gain([603, 1207, 2415, 4830], [0.785, 0.797, 0.809, 0.828])
    assert gain == pytest.approx(0.0140, abs=0.0005)
    assert learning.doubling_gain([500, 1000, 2000], [0.70, 0.70, 0.70]) == pytest.approx(0.0, abs=1e-12)


def test_rows_to_reach_extrapolates_by_doublings() -> None:
    assert learning.rows_to_reach(0.90, 4830, 0.828, 0.012) == pytest.approx(4830 * 2**6)
    assert learning.rows_to_reach(0.80, 4830, 0.828, 0.012) == 4830
    assert math.isinf(learning.rows_to_reach(0.90, 4830, 0.828, 0.0))
    assert math.isinf(learning.rows_to_reach(0.90, 4830, 0.828, -0.01))


def test_near_duplicates_filed_under_two_products_disagree(table: RoutingTable) -> None:
    dispute = (
        "I disputed the collection account from XXXX on my credit report three times and the bureau keeps "
        "verifying it without any proof. This debt is not mine and it is hurting my score."
    )
    examples = [
        _example(dispute, BusinessLine.credit_reporting, Reason.credit_report_error, "Credit reporting"),
        _example(
            dispute + " Please remove it.", BusinessLine.debt_collection, Reason.collection_conduct, "Debt collection"
        ),
        _example(
            "My payday lender took three payments from my checking account in one week after I paid the loan off.",
            BusinessLine.loans_mortgages,
            Reason.rules_policy,
            "Payday loan",
        ),
        _example(
            "My payday lender took three payments from my checking account in one week after I paid the loan off!",
            BusinessLine.loans_mortgages,
            Reason.rules_policy,
            "Payday loan",
        ),
        _example(
            "The mortgage servicer lost my escrow refund check.", BusinessLine.loans_mortgages, Reason.other, "Mortgage"
        ),
    ]
    agreement = learning.near_duplicate_agreement(examples, table, threshold=0.9)
    assert (agreement.rows, agreement.agreeing) == (4, 2)


@pytest.mark.skipif(not TRAINING_CSV.exists(), reason="training file not present")
def test_learning_curve_on_a_sample_of_the_file(table: RoutingTable) -> None:
    # The three large lines only: a line with a handful of rows cannot be split in stratified folds.
    large = {BusinessLine.loans_mortgages, BusinessLine.credit_reporting, BusinessLine.debt_collection}
    examples = [e for e in load_examples(TRAINING_CSV) if e.line in large][::8]
    steps: list[None] = []
    points = learning.learning_curve(
        examples,
        table,
        13,
        shipped_trainer(13, table),
        folds=2,
        fractions=(0.5, 1.0),
        advance=lambda: steps.append(None),
    )
    assert len(steps) == 4
    assert [p.fraction for p in points] == [0.5, 1.0]
    assert points[0].rows < points[1].rows <= len(examples)
    for point in points:
        assert len(point.shipped) == len(point.direct) == 2
        assert all(0.0 <= score <= 1.0 for score in point.shipped + point.direct)
    # Well above the largest department's share (lending, about half), on an eighth of the file.
    assert min(points[-1].direct) > 0.6
    report = "\n".join(learning.render(points, learning.LabelAgreement(0.9, 10, 9), 0.90))
    assert "| 0.5 |" in report and "points per doubling" in report and "9 (90.0%)" in report
    lonely = "\n".join(learning.render(points, learning.LabelAgreement(0.9, 0, 0), 0.90))
    assert "no narrative has a near-identical" in lonely
