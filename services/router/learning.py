"""What the training file can teach: department accuracy against training rows, and label agreement.

Two measures bound what any model trained on this file reaches on its held-out split. The learning curve
shows what more rows of the same kind would add (cross-validated, for the shipped classifier and for a model
predicting the department directly). The near-duplicate agreement shows how often the file gives one story
two departments, which no model trained on text can undo.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, train_test_split
from sklearn.pipeline import Pipeline, make_pipeline

from services.router.routing import RoutingTable

if TYPE_CHECKING:
    from services.router.training import Example

CURVE_FRACTIONS = (0.125, 0.25, 0.5, 1.0)
CURVE_FOLDS = 5
NEAR_DUPLICATE_COSINE = 0.9

# Trains a classifier on the first examples and returns its departments for the second.
Trainer = Callable[[Sequence["Example"], Sequence["Example"]], list[str]]


@dataclass(frozen=True)
class CurvePoint:
    fraction: float
    rows: int  # training rows, the mean over folds
    shipped: tuple[float, ...]  # department accuracy per fold
    direct: tuple[float, ...]


@dataclass(frozen=True)
class LabelAgreement:
    threshold: float
    rows: int  # rows whose nearest other narrative reaches the threshold
    agreeing: int  # of those, rows whose nearest narrative has the same gold department


def direct_department_model() -> Pipeline:
    """The department alone from word uni- and bigrams, balanced weights: no other plain model tried (character
    n-grams with a linear SVM, complement naive Bayes, nearest neighbours) did better beyond the folds' spread."""
    return make_pipeline(
        TfidfVectorizer(sublinear_tf=True, min_df=2, ngram_range=(1, 2), dtype=np.float32),
        LogisticRegression(C=8.0, class_weight="balanced", max_iter=3000),
    )


def _direct_departments(train: Sequence[Example], test: Sequence[Example], table: RoutingTable) -> list[str]:
    model = direct_department_model().fit([e.text for e in train], [e.department(table) for e in train])
    return [str(p) for p in model.predict([e.text for e in test])]


def _accuracy(predicted: Sequence[str], test: Sequence[Example], table: RoutingTable) -> float:
    return float(np.mean([p == e.department(table) for p, e in zip(predicted, test, strict=True)]))


def learning_curve(
    examples: Sequence[Example],
    table: RoutingTable,
    seed: int,
    shipped: Trainer,
    *,
    folds: int = CURVE_FOLDS,
    fractions: Sequence[float] = CURVE_FRACTIONS,
    advance: Callable[[], None] = lambda: None,
) -> list[CurvePoint]:
    """Each fold's training part, cut to each fraction (stratified by line), trains the shipped classifier
    (through ``shipped``) and the direct department model; both are scored on the fold's test part, the same
    for every fraction. ``advance`` is called after each pair of fits."""
    gold = [e.department(table) for e in examples]
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    scores: dict[float, tuple[list[int], list[float], list[float]]] = {f: ([], [], []) for f in fractions}
    for train_index, test_index in splitter.split(np.zeros(len(gold)), gold):
        train = [examples[i] for i in train_index]
        test = [examples[i] for i in test_index]
        for fraction in fractions:
            part = train
            if fraction < 1.0:
                part, _ = train_test_split(
                    train, train_size=fraction, random_state=seed, stratify=[str(e.line) for e in train]
                )
            rows, shipped_scores, direct_scores = scores[fraction]
            rows.append(len(part))
            shipped_scores.append(_accuracy(shipped(part, test), test, table))
            direct_scores.append(_accuracy(_direct_departments(part, test, table), test, table))
            advance()
    return [
        CurvePoint(f, round(float(np.mean(rows))), tuple(shipped_scores), tuple(direct_scores))
        for f, (rows, shipped_scores, direct_scores) in scores.items()
    ]


