from __future__ import annotations

import pytest

from services.notifier.sms import encoding_for, fit_sms, is_gsm7, sms_info


def test_gsm7_detection() -> None:
    assert is_gsm7("Your complaint CF-20261122-7K3Q9M is closed. Reply 1-5 @ £0 cost.")
    assert is_gsm7("Café Ä ö ñ ü à [ref] {x} ~ | ^ € \\")
    assert not is_gsm7("您的投诉已受理")
    assert not is_gsm7("Don’t")  # a typographic apostrophe forces UCS-2
    assert not is_gsm7("ok 👍")
    assert encoding_for("hello") == "GSM-7" and encoding_for("你好") == "UCS-2"


@pytest.mark.parametrize(
    ("text", "segments"),
    [
        ("", 0),
        ("a" * 160, 1),
        ("a" * 161, 2),
        ("a" * 306, 2),
        ("a" * 307, 3),
        ("€" * 80, 1),  # 160 septets
        ("€" * 81, 2),
        ("字" * 70, 1),
        ("字" * 71, 2),
        ("字" * 134, 2),
        ("字" * 135, 3),
    ],
)
def test_segment_counts(text: str, segments: int) -> None:
    assert sms_info(text).segments == segments


def test_extension_characters_cost_two_septets_and_are_not_split() -> None:
    info = sms_info("[" * 10 + "a" * 5)
    assert info.encoding == "GSM-7" and info.units == 25
    # 152 plain septets then an escape pair: the pair cannot straddle parts, so it opens part two.
    text = "a" * 152 + "€" + "a" * 152
    assert sms_info(text).units == 306
    assert sms_info(text).segments == 3


def test_surrogate_pairs_are_not_split() -> None:
    assert sms_info("😀").units == 2
    assert sms_info("字" * 66 + "😀" + "字" * 67).segments == 3  # 135 units, the emoji pushed into part two
    assert sms_info("字" * 68 + "😀").segments == 1


def test_fit_sms_keeps_short_text() -> None:
    text = "Customer Care: your complaint CF-20261122-7K3Q9M is closed."
    assert fit_sms(text, 1) == text


def test_fit_sms_drops_trailing_sentences_first() -> None:
    text = "Your complaint CF-20261122-7K3Q9M is closed. " + "This sentence is padding. " * 10
    fitted = fit_sms(text, 1)
    assert fitted.startswith("Your complaint CF-20261122-7K3Q9M is closed.")
    assert sms_info(fitted).segments == 1 and fitted.endswith(".")

    chinese = "您的投诉已办结。" + "感谢您对我们工作的支持与监督。" * 10
    fitted = fit_sms(chinese, 1)
    assert fitted.startswith("您的投诉已办结。") and sms_info(fitted).segments == 1 and fitted.endswith("。")


def test_fit_sms_cuts_one_long_sentence_without_changing_encoding() -> None:
    text = "We need copies of " + "statements and receipts and " * 20
    fitted = fit_sms(text, 1)
    assert fitted.endswith("...") and sms_info(fitted).segments == 1 and encoding_for(fitted) == "GSM-7"
    assert not fitted[:-3].endswith(" ")

    chinese = "请提供" + "交易凭证、" * 60
    fitted = fit_sms(chinese, 2)
    assert fitted.endswith("…") and sms_info(fitted).segments == 2


def test_fit_sms_rejects_zero_segments() -> None:
    with pytest.raises(ValueError):
        fit_sms("hello", 0)
