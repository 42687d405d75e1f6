"""Bilingual product and reason vocabulary: what the domain knows that the training file does not.

The training file is English and US-only and barely holds card, deposit, transfer, wealth or digital-channel
complaints; Chinese complaints share no features with it at all. These terms carry that knowledge. Each term
has a weight (1.0 = a clear product or reason word, lower for words that are suggestive but shared). Chinese
terms match as substrings (no word segmentation needed); English terms match on word boundaries,
case-insensitively, so "ATM" and "atm" are the same term.

The terms live in ``lexicon.json`` next to this module (``lines``: business line -> {term: weight}, ``reasons``:
reason -> {term: weight}), read once at import; this module is the matcher.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import NamedTuple

from schemas import BusinessLine, Reason

_DATA_FILE = Path(__file__).with_name("lexicon.json")


def _load_tables() -> tuple[Mapping[BusinessLine, Mapping[str, float]], Mapping[Reason, Mapping[str, float]]]:
    """The two term tables of ``lexicon.json``: business line → {term: weight}, reason → {term: weight}."""
    data = json.loads(_DATA_FILE.read_text(encoding="utf-8"))
    lines = {
        BusinessLine(label): {term: float(w) for term, w in terms.items()} for label, terms in data["lines"].items()
    }
    reasons = {Reason(label): {term: float(w) for term, w in terms.items()} for label, terms in data["reasons"].items()}
    return lines, reasons


LINE_TERMS, REASON_TERMS = _load_tables()


class LexiconHit(NamedTuple):
    term: str
    label: str
    weight: float


class LexiconMatcher:
    """Finds every term of one dimension in a text: Chinese by regular expression, English by word n-gram."""

    def __init__(self, terms: Mapping[str, Mapping[str, float]]) -> None:
        self._by_term: dict[str, list[tuple[str, float]]] = {}
        for label, table in terms.items():
            for term, weight in table.items():
                key = term.lower() if _has_cjk(term) else " ".join(_TOKEN.findall(term.lower()))
                self._by_term.setdefault(key, []).append((str(label), weight))
        cjk = sorted((t for t in self._by_term if _has_cjk(t)), key=len, reverse=True)
        # Longest-first alternation hides nested terms ("暴力催收" hides "催收"): each term knows its nested ones.
        self._cjk_nested = {t: frozenset(u for u in self._by_term if len(u) < len(t) and u in t) for t in cjk}
        self._cjk = re.compile("|".join(map(re.escape, cjk))) if cjk else None
        # English terms are looked up by word: set intersections and substring tests run in C, a large
        # regular-expression alternation does not.
        latin = [t for t in self._by_term if not _has_cjk(t)]
        self._single_words = frozenset(t for t in latin if " " not in t)
        # Phrases by their first word, with their other words: a phrase whose words are not all in the text
        # is ruled out by set lookups before any substring test.
        self._phrases_by_first: dict[str, list[tuple[str, frozenset[str]]]] = {}
        for phrase in (t for t in latin if " " in t):
            first, *rest = phrase.split()
            self._phrases_by_first.setdefault(first, []).append((f" {phrase} ", frozenset(rest)))

    def hits(self, lowered_text: str, tokens: list[str] | None = None) -> list[LexiconHit]:
        """Terms found in an already lower-cased text; pass ``tokens`` (:func:`tokens`) to share the work."""
        return [
            LexiconHit(term, label, weight)
            for term in self.terms(lowered_text, tokens)
            for label, weight in self._by_term[term]
        ]

    def all_hits(self) -> list[LexiconHit]:
        """Every (term, label, weight) of the vocabulary."""
        return [LexiconHit(term, label, weight) for term, pairs in self._by_term.items() for label, weight in pairs]

    def terms(self, lowered_text: str, tokens: list[str] | None = None) -> list[str]:
        """The vocabulary terms found in an already lower-cased text, sorted."""
        found: set[str] = set()
        if self._cjk is not None and _ANY_CJK.search(lowered_text):
            found.update(self._cjk_terms(lowered_text))
        if tokens is None:
            tokens = _TOKEN.findall(lowered_text)
        present = set(tokens)
        found.update(self._single_words & present)
        first_words = present.intersection(self._phrases_by_first)
        candidates = [
            padded for w in first_words for padded, rest in self._phrases_by_first[w] if rest.issubset(present)
        ]
        if candidates:
            joined = f" {' '.join(tokens)} "
            found.update(padded[1:-1] for padded in candidates if padded in joined)
        return sorted(found)

    def _cjk_terms(self, text: str) -> set[str]:
        assert self._cjk is not None
        terms: set[str] = set()
        for span in self._cjk.findall(text):
            terms.add(span)
            terms.update(self._cjk_nested[span])
        return terms


# Words of two or more letters; apostrophes, hyphens and digits split or drop on both sides alike, so
# "cashier's check" is looked up as "cashier check" and "two-factor" as "two factor".
_TOKEN = re.compile(r"[a-z]{2,}")
_ANY_CJK = re.compile(r"[\u4e00-\u9fff]")


# Every byte but a-z becomes a space (UTF-8 bytes of other scripts too): translate and split run in C and
# give exactly ``_TOKEN.findall`` once one-letter words are dropped, about a third faster on long texts.
_LETTERS_ONLY = bytes(b if 97 <= b <= 122 else 32 for b in range(256))


def tokens(lowered_text: str) -> list[str]:
    """Words of two or more letters a-z, as ``_TOKEN.findall(lowered_text)``."""
    letters = lowered_text.encode("utf-8", "surrogatepass").translate(_LETTERS_ONLY).decode("ascii")
    return [w for w in letters.split() if len(w) > 1]


def _has_cjk(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


def combined_matcher() -> LexiconMatcher:
    """Both dimensions in one pass; labels are ``line:<business line>`` and ``reason:<reason>``."""
    return LexiconMatcher(
        {
            **{f"line:{k}": v for k, v in LINE_TERMS.items()},
            **{f"reason:{k}": v for k, v in REASON_TERMS.items()},
        }
    )
