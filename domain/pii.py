"""The one masker of personal data in free text: complaint text, department notes, reasons, follow-ups, errors.

Pure functions, no I/O. Every service masks through this module before free text reaches a topic or a log.

What is masked, in this order (each pass leaves at most four digits, so later passes never re-match a mask):

1. e-mail addresses: the local part is masked, the domain kept (``z***@example.com``);
2. PRC resident ID numbers and payment card numbers, written unbroken or grouped by single spaces or
   hyphens in any way (``110105 19491231 002X``, ``6222-0212-3456-7894``): an ID needs 18 characters, a
   plausible birth date and a valid GB 11643 (ISO 7064 MOD 11-2) check character → ``[ID ****002X]``; a
   card 13–19 digits starting with 2–6 and a valid Luhn check digit → ``[CARD ****1234]``. A run of
   grouped digits holding two numbers (a card, then a phone number) is split at its separators;
3. account numbers: 8–30 digits right after an account word (账号, 账户, 卡号, account, acct, A/C...)
   → ``[ACCOUNT ****1234]``;
4. phone numbers: mainland mobiles (``1[3-9]`` + 9 digits, with or without +86/0086, separators anywhere),
   mainland landlines with an area code, and international ``+`` numbers → ``[PHONE ****5678]``;
5. any other run of 13 or more digits, unbroken or grouped by single spaces or hyphens → ``[NUMBER ****1234]``.

Step 5 is the bank's safety net: a card number with one mistyped digit fails Luhn but is still personal
data, and so is an ID number with a wrong check character. Such numbers are not labelled CARD or ID (they
are not verified) but they are not shown in full either. The checksums decide only the label, never
whether 13+ digits are shown. Shorter numbers (amounts such as ``12,345.67``, dates ``2026-11-22 18:00``,
5-digit hotlines, complaint numbers) are left alone. Full-width digits (``６２２２``) are read as digits.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

_EMAIL_RE = re.compile(
    r"(?<![A-Za-z0-9._%+-])([A-Za-z0-9._%+-]{1,64})@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,24})\b"
)
# Digits grouped by single spaces or hyphens, optionally ending with an ID's X check character.
_GROUPED_RE = re.compile(r"(?<![0-9])[0-9](?:[ -]?[0-9]){11,}(?:[ -]?[Xx])?(?![0-9])")
_ACCOUNT_RE = re.compile(
    r"((?:账号|帳號|账户|帳戶|帐号|帐户|卡号|卡號|存折号|account(?:\s+(?:number|no\.?|#))?|acct\.?|a/c)"
    r"\s*(?:[:：#]|是|为|為|is|number|no\.?)?\s*)([0-9](?:[ -]?[0-9]){7,29})(?![0-9])",
    re.I,
)
_PHONE_RE = re.compile(
    r"(?<![0-9+])("
    r"(?:(?:\+|00)86[ -]?)?1[3-9](?:[ -]?[0-9]){9}"  # mainland mobile, separators anywhere
    r"|(?:\+|00)86[ -]?0?[1-9][0-9]{1,2}[ -]?[0-9]{7,8}"  # mainland landline, international form
    r"|\(?0[1-9][0-9]{1,2}\)?[ -][0-9]{7,8}"  # mainland landline with area code: 010-12345678
    # other international numbers; every group after the first starts with a separator or "(", so the
    # digits can be split only one way and the regex cannot backtrack through every split.
    r"|\+[1-9][0-9]{0,14}(?:[ .-]?\([0-9]{1,5}\)[0-9]{0,8}|[ .-][0-9]{1,8}){0,6}"
    r")(?![0-9])"
)
_LONG_DIGITS_RE = re.compile(r"(?<![0-9+])[0-9](?:[ -]?[0-9]){12,}(?![0-9])")
_SEPARATOR_RE = re.compile(r"[ -]")
# An id the system made: a short prefix and hex with at least one letter (never a bare run of digits).
_SYSTEM_ID_RE = re.compile(r"(?<![A-Za-z0-9_])([a-z]{2,8}_(?=[0-9a-f]*[a-f])[0-9a-f]{12,64})(?![A-Za-z0-9_])")
# Full-width digits, X and hyphen, and the ideographic space, read as their ASCII forms.
_FOLD = {cp: cp - 0xFEE0 for cp in range(0xFF10, 0xFF1A)}
_FOLD.update({0xFF38: ord("X"), 0xFF58: ord("x"), 0xFF0D: ord("-"), 0x3000: ord(" ")})
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u200b-\u200f\u202a-\u202e\u2066-\u2069]")
_MAX_GROUPED_SPLIT = 12  # groups in one run tried for a card or ID inside it (longer runs are masked whole)

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


@dataclass(frozen=True)
class Finding:
    kind: str  # email, id, card, account, phone, number
    last4: str


def last4(value: str) -> str:
    """Last four digits (or ID characters) of a number, separators ignored; '' when there are none."""
    chars = [c for c in value if "0" <= c <= "9" or c in "Xx"]
    return "".join(chars[-4:]).upper()


def digits_only(value: str) -> str:
    return "".join(c for c in value if "0" <= c <= "9")


def luhn_valid(number: str) -> bool:
    digits = digits_only(number)
    if not digits:
        return False
    total = 0
    for index, char in enumerate(reversed(digits)):
        digit = ord(char) - 48
        if index % 2:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


def resident_id_valid(value: str) -> bool:
    """18-character PRC resident ID: digits, a plausible birth date and the GB 11643 check character."""
    if len(value) != 18 or not value[:17].isascii() or not value[:17].isdigit() or value[0] == "0":
        return False
    year, month, day = int(value[6:10]), int(value[10:12]), int(value[12:14])
    if not (1900 <= year <= 2100 and 1 <= month <= 12 and 1 <= day <= 31):
        return False
    checksum = sum(int(d) * w for d, w in zip(value[:17], _ID_WEIGHTS, strict=True)) % 11
    return _ID_CHECK[checksum] == value[17].upper()


def card_valid(number: str) -> bool:
    """13–19 digits starting with 2–6 (1, 8 and 0 are how phone numbers begin) and a valid Luhn check digit."""
    if not (13 <= len(number) <= 19 and number.isascii() and number.isdigit()):
        return False
    return number[0] in "23456" and luhn_valid(number)


def _mask(kind: str, number: str) -> str:
    return f"[{kind.upper()} ****{last4(number)}]"


def _verified_kind(compact: str) -> str | None:
    if resident_id_valid(compact):
        return "id"
    if card_valid(compact):
        return "card"
    return None


def _mask_grouped(value: str, findings: list[Finding]) -> str:
    """Cards and IDs inside one run of grouped digits; the rest of the run is left to the later passes."""
    compact = _SEPARATOR_RE.sub("", value)
    kind = _verified_kind(compact)
    if kind:
        findings.append(Finding(kind, last4(compact)))
        return _mask(kind, compact)
    pieces = _SEPARATOR_RE.split(value)
    if 2 <= len(pieces) <= _MAX_GROUPED_SPLIT:
        separators = _SEPARATOR_RE.findall(value)
        found = len(findings)
        out: list[str] = []
        i = 0
        while i < len(pieces):
            for j in range(len(pieces), i, -1):  # the longest verified number starting at group i
                candidate = "".join(pieces[i:j])
                kind = _verified_kind(candidate) if 13 <= len(candidate) <= 19 else None
                if kind:
                    findings.append(Finding(kind, last4(candidate)))
                    out.append(_mask(kind, candidate))
                    i = j
                    break
            else:
                out.append(pieces[i])
                i += 1
            if i < len(pieces):
                out.append(separators[i - 1])
        if len(findings) > found:
            return "".join(out)
    if value[-1] in "Xx":  # not an ID: the X is a word of its own ("4111111111111111x2"), not a check character
        return _mask_grouped(value[:-1], findings) + value[-1] if len(value) > 1 else value
    return value


def redact_with_findings(text: str) -> tuple[str, list[Finding]]:
    """``redact`` plus what was masked (kind and last four), e.g. to fill a customer's card_last4."""
    findings: list[Finding] = []
    # The system's own ids (evt_8c7018d4162880700088108a) are kept whole: their hex can hold a run of digits.
    pieces = _SYSTEM_ID_RE.split(text)
    for index in range(0, len(pieces), 2):
        pieces[index] = _redact_piece(pieces[index], findings)
    return "".join(pieces), findings


