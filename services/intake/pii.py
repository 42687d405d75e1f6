"""Masking of personal data in complaint text.

What is masked, in this order (each pass leaves only the last four digits, so later passes never
re-match a mask):

1. e-mail addresses: the local part is masked, the domain kept (``z***@example.com``);
2. PRC resident ID numbers: 18 characters, a plausible birth date and a valid ISO 7064 MOD 11-2
   check character → ``[ID ****123X]``;
3. payment card numbers: 13–19 digits starting with 2–6, optionally grouped by spaces or dashes,
   Luhn-valid →
   ``[CARD ****1234]``;
4. account numbers: 8–30 digits right after an account word (账号, 账户, 卡号, account, acct, A/C...)
   → ``[ACCOUNT ****1234]``;
5. phone numbers: mainland mobiles (``1[3-9]`` + 9 digits, with or without +86/0086 and separators),
   mainland landlines with an area code, and international ``+`` numbers → ``[PHONE ****5678]``;
6. any other run of 13 or more digits → ``[NUMBER ****1234]``.

Step 6 is a deliberate choice: a card number with one mistyped digit fails Luhn but is still
personal data, and so is an ID number with a wrong check character. Such numbers are not labelled
CARD or ID (they are not verified) but they are not shown in full either. Shorter numbers (amounts,
dates, 5-digit hotline numbers, complaint numbers) are left alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_EMAIL_RE = re.compile(
    r"(?<![A-Za-z0-9._%+-])([A-Za-z0-9._%+-]{1,64})@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,24})\b"
)
_RESIDENT_ID_RE = re.compile(r"(?<![0-9A-Za-z])([1-9]\d{16}[0-9Xx])(?![0-9A-Za-z])")
_CARD_RE = re.compile(r"(?<![\d+-])(\d{13,19}|\d{4}(?:[ -]\d{3,6}){2,4})(?![\d])")
_ACCOUNT_RE = re.compile(
    r"((?:账号|帳號|账户|帳戶|帐号|帐户|卡号|卡號|存折号|account(?:\s+(?:number|no\.?|#))?|acct\.?|a/c)"
    r"\s*(?:[:：#]|是|为|為|is|number|no\.?)?\s*)(\d(?:[ -]?\d){7,29})(?!\d)",
    re.I,
)
_PHONE_RE = re.compile(
    r"(?<![\d+])("
    r"(?:(?:\+|00)86[ -]?)?1[3-9]\d(?:[ -]?\d{4}){2}"  # mainland mobile
    r"|(?:\+|00)86[ -]?0?[1-9]\d{1,2}[ -]?\d{7,8}"  # mainland landline, international form
    r"|\(?0[1-9]\d{1,2}\)?[ -]\d{7,8}"  # mainland landline with area code: 010-12345678
    # other international numbers; every group after the first starts with a separator or "(", so the
    # digits can be split only one way and the regex cannot backtrack through every split.
    r"|\+[1-9]\d{0,14}(?:[ .-]?\(\d{1,5}\)\d{0,8}|[ .-]\d{1,8}){0,6}"
    r")(?!\d)"
)
_LONG_DIGITS_RE = re.compile(r"(?<![\d+-])(?:\d{13,}|\d{4}(?:[ -]\d{3,6}){2,4})(?!\d)")

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


@dataclass(frozen=True)
class Finding:
    kind: str  # email, id, card, account, phone, number
    last4: str


def last4(value: str) -> str:
    """Last four digits (or ID characters) of a number, separators ignored; '' when there are none."""
    chars = [c for c in value if c.isdigit() or c in "Xx"]
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
    """18-character PRC resident ID: digits, a plausible birth date and the MOD 11-2 check character."""
    if len(value) != 18 or not value[:17].isdigit():
        return False
    year, month, day = int(value[6:10]), int(value[10:12]), int(value[12:14])
    if not (1900 <= year <= 2100 and 1 <= month <= 12 and 1 <= day <= 31):
        return False
    checksum = sum(int(d) * w for d, w in zip(value[:17], _ID_WEIGHTS, strict=True)) % 11
    return _ID_CHECK[checksum] == value[17].upper()


def _mask(kind: str, number: str) -> str:
    return f"[{kind.upper()} ****{last4(number)}]"


def redact_with_findings(text: str) -> tuple[str, list[Finding]]:
    """``redact`` plus what was masked (kind and last four), e.g. to fill a customer's card_last4."""
    findings: list[Finding] = []

    def email(match: re.Match[str]) -> str:
        local, domain = match.group(1), match.group(2)
        findings.append(Finding("email", ""))
        return f"{local[0]}***@{domain}"

    def resident_id(match: re.Match[str]) -> str:
        value = match.group(1)
        if not resident_id_valid(value):
            return value
        findings.append(Finding("id", last4(value)))
        return _mask("id", value)

    def card(match: re.Match[str]) -> str:
        value = match.group(1)
        digits = digits_only(value)
        # Payment cards start with 2-6 (Mastercard, Visa, Amex/JCB, Discover/UnionPay); 1, 8 and 0 are
        # how phone numbers written without "+" begin.
        if not 13 <= len(digits) <= 19 or digits[0] not in "23456" or not luhn_valid(digits):
            return value
        findings.append(Finding("card", last4(digits)))
        return _mask("card", digits)

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
        if len(digits_only(match.group(0))) < 13:
            return match.group(0)
        findings.append(Finding("number", last4(match.group(0))))
        return _mask("number", match.group(0))

    try:
        text = _EMAIL_RE.sub(email, text) if "@" in text else text
        if any(c.isdigit() for c in text):
            text = _RESIDENT_ID_RE.sub(resident_id, text)
            text = _CARD_RE.sub(card, text)
            text = _ACCOUNT_RE.sub(account, text)
            text = _PHONE_RE.sub(phone, text)
            text = _LONG_DIGITS_RE.sub(long_digits, text)
        return text, findings
    except Exception:
        # Never hand back unmasked text on an unexpected failure: mask every digit instead.
        return re.sub(r"\d", "*", text), findings


def redact(text: str) -> str:
    """Text with card, resident ID, phone, e-mail and account numbers masked (see the module doc)."""
    return redact_with_findings(text)[0]
