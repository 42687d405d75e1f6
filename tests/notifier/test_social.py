from __future__ import annotations

import json

from schemas import Channel, Customer, EventKind, Language
from services.notifier.social import reply_suggestion

from .conftest import COMPLAINT_NUMBER, EventFactory

WEIBO_FAN = Customer(
    name="张伟",
    phone="+8613812345678",
    email="zhang.wei@example.cn",
    card_last4="7890",
    social_platform="weibo",
    social_handle="@小张爱吃面",
)


def test_suggestion_invites_a_private_message_without_personal_data(make_event: EventFactory) -> None:
    suggestion = reply_suggestion(make_event(channel=Channel.social, customer=WEIBO_FAN))
    assert suggestion["platform"] == "weibo" and suggestion["handle"] == "@小张爱吃面"
    assert suggestion["complaint_number"] == COMPLAINT_NUMBER
    assert COMPLAINT_NUMBER in suggestion["suggested_text"] and "私信" in suggestion["suggested_text"]
    serialised = json.dumps(suggestion, ensure_ascii=False)
    for personal in ("张伟", "13812345678", "zhang.wei", "7890"):
        assert personal not in serialised


def test_suggestion_language_and_stage(make_event: EventFactory) -> None:
    english = reply_suggestion(make_event(EventKind.resolved, language=Language.en, customer=WEIBO_FAN))
    assert english["language"] == "en" and "private message" in english["suggested_text"]
    assert english["event_kind"] == "resolved"
    progress = reply_suggestion(make_event(EventKind.in_progress, customer=None))
    assert progress["platform"] is None and "正在处理中" in progress["suggested_text"]


def test_direct_message_is_answered_privately(make_event: EventFactory) -> None:
    private = make_event(channel=Channel.social, customer=WEIBO_FAN, details={"social_visibility": "private"})
    suggestion = reply_suggestion(private)
    assert suggestion["visibility"] == "direct_message"
    assert "私信" not in suggestion["suggested_text"] and "公开评论" not in suggestion["suggested_text"]
    assert COMPLAINT_NUMBER in suggestion["suggested_text"]
    serialised = json.dumps(suggestion, ensure_ascii=False)
    for personal in ("张伟", "13812345678", "zhang.wei", "7890"):
        assert personal not in serialised
    english = reply_suggestion(
        make_event(EventKind.need_info, language=Language.en, details={"social_visibility": "private"})
    )
    assert english["visibility"] == "direct_message" and "reply to this message" in english["suggested_text"]
    assert reply_suggestion(make_event(channel=Channel.social))["visibility"] == "public_reply"
