"""Two-dimension complaint classifier (business line, reason) for Chinese and English text.

Scoring, per dimension, is a log-linear blend of two sources of evidence:

* a linear model (TF-IDF over English words and word pairs and Chinese characters and character pairs,
  multinomial logistic regression trained with balanced class weights so the training file's product mix
  is not learnt as a prior), temperature-scaled on held-out data so its probabilities are calibrated;
* the bilingual lexicon (:mod:`services.router.lexicon`), which adds ``lexicon_weight × term weight`` to
  the log-score of each label a term points to. Labels the training file never shows (digital channels,
  wealth, staff attitude, queues ...) start from a small floor probability and are reached through the
  lexicon. A text with no known model feature (Chinese, mostly) gets a uniform model distribution, so
  the lexicon decides.

``confidence`` is the joint probability of the (line, reason) pair, ``line_confidence × reason_confidence``.
The model file is built by :func:`services.router.training.build_model`; nothing is fetched at run time.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from itertools import filterfalse, repeat
from pathlib import Path
from typing import Any

import joblib
import numpy as np
from scipy import sparse

from schemas import BusinessLine, Reason
from services.router.lexicon import LexiconHit, combined_matcher
from services.router.lexicon import tokens as lexicon_tokens

DEFAULT_MODEL_PATH = Path(__file__).parent / "model" / "classifier.joblib"
MODEL_FORMAT = 1
UNSEEN_LABEL_BOOST = 1.75

_ANY_CJK = re.compile(r"[\u4e00-\u9fff]")
_CJK_RUN = re.compile(r"[\u4e00-\u9fff]+")
# Common English words that only add noise as features (and make word pairs meaningless).
STOP_WORDS = frozenset(
    [
        "a",
        "about",
        "above",
        "after",
        "again",
        "against",
        "all",
        "am",
        "an",
        "and",
        "any",
        "are",
        "as",
        "at",
        "be",
        "because",
        "been",
        "before",
        "being",
        "below",
        "between",
        "both",
        "but",
        "by",
        "can",
        "could",
        "did",
        "do",
        "does",
        "doing",
        "down",
        "during",
        "each",
        "few",
        "for",
        "from",
        "further",
        "had",
        "has",
        "have",
        "having",
        "he",
        "her",
        "here",
        "hers",
        "herself",
        "him",
        "himself",
        "his",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "itself",
        "just",
        "me",
        "more",
        "most",
        "my",
        "myself",
        "no",
        "nor",
        "not",
        "now",
        "of",
        "off",
        "on",
        "once",
        "only",
        "or",
        "other",
        "our",
        "ours",
        "ourselves",
        "out",
        "over",
        "own",
        "same",
        "she",
        "should",
        "so",
        "some",
        "such",
        "than",
        "that",
        "the",
        "their",
        "theirs",
        "them",
        "themselves",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "through",
        "to",
        "too",
        "under",
        "until",
        "up",
        "very",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "while",
        "who",
        "whom",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
        "yours",
        "yourself",
        "also",
        "been",
        "didn",
        "don",
        "doesn",
        "isn",
        "wasn",
        "weren",
        "haven",
        "hasn",
        "couldn",
        "wouldn",
        "shouldn",
        "won",
        "can",
        "ll",
        "ve",
        "re",
    ]
)

# CFPB masks personal data as XXXX; the masks say nothing about the complaint.
_IGNORED = STOP_WORDS | {"x" * n for n in range(2, 17)}


def analyse(text: str, words: list[str] | None = None) -> list[str]:
    """Features of a text: English words and adjacent word pairs; Chinese characters and character pairs.

    ``words`` are ``lexicon_tokens(text.lower())`` when the caller already has them.
    """
    lowered = text.lower()
    # filterfalse and map keep the per-word work in C: this runs for every complaint.
    kept = list(filterfalse(_IGNORED.__contains__, lexicon_tokens(lowered) if words is None else words))
    features = kept + list(map("{} {}".format, kept, kept[1:]))
    if _ANY_CJK.search(lowered):
        for run in _CJK_RUN.findall(lowered):
            features.extend(run)
            features.extend(run[i : i + 2] for i in range(len(run) - 1))
    return features


@dataclass(frozen=True)
class Classification:
    business_line: BusinessLine
    reason: Reason
    confidence: float
    line_confidence: float
    reason_confidence: float
    explanations: tuple[str, ...]


@dataclass(frozen=True)
class _Head:
    """One dimension's linear model over the shared features, plus its lexicon."""

    labels: tuple[str, ...]  # every enum value, in a fixed order
    model_rows: np.ndarray  # for each label, its row in coef, or -1 if the model never saw it
    coef: np.ndarray  # (n_model_labels, n_features) float32
    intercept: np.ndarray
    temperature: float
    floor: float  # model probability of a label the model does not know
    lexicon_weight: float

    def model_log_probs(self, features: sparse.csr_matrix) -> np.ndarray:
        logits = (features @ self.coef.T + self.intercept) / self.temperature
        logits -= logits.max(axis=1, keepdims=True)
        probs = np.exp(logits)
        probs /= probs.sum(axis=1, keepdims=True)
        known = self.model_rows >= 0
        unknown_mass = self.floor * int((~known).sum())
        full = np.full((features.shape[0], len(self.labels)), self.floor, dtype=np.float64)
        full[:, known] = probs[:, self.model_rows[known]] * (1.0 - unknown_mass)
        # No known feature (Chinese text, mostly): no model opinion, with a slight lean to "other" so that a
        # text naming no product is not forced onto one.
        empty_rows = np.diff(features.indptr) == 0
        full[empty_rows] = self.no_evidence
        return np.log(full)

    @cached_property
    def no_evidence(self) -> np.ndarray:
        probs = np.ones(len(self.labels))
        probs[self.labels.index("other")] = 1.5
        return probs / probs.sum()

    def lexicon_score_rows(self, hits: Sequence[Sequence[LexiconHit]], silent: np.ndarray) -> np.ndarray:
        scores = np.zeros((len(hits), len(self.labels)))
        for row, row_hits in enumerate(hits):
            for hit in row_hits:
                scores[row, self.label_index[hit.label]] += hit.weight
        # Many synonyms of one label in a long text should not outvote everything else. Labels the model
        # never saw have only the lexicon to speak for them, so their terms count for more; when the model
        # is silent on the whole text, that holds for every label alike.
        boost = np.where(silent[:, None], UNSEEN_LABEL_BOOST, self.unseen_boost[None, :])
        return self.lexicon_weight * boost * np.minimum(scores, 2.5)

    @cached_property
    def label_index(self) -> dict[str, int]:
        return {label: i for i, label in enumerate(self.labels)}

    @cached_property
    def unseen_boost(self) -> np.ndarray:
        return np.where(self.model_rows < 0, UNSEEN_LABEL_BOOST, 1.0)