def doubling_gain(rows: Sequence[int], accuracies: Sequence[float]) -> float:
    """Accuracy gained per doubling of the training rows: the least-squares slope on log2(rows)."""
    slope, _ = np.polyfit(np.log2(np.asarray(rows, dtype=float)), np.asarray(accuracies, dtype=float), 1)
    return float(slope)


def rows_to_reach(target: float, rows: int, accuracy: float, gain_per_doubling: float) -> float:
    """Rows needed for ``target`` if every further doubling kept adding ``gain_per_doubling``. Learning
    curves flatten, so this is a lower bound on what the goal would take."""
    if accuracy >= target:
        return float(rows)
    if gain_per_doubling <= 0:
        return math.inf
    return rows * 2 ** ((target - accuracy) / gain_per_doubling)


def near_duplicate_agreement(
    examples: Sequence[Example], table: RoutingTable, threshold: float = NEAR_DUPLICATE_COSINE
) -> LabelAgreement:
    """Among narratives whose nearest other narrative is near-identical (TF-IDF cosine ≥ ``threshold``), how
    many share that neighbour's gold department."""
    gold = np.array([e.department(table) for e in examples])
    vectors = TfidfVectorizer(sublinear_tf=True, dtype=np.float32).fit_transform([e.text for e in examples])
    similarity = (vectors @ vectors.T).tocsr()
    similarity -= sparse.diags(similarity.diagonal())  # a narrative is not its own neighbour
    nearest = np.asarray(similarity.argmax(axis=1)).ravel()
    closeness = similarity.max(axis=1).toarray().ravel()
    close = closeness >= threshold
    return LabelAgreement(threshold, int(close.sum()), int((gold[close] == gold[nearest[close]]).sum()))


def render(points: Sequence[CurvePoint], agreement: LabelAgreement, goal: float) -> list[str]:
    """The report's section on what the file can teach, as Markdown lines."""
    rows = [p.rows for p in points]
    out = [
        f"## What the file can teach: department accuracy against training rows ({len(points[0].shipped)}-fold)",
        "",
        "Each fold's training part, cut to a share of its rows (stratified by line), trains the shipped",
        "classifier and a model predicting the department directly (word uni- and bigrams, balanced logistic",
        "regression; no other plain model tried did better beyond the folds' spread); both are scored on the",
        "fold's test part.",
        "",
        "| share of the training part | rows | shipped classifier | direct department model |",
        "|---|---|---|---|",
    ]
    for p in points:
        out.append(
            f"| {p.fraction:g} | {p.rows:,} | {np.mean(p.shipped):.3f} ({min(p.shipped):.3f}–{max(p.shipped):.3f}) "
            f"| {np.mean(p.direct):.3f} ({min(p.direct):.3f}–{max(p.direct):.3f}) |"
        )
    out.append("")
    for name, accuracies in (
        ("shipped classifier", [float(np.mean(p.shipped)) for p in points]),
        ("direct department model", [float(np.mean(p.direct)) for p in points]),
    ):
        gain = doubling_gain(rows, accuracies)
        needed = rows_to_reach(goal, rows[-1], accuracies[-1], gain)
        reach = "never" if math.isinf(needed) else f"{_rounded(needed)} rows ({_rounded(needed / rows[-1])}× these)"
        out.append(
            f"- {name}: {gain * 100:.1f} points per doubling of the rows; at that rate {goal:.0%} takes {reach}."
        )
    near = f"near-identical (TF-IDF cosine ≥ {agreement.threshold:g})"
    if agreement.rows:
        share = f"{agreement.agreeing} ({agreement.agreeing / agreement.rows:.1%})"
        out += ["", f"Label agreement: of the {agreement.rows} narratives whose nearest other narrative is {near},"]
        out.append(f"{share} share its gold department.")
    else:
        out += ["", f"Label agreement: no narrative has a {near} other narrative."]
    return out


def _rounded(value: float) -> str:
    """Two significant figures: an extrapolation has no more."""
    return f"{float(f'{value:.2g}'):,.0f}"
