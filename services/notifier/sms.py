"""SMS encoding and segment arithmetic (3GPP TS 23.038 / 23.040).

A message that fits the GSM 7-bit alphabet travels as GSM-7 (160 septets, or 153 per part when
concatenated, the rest being the UDH); anything else, Chinese included, travels as UCS-2 (70 UTF-16
units, or 67 per part). Characters of the GSM extension table cost two septets (escape + char), and
neither an escape pair nor a UTF-16 surrogate pair may be split across two parts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Encoding = Literal["GSM-7", "UCS-2"]

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")

GSM7_SINGLE, GSM7_MULTI = 160, 153
UCS2_SINGLE, UCS2_MULTI = 70, 67

ELLIPSIS = {"GSM-7": "...", "UCS-2": "…"}
_SENTENCE_END = re.compile(r"(?<=[。！？；!?;])|(?<=[.])\s")


@dataclass(frozen=True)
class SmsInfo:
    encoding: Encoding
    segments: int
    units: int  # septets for GSM-7, UTF-16 code units for UCS-2


def is_gsm7(text: str) -> bool:
    return all(ch in GSM7_BASIC or ch in GSM7_EXTENSION for ch in text)


def encoding_for(text: str) -> Encoding:
    return "GSM-7" if is_gsm7(text) else "UCS-2"


def _unit_costs(text: str, encoding: Encoding) -> list[int]:
    if encoding == "GSM-7":
        return [2 if ch in GSM7_EXTENSION else 1 for ch in text]
    return [2 if ord(ch) > 0xFFFF else 1 for ch in text]


def _count_parts(costs: list[int], per_part: int) -> int:
    parts, used = 1, 0
    for cost in costs:
        if used + cost > per_part:
            parts, used = parts + 1, 0
        used += cost
    return parts


def sms_info(text: str) -> SmsInfo:
    encoding = encoding_for(text)
    costs = _unit_costs(text, encoding)
    units = sum(costs)
    single, multi = (GSM7_SINGLE, GSM7_MULTI) if encoding == "GSM-7" else (UCS2_SINGLE, UCS2_MULTI)
    if units <= single:
        return SmsInfo(encoding, 1 if units else 0, units)
    return SmsInfo(encoding, _count_parts(costs, multi), units)


def fits(text: str, max_segments: int) -> bool:
    return sms_info(text).segments <= max_segments


def _sentences(text: str) -> list[str]:
    return [piece for piece in _SENTENCE_END.split(text) if piece]


def _cut_at_word(text: str, max_segments: int, ellipsis: str) -> str:
    """Longest prefix plus ellipsis that fits, preferring to end at a space for Latin text."""
    low, high = 0, len(text)
    while low < high:
        mid = (low + high + 1) // 2
        if fits(text[:mid].rstrip() + ellipsis, max_segments):
            low = mid
        else:
            high = mid - 1
    prefix = text[:low]
    space = prefix.rfind(" ")
    if low < len(text) and space > low * 0.6:
        prefix = prefix[:space]
    return prefix.rstrip(" ,;:，、") + ellipsis


def fit_sms(text: str, max_segments: int = 3) -> str:
    """Shorten ``text`` to at most ``max_segments`` parts.

    Whole trailing sentences go first, so what remains reads as complete sentences; only when the
    first sentence alone is too long is it cut (at a word boundary for Latin text) with an ellipsis
    that does not change the encoding.
    """
    if max_segments < 1:
        raise ValueError("max_segments must be at least 1")
    text = text.strip()
    if fits(text, max_segments):
        return text
    kept = ""
    for sentence in _sentences(text):
        candidate = (kept + " " + sentence.strip()) if kept and kept[-1] in ".!?;" else kept + sentence.strip()
        if not fits(candidate, max_segments):
            break
        kept = candidate
    if kept:
        return kept
    return _cut_at_word(text, max_segments, ELLIPSIS[encoding_for(text)])
