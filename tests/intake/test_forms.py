"""Request models of the web form, hotline and social channels."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from services.intake import samples
from services.intake.channels.hotline import HotlineTranscript
from services.intake.channels.social import SocialPost
from services.intake.channels.webform import WebformSubmission
from services.intake.forms import describe_validation_error


def _errors(model: type, payload: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(payload)
    return describe_validation_error(caught.value)


def test_english_webform_is_normalized() -> None:
    form = WebformSubmission.model_validate(samples.webform_payload_en())
    assert form.phone == "+447911123456"
    assert form.email == "daniel.okafor@example.co.uk"
    assert str(form.amount) == "1250.00" and form.currency == "USD"


def test_chinese_webform_defaults() -> None:
    form = WebformSubmission.model_validate(samples.webform_payload_zh())
    assert form.phone == "+8613912345678"
    assert form.currency == "CNY" and form.language is None and form.card_last4 == "7894"


def test_full_card_number_in_last4_field_is_refused_without_echo() -> None:
    message = _errors(WebformSubmission, {**samples.webform_payload_zh(), "card_last4": "6222 0212 3456 7894"})
    assert "card_last4: enter only the last 4 digits of the card" in message
    assert "6222" not in message
    assert "exactly the last 4 digits" in _errors(
        WebformSubmission, {**samples.webform_payload_zh(), "account_last4": "12a4"}
    )


def test_contact_rules() -> None:
    base = samples.webform_payload_zh()
    assert "give a phone number or an e-mail address" in _errors(WebformSubmission, {**base, "phone": None})
    assert "phone: is not a valid phone number" in _errors(WebformSubmission, {**base, "phone": "12345"})
    assert "email: is not a valid e-mail address" in _errors(WebformSubmission, {**base, "email": "zhao@"})
    assert "preferred_contact is email" in _errors(WebformSubmission, {**base, "preferred_contact": "email"})


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"consent": False}, "consent: must be true"),
        ({"description": "太差了"}, "description: String should have at least 10 characters"),
        ({"description": "x" * 5001}, "description: String should have at most 5000 characters"),
        ({"amount": -1}, "amount: Input should be greater than or equal to 0"),
        ({"amount": "1e15"}, "amount: Input should be less than or equal to"),
        ({"currency": "dollars"}, "currency: must be a 3-letter ISO 4217 code"),
        ({"language": "fr"}, "language: Input should be 'zh' or 'en'"),
        ({"preferred_contact": "fax"}, "preferred_contact: Input should be"),
        ({"timezone": "Mars/Olympus"}, "timezone: is not a known IANA time zone"),
        ({"nickname": "x"}, "nickname: Extra inputs are not permitted"),
    ],
)
def test_webform_field_errors(change: dict[str, Any], expected: str) -> None:
    assert expected in _errors(WebformSubmission, {**samples.webform_payload_zh(), **change})


def test_currency_aliases() -> None:
    form = WebformSubmission.model_validate({**samples.webform_payload_zh(), "amount": 300, "currency": "rmb"})
    assert form.currency == "CNY"


def test_hotline_transcript() -> None:
    call = HotlineTranscript.model_validate(samples.hotline_payload_zh())
    assert [t.speaker for t in call.turns] == ["agent", "customer", "agent", "customer"]
    assert call.started_at.utcoffset() is not None


def test_hotline_turn_aliases_and_offsets() -> None:
    payload = samples.hotline_payload_zh()
    payload["turns"] = [{"speaker": "客户", "text": "我要投诉", "start_s": "00:01:02.5", "end_s": "1:05"}]
    call = HotlineTranscript.model_validate(payload)
    assert call.turns[0].speaker == "customer"
    assert (call.turns[0].start_s, call.turns[0].end_s) == (62.5, 65.0)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"started_at": "2026-11-22T09:31:05"}, "started_at: Input should have timezone info"),
        ({"turns": []}, "turns: List should have at least 1 item"),
        ({"turns": [{"speaker": "robot", "text": "hi"}]}, "turns.0.speaker"),
        ({"turns": [{"speaker": "customer", "text": "hi", "confidence": 1.5}]}, "turns.0.confidence"),
        (
            {"turns": [{"speaker": "customer", "text": "hi", "start_s": 5, "end_s": 2}]},
            "end_s is before start_s",
        ),
        ({"call_id": "bad id with spaces"}, "call_id: String should match pattern"),
    ],
)
def test_hotline_errors(change: dict[str, Any], expected: str) -> None:
    assert expected in _errors(HotlineTranscript, {**samples.hotline_payload_zh(), **change})


def test_social_platform_aliases_and_public_flag() -> None:
    post = SocialPost.model_validate({**samples.social_payload_weibo(), "platform": "新浪微博"})
    assert post.platform == "weibo" and post.public
    assert SocialPost.model_validate({**samples.social_payload_x(), "platform": "Twitter"}).platform == "x"
    assert not SocialPost.model_validate(samples.social_payload_x()).public  # a direct message


def test_unknown_social_platform_is_rejected_with_the_accepted_list() -> None:
    message = _errors(SocialPost, {**samples.social_payload_weibo(), "platform": "myspace"})
    assert "platform: is not a supported platform; use one of:" in message and "weibo" in message
    assert SocialPost.model_validate({**samples.social_payload_weibo(), "platform": "other"}).platform == "other"


def test_social_errors() -> None:
    base = samples.social_payload_weibo()
    assert "follower_count" in _errors(SocialPost, {**base, "follower_count": -5})
    assert "url: String should match pattern" in _errors(SocialPost, {**base, "url": "javascript:alert(1)"})
    assert "text: String should have at least 1 character" in _errors(SocialPost, {**base, "text": "  "})


def test_validation_messages_are_bounded() -> None:
    payload = {f"field{i}": i for i in range(50)}
    message = _errors(SocialPost, payload)
    assert message.endswith("more") and len(message) < 1000
