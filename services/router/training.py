"""Build and evaluate the classifier model from the CFPB training file.

    python -m services.router.training build [CSV] [--out PATH] [--seed N]
    python -m services.router.training evaluate [CSV] [--handset JSONL] [--report PATH]

``build_model`` is deterministic for a given CSV and seed: the same bytes come out every time.
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import numpy as np
from scipy.optimize import minimize_scalar
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.model_selection import train_test_split

from schemas import BusinessLine, Reason, Severity
from services.router.classifier import DEFAULT_MODEL_PATH, MODEL_FORMAT, Classifier, analyse
from services.router.labels import line_for_product, reason_for
from services.router.routing import RoutingTable

DEFAULT_CSV = Path("/work/shared/data/cfpb_complaints_train.csv")
DEFAULT_HANDSET = Path(__file__).resolve().parents[2] / "tests" / "router" / "data" / "handset.jsonl"
DEFAULT_REPORT = Path(__file__).parent / "model" / "EVALUATION.md"

MAX_FEATURES = 12000
REGULARISATION_C = 4.0
LINE_LEXICON_WEIGHT = 2.0
REASON_LEXICON_WEIGHT = 2.0
UNSEEN_LABEL_FLOOR = 0.05
CLASS_WEIGHT_POWER = 1.0


@dataclass(frozen=True)
class Example:
    source: str
    product: str
    sub_product: str
    text: str
    line: BusinessLine
    reason: Reason
    reason_origin: str


def load_examples(csv_path: Path) -> list[Example]:
    examples = []
    with open(csv_path, newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            line = line_for_product(row["product"])
            text = row["narrative"].strip()
            if line is None or line is BusinessLine.other or not text:
                continue  # two "other" rows cannot teach a class; unknown product names are reported by tests
            reason, origin = reason_for(line, row.get("issue", ""), text)
            examples.append(
                Example(row["source"], row["product"], row.get("sub_product", ""), text, line, reason, origin)
            )
    return examples


def class_weights(labels: Sequence[str], power: float | None = None) -> dict[str, float]:
    """(n / (k × count)) ** power: 1.0 is sklearn's "balanced" (uniform prior), 0 keeps the file's prior."""
    power = CLASS_WEIGHT_POWER if power is None else power
    counts: dict[str, int] = {}
    for label in labels:
        counts[label] = counts.get(label, 0) + 1
    return {c: (len(labels) / (len(counts) * n)) ** power for c, n in counts.items()}


def _fit_head(features: Any, labels: Sequence[str]) -> LogisticRegression:
    model = LogisticRegression(C=REGULARISATION_C, class_weight=class_weights(labels), max_iter=3000)
    return model.fit(features, labels)


def _temperature(model: LogisticRegression, features: Any, labels: Sequence[str]) -> float:
    logits = model.decision_function(features)
    index = {c: i for i, c in enumerate(model.classes_)}
    known = np.array([lb in index for lb in labels])
    target = np.array([index.get(lb, 0) for lb in labels])[known]
    logits = logits[known]

    def nll(t: float) -> float:
        z = logits / t
        z = z - z.max(axis=1, keepdims=True)
        log_probs = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        return float(-log_probs[np.arange(len(target)), target].mean())

    return float(minimize_scalar(nll, bounds=(0.05, 20.0), method="bounded").x)


def _fit_all(examples: Sequence[Example]) -> tuple[TfidfVectorizer, LogisticRegression, LogisticRegression]:
    vectoriser = TfidfVectorizer(
        analyzer=analyse, min_df=2, max_features=MAX_FEATURES, sublinear_tf=True, dtype=np.float32
    )
    features = vectoriser.fit_transform([e.text for e in examples])
    return (
        vectoriser,
        _fit_head(features, [str(e.line) for e in examples]),
        _fit_head(features, [str(e.reason) for e in examples]),
    )


def train_payload(
    examples: Sequence[Example], seed: int, metadata: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Fit on 85 %, fit each head's temperature on the other 15 %, then refit on everything with it."""
    fit_part, calibration_part = train_test_split(
        list(examples), test_size=0.15, random_state=seed, stratify=[str(e.line) for e in examples]
    )
    vectoriser, line_model, reason_model = _fit_all(fit_part)
    calibration_features = vectoriser.transform([e.text for e in calibration_part])
    line_t = _temperature(line_model, calibration_features, [str(e.line) for e in calibration_part])
    reason_t = _temperature(reason_model, calibration_features, [str(e.reason) for e in calibration_part])
    vectoriser, line_model, reason_model = _fit_all(examples)
    vocabulary = [term for term, _ in sorted(vectoriser.vocabulary_.items(), key=lambda kv: kv[1])]

    def head(model: LogisticRegression, temperature: float, lexicon_weight: float) -> dict[str, Any]:
        return {
            "classes": [str(c) for c in model.classes_],
            "coef": model.coef_.astype(np.float32),
            "intercept": model.intercept_.astype(np.float32),
            "temperature": round(temperature, 4),
            "floor": UNSEEN_LABEL_FLOOR,
            "lexicon_weight": lexicon_weight,
        }

    return {
        "format": MODEL_FORMAT,
        "vocabulary": vocabulary,
        "idf": vectoriser.idf_.astype(np.float32),
        "line": head(line_model, line_t, LINE_LEXICON_WEIGHT),
        "reason": head(reason_model, reason_t, REASON_LEXICON_WEIGHT),
        "metadata": {"seed": seed, "examples": len(examples), **(metadata or {})},
    }


