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

A third linear head, trained on the owning department directly, decides the department and the (line, reason)
pair is the best one routing to it (:class:`_DepartmentHead`). ``confidence`` is the calibrated probability of
that department; ``departments`` lists the most probable departments, best first, for review.
The model file is built by :func:`tools.model.training.build_model`; nothing is fetched at run time.
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
MODEL_FORMAT = 3  # 3: the department head decides the department, with a calibrated posterior
UNSEEN_LABEL_BOOST = 1.75
FULL_EVIDENCE = 20  # known features from which the department head speaks with its full weight
RANKED_DEPARTMENTS = 3  # the best department and two runner-ups

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
    return kept + list(map("{} {}".format, kept, kept[1:])) + _cjk_features(lowered)


def _cjk_features(lowered: str) -> list[str]:
    features: list[str] = []
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
    # The most probable departments (the routing table's department for a low-severity complaint), best first,
    # with their calibrated probabilities; ``confidence`` is the first one's.
    departments: tuple[tuple[str, float], ...] = ()


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


@dataclass(frozen=True)
class _DepartmentHead:
    """A linear model of the owning department, trained on the department directly; it decides the department.

        Each (line, reason) pair's department is the shipped routing table's answer at build time
        (``pair_departments``). A pair scores ``log P(line) + log P(reason) + weight × log P(department of the
        pair)``; a department's score is the log-sum of its pairs' scores, and the department posterior is their
        softmax at a temperature fitted on held-out rows (calibrated). The chosen department is the most probable
        one, and the chosen (line, reason) the best pair routing to it, so the two dimensions always agree with the
        department. A department the head never saw (digital channels, branch service, wealth) counts as one the
        head gives ``floor`` of its favourite's probability: the lexicon, through the line and reason heads, must
        speak clearly for it. The head's weight shrinks with the number of known features in the text: a text with
    none (Chinese, mostly) gets no department opinion at all.
    """

    coef: np.ndarray
    intercept: np.ndarray
    temperature: float
    weight: float
    departments: tuple[str, ...]  # the head's classes, then the departments only the routing table names
    pair_columns: np.ndarray  # (lines, reasons): column of the pair's department in ``departments``
    known_columns: int  # columns below this index are departments the model knows
    floor: float
    posterior_temperature: float

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> _DepartmentHead:
        classes = list(spec["classes"])
        extended = classes + sorted({d for row in spec["pair_departments"] for d in row} - set(classes))
        columns = np.array([[extended.index(d) for d in row] for row in spec["pair_departments"]])
        return cls(
            coef=np.asarray(spec["coef"], dtype=np.float32),
            intercept=np.asarray(spec["intercept"], dtype=np.float32),
            temperature=float(spec["temperature"]),
            weight=float(spec["weight"]),
            departments=tuple(extended),
            pair_columns=columns,
            known_columns=len(classes),
            floor=float(spec["unseen_floor"]),
            posterior_temperature=float(spec["posterior_temperature"]),
        )

    @staticmethod
    def evidence(features: sparse.csr_matrix) -> np.ndarray:
        """0 to 1 per row: how much of the text the head knows (full from FULL_EVIDENCE known features on)."""
        return np.minimum(np.diff(features.indptr) / FULL_EVIDENCE, 1.0)

    def scores(
        self, features: sparse.csr_matrix, line_probs: np.ndarray, reason_probs: np.ndarray, silent: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """The pair scores (rows × lines × reasons) and the department scores (rows × departments)."""
        logits = (features @ self.coef.T + self.intercept) / self.temperature
        logits -= logits.max(axis=1, keepdims=True)
        probs = np.exp(logits)
        probs /= probs.sum(axis=1, keepdims=True)
        # Relative to the head's favourite: the departments it knows are ranked among themselves.
        extra = len(self.departments) - self.known_columns
        relative = np.log(np.maximum(probs / probs.max(axis=1, keepdims=True), 1e-12))
        # The weight sharpens the head's ranking of the departments it knows; of the others it has no opinion,
        # so they get one fixed penalty whatever the weight.
        unseen = np.full((len(probs), extra), np.log(self.floor))
        department_log = np.concatenate([self.weight * relative, unseen], axis=1)
        # The head speaks in proportion to how much of the text it knows: fully from FULL_EVIDENCE features on,
        # not at all for a text with none (Chinese, mostly), little for a Chinese text with one English word.
        department_log *= self.evidence(features)[:, None]
        joint = np.log(line_probs)[:, :, None] + np.log(reason_probs)[:, None, :] + department_log[:, self.pair_columns]
        flat = joint.reshape(len(joint), -1)
        columns = self.pair_columns.reshape(-1)
        department_scores = np.full((len(joint), len(self.departments)), -np.inf)
        for column in range(len(self.departments)):
            members = flat[:, columns == column]
            if members.shape[1]:
                top = members.max(axis=1, keepdims=True)
                department_scores[:, column] = top[:, 0] + np.log(np.exp(members - top).sum(axis=1))
        return joint, department_scores

    def decode(
        self, features: sparse.csr_matrix, line_probs: np.ndarray, reason_probs: np.ndarray, silent: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Line index, reason index and the calibrated department posterior of each row."""
        joint, department_scores = self.scores(features, line_probs, reason_probs, silent)
        # The temperature was fitted on texts the head knows; where it knows little or nothing (Chinese), the
        # lexicon-led line and reason probabilities stand as they are.
        temperature = 1.0 + (self.posterior_temperature - 1.0) * self.evidence(features)
        posterior = department_posterior(department_scores, temperature[:, None])
        best_department = posterior.argmax(axis=1)
        allowed = self.pair_columns[None, :, :] == best_department[:, None, None]
        best = np.where(allowed, joint, -np.inf).reshape(len(joint), -1).argmax(axis=1)
        line_index, reason_index = np.divmod(best, joint.shape[2])
        return line_index, reason_index, posterior


def department_posterior(scores: np.ndarray, temperature: float | np.ndarray) -> np.ndarray:
    z = scores / temperature
    z = z - z.max(axis=1, keepdims=True)
    probs = np.exp(z)
    return probs / probs.sum(axis=1, keepdims=True)


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
        self._department = _DepartmentHead.from_spec(payload["department"])
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
        """TF-IDF rows exactly as the training vectoriser (:func:`analyse`) made them: sublinear tf, idf, l2.

        Per text, only the words are looked up (one dictionary lookup each); word pairs are matched as pairs
        of word ids for the whole batch at once, and counting and weighting also run once per batch.
        ``words`` are ``lexicon_tokens(text.lower())`` when the caller already has them.
        """
        word_ids, unigram_columns, pair_keys, pair_columns = self._word_index
        lookup, word_lookup = self._vocabulary.get, word_ids.get
        ids: list[int] = []
        lengths = []
        cjk_columns: list[int] = []
        cjk_lengths = []
        for n, text in enumerate(texts):
            lowered = text.lower()
            kept = filterfalse(_IGNORED.__contains__, lexicon_tokens(lowered) if words is None else words[n])
            before = len(ids)
            ids.extend(map(word_lookup, kept, repeat(-1)))
            lengths.append(len(ids) - before)
            before = len(cjk_columns)
            cjk_columns.extend(map(lookup, _cjk_features(lowered), repeat(-1)))
            cjk_lengths.append(len(cjk_columns) - before)
        text_numbers = np.arange(len(texts), dtype=np.int64)
        flat = np.array(ids, dtype=np.int64)
        rows = np.repeat(text_numbers, lengths)
        unigrams = np.where(flat >= 0, unigram_columns[np.maximum(flat, 0)], -1)
        adjacent = (rows[:-1] == rows[1:]) & (flat[:-1] >= 0) & (flat[1:] >= 0)
        keys = (flat[:-1] * len(word_ids) + flat[1:])[adjacent]
        found = np.minimum(np.searchsorted(pair_keys, keys), len(pair_keys) - 1)
        is_pair = pair_keys[found] == keys
        all_rows = np.concatenate([rows, rows[:-1][adjacent][is_pair], np.repeat(text_numbers, cjk_lengths)])
        all_columns = np.concatenate([unigrams, pair_columns[found[is_pair]], np.array(cjk_columns, dtype=np.int64)])
        size = len(self._vocabulary)
        known = all_columns >= 0
        feature_keys, counts = np.unique(all_rows[known] * size + all_columns[known], return_counts=True)
        row_of, cols = np.divmod(feature_keys, size)
        weights = (1.0 + np.log(counts.astype(np.float32))) * self._idf[cols]
        norms = np.sqrt(np.bincount(row_of, weights=weights * weights, minlength=len(texts)))
        weights = (weights / np.where(norms > 0, norms, 1.0)[row_of]).astype(np.float32)
        indptr = np.concatenate(([0], np.cumsum(np.bincount(row_of, minlength=len(texts)))))
        return sparse.csr_matrix((weights, cols.astype(np.int32), indptr), shape=(len(texts), size))

    @cached_property
    def _word_index(self) -> tuple[dict[str, int], np.ndarray, np.ndarray, np.ndarray]:
        """Ids of the English words in the vocabulary's words and word pairs; each word id's column (or -1);
        the pairs as sorted ``first id × words + second id`` keys and their columns."""
        word_ids: dict[str, int] = {}
        unigrams: dict[int, int] = {}
        pairs: list[tuple[int, int, int]] = []
        for term, column in self._vocabulary.items():
            if _ANY_CJK.search(term):
                continue
            parts = [word_ids.setdefault(part, len(word_ids)) for part in term.split(" ")]
            if len(parts) == 1:
                unigrams[parts[0]] = column
            else:
                pairs.append((parts[0], parts[1], column))
        unigram_columns = np.full(max(len(word_ids), 1), -1, dtype=np.int64)
        unigram_columns[list(unigrams)] = list(unigrams.values())
        keys = np.array([a * len(word_ids) + b for a, b, _ in pairs] or [-1], dtype=np.int64)
        columns = np.array([c for _, _, c in pairs] or [-1], dtype=np.int64)
        order = np.argsort(keys)
        return word_ids, unigram_columns, keys[order], columns[order]

    def classify(self, text: str, subject: str | None = None) -> Classification:
        return self.classify_many([(text, subject)])[0]

    def classify_many(self, items: Sequence[tuple[str, str | None]], *, explain: bool = True) -> list[Classification]:
        """Classify a batch: features, both heads, lexicon scores and the strongest features are computed
        as whole-batch array operations; only the final labels and explanation strings are per text.
        ``explain=False`` leaves ``explanations`` empty, for callers that do not show them."""
        texts = [(f"{subject}\n{text}" if subject else text).lower() for text, subject in items]
        if not texts:
            return []
        words = [lexicon_tokens(text) for text in texts]
        features = self.vectorise(texts, words)
        silent = np.diff(features.indptr) == 0
        hits = [self._lexicon_hits(text, w) for text, w in zip(texts, words, strict=True)]
        line_probs = _posteriors(self._line, features, [h[0] for h in hits], silent)
        reason_probs = _posteriors(self._reason, features, [h[1] for h in hits], silent)
        line_index, reason_choice, posterior = self._department.decode(features, line_probs, reason_probs, silent)
        ranked = np.argsort(-posterior, axis=1, kind="stable")[:, :RANKED_DEPARTMENTS]
        department_names = self._department.departments
        reasons = []
        for i, index in enumerate(reason_choice):
            line = BusinessLine(self._line.labels[line_index[i]])
            reasons.append(_reconcile(line, Reason(self._reason.labels[index])))
        reason_index = np.array([self._reason.label_index[r.value] for r, _ in reasons], dtype=np.int64)
        if explain:
            line_features = self._top_features(self._line, features, line_index)
            reason_features = self._top_features(self._reason, features, reason_index)
        line_conf = line_probs[np.arange(len(texts)), line_index]
        reason_conf = reason_probs[np.arange(len(texts)), reason_index]
        results = []
        for i, (reason, reason_note) in enumerate(reasons):
            line = self._line.labels[line_index[i]]
            explanations = []
            if explain:
                line_hits, reason_hits = hits[i]
                explanations = [f"lexicon: {h.term} → {h.label}" for h in line_hits if h.label == line][:3]
                explanations += [f"lexicon: {h.term} → {h.label}" for h in reason_hits if h.label == reason][:3]
                explanations += line_features[i] + reason_features[i]
                if reason_note:
                    explanations.append(reason_note)
            departments = tuple((department_names[j], round(float(posterior[i, j]), 4)) for j in ranked[i])
            results.append(
                Classification(
                    business_line=BusinessLine(line),
                    reason=reason,
                    confidence=departments[0][1],
                    line_confidence=round(float(line_conf[i]), 4),
                    reason_confidence=round(float(reason_conf[i]), 4),
                    explanations=tuple(explanations),
                    departments=departments,
                )
            )
        return results

    def department_scores(self, texts: Sequence[str]) -> np.ndarray:
        """Uncalibrated department scores (rows × ``department_names``): the training fits their temperature."""
        lowered = [text.lower() for text in texts]
        words = [lexicon_tokens(text) for text in lowered]
        features = self.vectorise(lowered, words)
        silent = np.diff(features.indptr) == 0
        hits = [self._lexicon_hits(text, w) for text, w in zip(lowered, words, strict=True)]
        line_probs = _posteriors(self._line, features, [h[0] for h in hits], silent)
        reason_probs = _posteriors(self._reason, features, [h[1] for h in hits], silent)
        return self._department.scores(features, line_probs, reason_probs, silent)[1]

    @property
    def department_names(self) -> tuple[str, ...]:
        return self._department.departments

    def _lexicon_hits(self, lowered: str, words: list[str] | None) -> tuple[list[LexiconHit], list[LexiconHit]]:
        line_hits: list[LexiconHit] = []
        reason_hits: list[LexiconHit] = []
        for term in self._lexicon.terms(lowered, words):
            for_line, for_reason = self._hits_of_term[term]
            line_hits += for_line
            reason_hits += for_reason
        return line_hits, reason_hits

    @cached_property
    def _hits_of_term(self) -> dict[str, tuple[list[LexiconHit], list[LexiconHit]]]:
        """Each lexicon term's hits, split by dimension once rather than for every text."""
        split: dict[str, tuple[list[LexiconHit], list[LexiconHit]]] = {}
        for hit in self._lexicon.all_hits():
            dimension, label = hit.label.split(":", 1)
            line_hits, reason_hits = split.setdefault(hit.term, ([], []))
            (line_hits if dimension == "line" else reason_hits).append(LexiconHit(hit.term, label, hit.weight))
        return split

    def _top_features(
        self, head: _Head, features: sparse.csr_matrix, label_index: np.ndarray, top: int = 2
    ) -> list[list[str]]:
        """For each row, the features that pushed hardest towards its chosen label (above 0.05)."""
        rows = np.repeat(np.arange(features.shape[0]), np.diff(features.indptr))
        model_rows = head.model_rows[label_index][rows]
        coef = head.coef[np.maximum(model_rows, 0), features.indices]
        contributions = np.where(model_rows >= 0, features.data * coef, 0.0)
        strong = np.flatnonzero(contributions > 0.05)  # few per row: sort only those
        order = strong[np.lexsort((-contributions[strong], rows[strong]))]  # by row, strongest first
        row_of = rows[order]
        row_starts = np.flatnonzero(np.r_[True, row_of[1:] != row_of[:-1]]) if len(order) else order
        rank = np.arange(len(order)) - np.repeat(row_starts, np.diff(np.r_[row_starts, len(order)]))
        out: list[list[str]] = [[] for _ in range(features.shape[0])]
        label_names = [head.labels[i] for i in label_index]
        for position in order[rank < top].tolist():
            row = rows[position]
            name = self._feature_names[features.indices[position]]
            out[row].append(f"feature: {name!r} → {label_names[row]} (+{contributions[position]:.2f})")
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