def _redact_piece(text: str, findings: list[Finding]) -> str:

    def email(match: re.Match[str]) -> str:
        local, domain = match.group(1), match.group(2)
        findings.append(Finding("email", ""))
        return f"{local[0]}***@{domain}"

    def grouped(match: re.Match[str]) -> str:
        return _mask_grouped(match.group(0), findings)

    def account(match: re.Match[str]) -> str:
        label, value = match.group(1), match.group(2)
        findings.append(Finding("account", last4(value)))
        return label + _mask("account", value)

    def phone(match: re.Match[str]) -> str:
        value = match.group(1)
        if not 7 <= len(digits_only(value)) <= 15:
            return value
        findings.append(Finding("phone", last4(value)))
        return _mask("phone", value)

    def long_digits(match: re.Match[str]) -> str:
        findings.append(Finding("number", last4(match.group(0))))
        return _mask("number", match.group(0))

    try:
        text = text.translate(_FOLD)
        text = _EMAIL_RE.sub(email, text) if "@" in text else text
        if any("0" <= c <= "9" for c in text):
            text = _GROUPED_RE.sub(grouped, text)
            text = _ACCOUNT_RE.sub(account, text)
            text = _PHONE_RE.sub(phone, text)
            text = _LONG_DIGITS_RE.sub(long_digits, text)
        return text
    except Exception:
        # Never hand back unmasked text on an unexpected failure: mask every digit instead.
        return re.sub(r"\d", "*", text)


def redact(text: str) -> str:
    """Text with card, resident ID, phone, e-mail and account numbers masked (see the module doc)."""
    return redact_with_findings(text)[0]


def strip_controls(text: str) -> str:
    """Drop control and bidi-override characters; keep tabs and line breaks for bodies."""
    return _CONTROL_RE.sub("", unicodedata.normalize("NFC", text))


def mask_free_text(text: str | None) -> str | None:
    """Safe-to-publish version of free text someone wrote (a department's note, reason or outcome, a
    follow-up): controls dropped, personal numbers masked; None for None or blank."""
    if text is None:
        return None
    cleaned = strip_controls(text).strip()
    return redact(cleaned) if cleaned else None


def mask_details(details: dict[str, str]) -> dict[str, str]:
    """Every value of an event's free-text details masked (ids, dates and enum values pass unchanged)."""
    return {key: redact(strip_controls(value)) for key, value in details.items()}