class Classifier:
    def __init__(self, payload: dict[str, Any]) -> None:
        if payload.get("format") != MODEL_FORMAT:
            raise ValueError(f"unsupported classifier model format {payload.get('format')!r}")
        self._vocabulary: dict[str, int] = {term: i for i, term in enumerate(payload["vocabulary"])}
        self._idf = np.asarray(payload["idf"], dtype=np.float32)
        self._feature_names: list[str] = list(payload["vocabulary"])
        self._line = self._head(payload["line"], [str(x) for x in BusinessLine])
        self._reason = self._head(payload["reason"], [str(x) for x in Reason])
        self._lexicon = combined_matcher()
        self.metadata: dict[str, Any] = dict(payload.get("metadata", {}))

    @staticmethod
    def _head(spec: dict[str, Any], labels: list[str]) -> _Head:
        model_labels = list(spec["classes"])
        rows = np.array([model_labels.index(lb) if lb in model_labels else -1 for lb in labels])
        return _Head(
            labels=tuple(labels),
            model_rows=rows,
            coef=np.asarray(spec["coef"], dtype=np.float32),
            intercept=np.asarray(spec["intercept"], dtype=np.float32),
            temperature=float(spec["temperature"]),
            floor=float(spec["floor"]),
            lexicon_weight=float(spec["lexicon_weight"]),
        )

    @classmethod
    def load(cls, path: Path | None = None) -> Classifier:
        return cls(joblib.load(path or DEFAULT_MODEL_PATH))

    def vectorise(self, texts: Sequence[str], words: Sequence[list[str]] | None = None) -> sparse.csr_matrix:
        """TF-IDF rows exactly as the training vectoriser made them (sublinear tf, idf, l2 norm).

        Only the feature lookup runs per text; counting and weighting run once for the whole batch.
        """
        lookup = self._vocabulary.get
        ids: list[int] = []
        lengths = []
        for n, text in enumerate(texts):
            before = len(ids)
            ids.extend(map(lookup, analyse(text, words[n] if words is not None else None), repeat(-1)))
            lengths.append(len(ids) - before)
        size = len(self._vocabulary)
        flat = np.array(ids, dtype=np.int64)
        rows = np.repeat(np.arange(len(texts), dtype=np.int64), lengths)
        known = flat >= 0
        keys, counts = np.unique(rows[known] * size + flat[known], return_counts=True)
        row_of, cols = np.divmod(keys, size)
        weights = (1.0 + np.log(counts.astype(np.float32))) * self._idf[cols]
        norms = np.sqrt(np.bincount(row_of, weights=weights * weights, minlength=len(texts)))
        weights = (weights / np.where(norms > 0, norms, 1.0)[row_of]).astype(np.float32)
        indptr = np.concatenate(([0], np.cumsum(np.bincount(row_of, minlength=len(texts)))))
        return sparse.csr_matrix((weights, cols.astype(np.int32), indptr), shape=(len(texts), size))

    def classify(self, text: str, subject: str | None = None) -> Classification:
        return self.classify_many([(text, subject)])[0]

    def classify_many(self, items: Sequence[tuple[str, str | None]]) -> list[Classification]:
        """Classify a batch: features, both heads, lexicon scores and the strongest features are computed
        as whole-batch array operations; only the final labels and explanation strings are per text."""
        texts = [(f"{subject}\n{text}" if subject else text).lower() for text, subject in items]
        if not texts:
            return []
        words = [lexicon_tokens(text) for text in texts]
        features = self.vectorise(texts, words)
        silent = np.diff(features.indptr) == 0
        hits = [self._lexicon_hits(text, w) for text, w in zip(texts, words, strict=True)]
        line_probs = _posteriors(self._line, features, [h[0] for h in hits], silent)
        reason_probs = _posteriors(self._reason, features, [h[1] for h in hits], silent)
        line_index = line_probs.argmax(axis=1)
        reasons = []
        for i, index in enumerate(reason_probs.argmax(axis=1)):
            line = BusinessLine(self._line.labels[line_index[i]])
            reasons.append(_reconcile(line, Reason(self._reason.labels[index])))
        reason_index = np.array([self._reason.label_index[r.value] for r, _ in reasons], dtype=np.int64)
        line_features = self._top_features(self._line, features, line_index)
        reason_features = self._top_features(self._reason, features, reason_index)
        line_conf = line_probs[np.arange(len(texts)), line_index]
        reason_conf = reason_probs[np.arange(len(texts)), reason_index]
        results = []
        for i, (reason, reason_note) in enumerate(reasons):
            line = self._line.labels[line_index[i]]
            line_hits, reason_hits = hits[i]
            explanations = [f"lexicon: {h.term} → {h.label}" for h in line_hits if h.label == line][:3]
            explanations += [f"lexicon: {h.term} → {h.label}" for h in reason_hits if h.label == reason][:3]
            explanations += line_features[i] + reason_features[i]
            if reason_note:
                explanations.append(reason_note)
            results.append(
                Classification(
                    business_line=BusinessLine(line),
                    reason=reason,
                    confidence=round(float(line_conf[i] * reason_conf[i]), 4),
                    line_confidence=round(float(line_conf[i]), 4),
                    reason_confidence=round(float(reason_conf[i]), 4),
                    explanations=tuple(explanations),
                )
            )
        return results

    def probabilities(self, text: str, subject: str | None = None) -> tuple[dict[str, float], dict[str, float]]:
        """Full line and reason distributions for one text (for evaluation and debugging)."""
        lowered = (f"{subject}\n{text}" if subject else text).lower()
        features = self.vectorise([lowered])
        silent = np.diff(features.indptr) == 0
        line_hits, reason_hits = self._lexicon_hits(lowered, None)
        line = _posteriors(self._line, features, [line_hits], silent)[0]
        reason = _posteriors(self._reason, features, [reason_hits], silent)[0]
        return (
            dict(zip(self._line.labels, map(float, line), strict=True)),
            dict(zip(self._reason.labels, map(float, reason), strict=True)),
        )

    def _lexicon_hits(
        self, lowered: str, words: list[str] | None
    ) -> tuple[list[LexiconHit], list[LexiconHit]]:
        line_hits, reason_hits = [], []
        for hit in self._lexicon.hits(lowered, words):
            dimension, label = hit.label.split(":", 1)
            target = line_hits if dimension == "line" else reason_hits
            target.append(LexiconHit(hit.term, label, hit.weight))
        return line_hits, reason_hits

    def _top_features(
        self, head: _Head, features: sparse.csr_matrix, label_index: np.ndarray, top: int = 2
    ) -> list[list[str]]:
        """For each row, the features that pushed hardest towards its chosen label (above 0.05)."""
        rows = np.repeat(np.arange(features.shape[0]), np.diff(features.indptr))
        model_rows = head.model_rows[label_index][rows]
        coef = head.coef[np.maximum(model_rows, 0), features.indices]
        contributions = np.where(model_rows >= 0, features.data * coef, 0.0)
        order = np.lexsort((-contributions, rows))  # by row, strongest first within a row
        out: list[list[str]] = [[] for _ in range(features.shape[0])]
        label_names = [head.labels[i] for i in label_index]
        for position in order[contributions[order] > 0.05]:
            row = rows[position]
            if len(out[row]) < top:
                value = contributions[position]
                name = self._feature_names[features.indices[position]]
                out[row].append(f"feature: {name!r} → {label_names[row]} (+{value:.2f})")
        return out


def _posteriors(
    head: _Head, features: sparse.csr_matrix, hits: Sequence[Sequence[LexiconHit]], silent: np.ndarray
) -> np.ndarray:
    """Rows of label probabilities: model log-probabilities plus lexicon scores, renormalised."""
    scores = head.model_log_probs(features)
    scores += head.lexicon_score_rows(hits, silent)
    scores -= scores.max(axis=1, keepdims=True)
    probs = np.exp(scores)
    return probs / probs.sum(axis=1, keepdims=True)


def _reconcile(line: BusinessLine, reason: Reason) -> tuple[Reason, str | None]:
    """Combinations the two heads may produce independently but that mean something narrower together."""
    if line is BusinessLine.debt_collection and reason in {
        Reason.service_attitude,
        Reason.staff_skill,
        Reason.queues_staffing,
        Reason.other,
    }:
        return Reason.collection_conduct, f"rule: {reason} by a debt collector → collection_conduct"
    if line is BusinessLine.credit_reporting and reason in {Reason.operational_error, Reason.other}:
        return Reason.credit_report_error, f"rule: {reason} on a credit report → credit_report_error"
    return reason, None
