"""PII masking on real-looking Chinese and English complaint text."""

from __future__ import annotations

import re
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.pii import card_valid, last4, luhn_valid, redact, redact_with_findings, resident_id_valid

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


# --- numbers written with spaces or hyphens; one masker for every text ----------------------------------------


@pytest.mark.parametrize(
    ("text", "mask"),
    [
        ("卡号6222021234567894及身份证11010519491231002X", "[CARD ****7894]"),
        ("卡号6222021234567894及身份证11010519491231002X", "[ID ****002X]"),
        ("身份证110105 19491231 002X，请核实", "[ID ****002X]"),
        ("ID: 110105-19491231-002X", "[ID ****002X]"),
        ("身份证 1101 0519 4912 3100 2X", "[ID ****002X]"),
        ("身份证 １１０１０５１９４９１２３１００２Ｘ", "[ID ****002X]"),
        ("card 62220 21234 567894 was charged", "[CARD ****7894]"),
        ("卡 6222-0212-3456-7894 金额 100", "[CARD ****7894]"),
        ("手机 1381 234 5678", "[PHONE ****5678]"),
        ("card no.6222 0212 3456 7894please refund", "[CARD ****7894]"),
        ("ID11010519491231002Xissued in Beijing", "[ID ****002X]"),
        ("visa 4111 1111 1111 1111 x2 charges", "[CARD ****1111] x2 charges"),
    ],
)
def test_numbers_grouped_any_way_are_masked(text: str, mask: str) -> None:
    assert mask in redact(text)


def test_a_run_holding_a_card_and_a_spaced_id_masks_and_labels_both() -> None:
    assert redact("6222021234567894 110105 19491231 002X") == "[CARD ****7894] [ID ****002X]"


def test_a_run_holding_a_card_and_a_phone_masks_both() -> None:
    masked, findings = redact_with_findings("卡号 6222 0212 3456 7894 13812345678 请回电")
    assert masked == "卡号 [CARD ****7894] [PHONE ****5678] 请回电"
    assert [f.kind for f in findings] == ["card", "phone"]


def test_numbers_that_fail_their_checksum_are_still_masked_but_not_labelled() -> None:
    # One mistyped digit: not a verified card or ID, but 13+ digits are never shown in full at a bank.
    assert redact("卡号 6222 0212 3456 7895") in ("卡号 [ACCOUNT ****7895]", "卡号 [NUMBER ****7895]")
    assert redact("身份证110105 19491231 0021") == "身份证[NUMBER ****0021]"


def test_amounts_dates_hotlines_and_complaint_numbers_are_kept() -> None:
    keep = "2026-11-22 18:00 扣款 12,345.67 元，1 234 567 元，拨打95588，编号 CF-20261122-7K3Q9M，订单 2026 1122"
    assert redact(keep) == keep


def _luhn_digit(body: str) -> str:
    for check in "0123456789":
        if luhn_valid(body + check):
            return check
    raise AssertionError("unreachable")


@st.composite
def cards(draw: st.DrawFn) -> str:
    length = draw(st.integers(13, 19))
    digits = draw(st.lists(st.sampled_from("0123456789"), min_size=length - 2, max_size=length - 2))
    body = draw(st.sampled_from("23456")) + "".join(digits)
    return body + _luhn_digit(body)


@st.composite
def resident_ids(draw: st.DrawFn) -> str:
    area = draw(st.integers(110000, 659999))
    born = draw(st.dates(min_value=date(1920, 1, 1), max_value=date(2020, 12, 31)))
    serial = draw(st.integers(0, 999))
    body = f"{area}{born:%Y%m%d}{serial:03d}"
    checksum = sum(int(d) * w for d, w in zip(body, (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2), strict=True))
    return body + "10X98765432"[checksum % 11]


@st.composite
def grouped(draw: st.DrawFn, number: str) -> str:
    """The number as a person may write it: unbroken, or cut anywhere by single spaces or hyphens."""
    cuts = sorted(set(draw(st.lists(st.integers(1, len(number) - 1), max_size=5))))
    separator = draw(st.sampled_from([" ", "-"]))
    pieces = [number[a:b] for a, b in zip([0, *cuts], [*cuts, len(number)], strict=True)]
    return separator.join(pieces)


_FILLER = st.text(alphabet=st.sampled_from([*"卡号身份证请核实我的被盗刷，。: ()abcXYZ元", "\n"]), max_size=12)


@settings(max_examples=300, deadline=None)
@given(data=st.data(), kind=st.sampled_from(["card", "id"]))
def test_masked_text_never_contains_a_valid_card_or_id(data: st.DataObject, kind: str) -> None:
    number = data.draw(cards() if kind == "card" else resident_ids())
    written = data.draw(grouped(number))
    text = data.draw(_FILLER) + written + data.draw(_FILLER)
    masked = redact(text)
    compact = re.sub(r"[ \-]", "", masked).upper()
    assert number.upper() not in compact
    assert "****" in masked


@settings(max_examples=200, deadline=None)
@given(text=st.text(alphabet=st.sampled_from(list("0123456789 -Xx卡号，。a")), max_size=80))
def test_no_valid_card_or_id_survives_in_any_digit_soup(text: str) -> None:
    masked = redact(text)
    for run in re.findall(r"[0-9Xx](?:[ \-]?[0-9Xx])*", masked):
        compact = re.sub(r"[ \-]", "", run).upper()
        for start in range(len(compact)):
            for end in range(start + 13, min(len(compact), start + 19) + 1):
                piece = compact[start:end]
                assert not (piece.isdigit() and card_valid(piece)), (text, masked)
            assert not resident_id_valid(compact[start : start + 18]), (text, masked)


def test_the_systems_own_ids_are_kept_whole_and_numbers_beside_them_masked() -> None:
    text = (
        "event evt_8c7018d4162880700088108a for cmp_249aa946a27d70f39b7fd628: ref_6222021234567894 卡号6222021234567894"
    )
    assert redact(text) == (
        "event evt_8c7018d4162880700088108a for cmp_249aa946a27d70f39b7fd628: ref_[CARD ****7894] 卡号[CARD ****7894]"
    )