def build_model(csv_path: Path = DEFAULT_CSV, out_path: Path = DEFAULT_MODEL_PATH, seed: int = 13) -> Path:
    examples = load_examples(csv_path)
    payload = train_payload(examples, seed, {"training_file": Path(csv_path).name})
    out_path.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump(payload, out_path, compress=3)
    return out_path


# --- evaluation ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SplitResult:
    name: str
    train_size: int
    test_size: int
    line_accuracy: float
    line_macro_f1: float
    reason_accuracy: float
    reason_macro_f1: float
    department_accuracy: float
    per_line_f1: dict[str, float]
    per_reason_f1: dict[str, float]


def _score(
    name: str, train: Sequence[Example], test: Sequence[Example], classifier: Classifier, table: RoutingTable
) -> SplitResult:
    predictions = classifier.classify_many([(e.text, None) for e in test])
    gold_lines = [str(e.line) for e in test]
    gold_reasons = [str(e.reason) for e in test]
    pred_lines = [str(p.business_line) for p in predictions]
    pred_reasons = [str(p.reason) for p in predictions]
    line_labels = sorted(set(gold_lines))
    reason_labels = sorted(set(gold_reasons))
    department_hits = sum(
        table.route(e.line, e.reason, Severity.low).department
        == table.route(p.business_line, p.reason, Severity.low).department
        for e, p in zip(test, predictions, strict=True)
    )
    per_line = f1_score(gold_lines, pred_lines, labels=line_labels, average=None, zero_division=0)
    per_reason = f1_score(gold_reasons, pred_reasons, labels=reason_labels, average=None, zero_division=0)
    return SplitResult(
        name=name,
        train_size=len(train),
        test_size=len(test),
        line_accuracy=float(np.mean([g == p for g, p in zip(gold_lines, pred_lines, strict=True)])),
        line_macro_f1=float(np.mean(per_line)),
        reason_accuracy=float(np.mean([g == p for g, p in zip(gold_reasons, pred_reasons, strict=True)])),
        reason_macro_f1=float(np.mean(per_reason)),
        department_accuracy=department_hits / len(test),
        per_line_f1=dict(zip(line_labels, map(float, per_line), strict=True)),
        per_reason_f1=dict(zip(reason_labels, map(float, per_reason), strict=True)),
    )


def _split_and_score(
    name: str, train: list[Example], test: list[Example], seed: int, table: RoutingTable
) -> SplitResult:
    classifier = Classifier(train_payload(train, seed))
    return _score(name, train, test, classifier, table)


def evaluation_splits(examples: list[Example], seed: int) -> list[tuple[str, list[Example], list[Example]]]:
    train, test = train_test_split(
        examples, test_size=0.2, random_state=seed, stratify=[str(e.line) for e in examples]
    )
    splits = [("random 80/20 (stratified by line)", train, test)]
    for source in sorted({e.source for e in examples}):
        splits.append(
            (
                f"by source: hold out {source}",
                [e for e in examples if e.source != source],
                [e for e in examples if e.source == source],
            )
        )
    newer_name = "Payday loan, title loan, personal loan, or advance loan"
    splits.append(
        (
            "by product-name era: hold out rows filed under the newer payday product name",
            [e for e in examples if e.product != newer_name],
            [e for e in examples if e.product == newer_name],
        )
    )
    for sub_product in ("Title loan", "Payday loan"):
        splits.append(
            (
                f"by sub-product: hold out {sub_product}",
                [e for e in examples if e.sub_product != sub_product],
                [e for e in examples if e.sub_product == sub_product],
            )
        )
    return splits


def evaluate_handset(classifier: Classifier, table: RoutingTable, handset: Path) -> dict[str, Any]:
    from services.router.decide import classify_record

    records = [json.loads(line) for line in handset.read_text(encoding="utf-8").splitlines() if line.strip()]
    outcome: dict[str, dict[str, list[bool]]] = {}
    misses = []
    for record in records:
        result = classify_record({"id": record["id"], "text": record["text"]}, classifier, table)
        hits = {
            "line": result["business_line"] == record["business_line"],
            "reason": result["reason"] == record["reason"],
            "department": result["department"] == record["department"],
        }
        for group in (record["lang"], "all"):
            for key, hit in hits.items():
                outcome.setdefault(group, {}).setdefault(key, []).append(hit)
        if not all(hits.values()):
            misses.append(
                (
                    record["id"],
                    record["business_line"],
                    result["business_line"],
                    record["reason"],
                    result["reason"],
                    record["department"],
                    result["department"],
                )
            )
    summary = {
        group: {k: float(np.mean(v)) for k, v in metrics.items()} | {"n": len(metrics["line"])}
        for group, metrics in outcome.items()
    }
    return {"summary": summary, "misses": misses}


