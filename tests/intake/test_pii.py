"""PII masking on real-looking Chinese and English complaint text."""

from __future__ import annotations

import pytest

from services.intake.pii import last4, luhn_valid, redact, redact_with_findings, resident_id_valid

VISA = "4111111111111111"
UNIONPAY = "6222021234567894"
RESIDENT_ID = "11010519491231002X"


def test_luhn_and_resident_id_checks() -> None:
    assert luhn_valid(VISA) and luhn_valid(UNIONPAY) and luhn_valid("4111 1111 1111 1111")
    assert not luhn_valid("4111111111111112")
    assert resident_id_valid(RESIDENT_ID) and resident_id_valid(RESIDENT_ID.lower())
    assert not resident_id_valid("110105194912310021")  # wrong check character
    assert not resident_id_valid("110105194913310024")  # month 13


def test_chinese_complaint_masks_every_kind() -> None:
    text = (
        f"我的信用卡卡号{UNIONPAY}被盗刷，身份证号{RESIDENT_ID}，手机 138-1234-5678，"
        "邮箱 zhang.wei@163.com，工资账户：6217 0000 1234 5678 901，请回电010-62345678。"
    )
    masked, findings = redact_with_findings(text)
    assert "[CARD ****7894]" in masked
    assert "[ID ****002X]" in masked
    assert "[PHONE ****5678]" in masked
    assert "z***@163.com" in masked
    assert "[ACCOUNT ****8901]" in masked
    assert "[PHONE ****5678]。" in masked  # the landline
    for secret in (UNIONPAY, RESIDENT_ID, "1234-5678", "zhang.wei", "6217 0000"):
        assert secret not in masked
    assert {f.kind for f in findings} == {"card", "id", "phone", "email", "account"}


def test_english_complaint_with_grouped_card_and_international_phone() -> None:
    text = "Card 4111 1111 1111 1111 was charged twice. "
    text += "Call me on +1 (415) 555-0132 or mail john.doe@example.com"
    masked = redact(text)
    assert masked == ("Card [CARD ****1111] was charged twice. Call me on [PHONE ****0132] or mail j***@example.com")


@pytest.mark.parametrize("number", ["4111111111111112", "4111 1111 1111 1112", "6222021234567890"])
def test_numbers_failing_luhn_are_not_cards_but_still_hidden(number: str) -> None:
    masked = redact(f"卡号好像是 {number} 吧")
    assert "[CARD" not in masked
    assert number not in masked
    assert f"****{number[-4:]}]" in masked


def test_resident_id_with_bad_checksum_is_not_labelled_id() -> None:
    masked = redact("身份证 110105194912310021 是我的")
    assert "[ID" not in masked
    assert "[NUMBER ****0021]" in masked


def test_short_numbers_amounts_dates_and_complaint_numbers_are_kept() -> None:
    text = "2026-11-20 在95533查询，投诉编号 CF-20261122-7K3Q9M，金额 52,380.00 元，订单 20261120"
    assert redact(text) == text


def test_account_words_in_english() -> None:
    masked = redact("Please refund to account number is 00123456789 or acct. 9988776655")
    assert "[ACCOUNT ****6789]" in masked and "[ACCOUNT ****6655]" in masked


def test_mobile_forms() -> None:
    for phone in ("13812345678", "+8613812345678", "+86 138 1234 5678", "0086-138-1234-5678"):
        assert redact(f"电话{phone}。") == "电话[PHONE ****5678]。", phone


def test_last4() -> None:
    assert last4("6222 0212 3456 7894") == "7894"
    assert last4(RESIDENT_ID) == "002X"
    assert last4("no digits") == ""


def test_redact_never_raises_on_odd_text() -> None:
    for text in ("", "@", "@@@.com", "\x00\ud800", "1" * 10_000, "a@" * 5000):
        assert isinstance(redact(text), str)