def measure_speed(classifier: Classifier, texts: Sequence[str], batch: int = 256) -> float:
    """Complaints per CPU-second of this process (single-threaded), so other load on the machine does not
    skew it."""
    items = [(t, None) for t in texts]
    started = time.process_time()
    for i in range(0, len(items), batch):
        classifier.classify_many(items[i : i + batch])
    return len(items) / (time.process_time() - started)


def evaluate(
    csv_path: Path = DEFAULT_CSV,
    *,
    seed: int = 13,
    handset: Path | None = DEFAULT_HANDSET,
    report_path: Path | None = DEFAULT_REPORT,
    table: RoutingTable | None = None,
) -> str:
    """Accuracy and macro-F1 on held-out splits (random, by source, era, sub-product) and the hand set."""
    table = table or RoutingTable.load()
    examples = load_examples(csv_path)
    results = [
        _split_and_score(name, tr, te, seed, table) for name, tr, te in evaluation_splits(examples, seed)
    ]
    shipped = Classifier.load()
    speed = measure_speed(shipped, [e.text for e in examples])
    hand = evaluate_handset(shipped, table, handset) if handset and handset.exists() else None
    report = render_report(results, hand, speed, examples)
    if report_path is not None:
        report_path.write_text(report, encoding="utf-8")
    return report


def render_report(
    results: list[SplitResult], hand: dict[str, Any] | None, speed: float, examples: Sequence[Example]
) -> str:
    origins: dict[str, int] = {}
    for e in examples:
        origins[e.reason_origin] = origins.get(e.reason_origin, 0) + 1
    out = [
        "# Router classifier evaluation",
        "",
        f"Training rows used: {len(examples)}; reason labels from CFPB issue: {origins.get('issue', 0)}, "
        f"from narrative patterns: {origins.get('pattern', 0)}, line default: {origins.get('default', 0)}.",
        "Department = routing table applied to (line, reason) at low severity, gold vs predicted.",
        "",
        "| split | train | test | line acc | line macro-F1 | reason acc | reason macro-F1 | department acc |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        out.append(
            f"| {r.name} | {r.train_size} | {r.test_size} | {r.line_accuracy:.3f} | {r.line_macro_f1:.3f} "
            f"| {r.reason_accuracy:.3f} | {r.reason_macro_f1:.3f} | {r.department_accuracy:.3f} |"
        )
    first = results[0]
    out += ["", f"## Per-class F1, {first.name}", "", "| business line | F1 |", "|---|---|"]
    out += [f"| {k} | {v:.3f} |" for k, v in first.per_line_f1.items()]
    out += ["", "| reason | F1 |", "|---|---|"]
    out += [f"| {k} | {v:.3f} |" for k, v in first.per_reason_f1.items()]
    if hand:
        out += [
            "",
            "## Hand-written bilingual set (tests/router/data/handset.jsonl), shipped model",
            "",
            "| language | n | line acc | reason acc | department acc |",
            "|---|---|---|---|---|",
        ]
        for group, m in sorted(hand["summary"].items()):
            out.append(
                f"| {group} | {m['n']} | {m['line']:.3f} | {m['reason']:.3f} | {m['department']:.3f} |"
            )
    out += [
        "",
        f"Classification speed (shipped model, batches of 256, one core): {speed:,.0f} complaints/s.",
        "",
    ]
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m services.router.training")
    sub = parser.add_subparsers(dest="command", required=True)
    build = sub.add_parser("build", help="train and write the model file")
    build.add_argument("csv", nargs="?", type=Path, default=DEFAULT_CSV)
    build.add_argument("--out", type=Path, default=DEFAULT_MODEL_PATH)
    build.add_argument("--seed", type=int, default=13)
    ev = sub.add_parser("evaluate", help="held-out splits and hand set → EVALUATION.md")
    ev.add_argument("csv", nargs="?", type=Path, default=DEFAULT_CSV)
    ev.add_argument("--seed", type=int, default=13)
    ev.add_argument("--handset", type=Path, default=DEFAULT_HANDSET)
    ev.add_argument("--report", type=Path, default=DEFAULT_REPORT)
    args = parser.parse_args(argv)
    if args.command == "build":
        print(build_model(args.csv, args.out, seed=args.seed))
    else:
        print(evaluate(args.csv, seed=args.seed, handset=args.handset, report_path=args.report))


if __name__ == "__main__":
    main()
