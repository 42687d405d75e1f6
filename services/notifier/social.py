"""Reply suggestions for the social media team (``notifications.social``).

A public reply must never carry personal details, so the suggestion holds only the complaint
number and an invitation to continue by private message; the social team posts it, or not.
A complaint that came as a direct message (not public) is answered in that private conversation
(``visibility: direct_message``), with wording for a private reply.
"""

from __future__ import annotations

from typing import Any

from schemas import ComplaintEvent, EventKind
from services.notifier.wording import Locale, locale_for

SUGGESTION_KIND = "social_reply_suggestion"
SUGGESTION_VERSION = 1

_TEXTS: dict[Locale, dict[str, str]] = {
    "zh-CN": {
        "received": "您好，您反映的问题我们已收到并登记（投诉编号 {number}）。"
        "为保护您的隐私，请勿在公开评论中留下卡号、证件号等信息，请私信我们，我们会尽快与您联系。",
        "progress": "您好，您的投诉（编号 {number}）正在处理中。"
        "如需补充情况或了解进展，请私信我们，请勿在公开评论中留下个人信息。",
        "done": "您好，关于您的投诉（编号 {number}），我们已通过私信渠道告知处理结果。如有疑问，欢迎私信我们。",
        "apology": "您好，很抱歉您的投诉（编号 {number}）未能按期答复，我们正在加紧处理，请私信我们了解进展。",
    },
    "en": {
        "received": "Hi, we have logged your complaint (ref {number}). To protect your privacy please "
        "don't post card, account or ID details here - send us a private message and we will be in touch.",
        "progress": "Hi, your complaint (ref {number}) is being looked into. Please send us a private "
        "message if you have more to add or want an update.",
        "done": "Hi, we have sent you our response on your complaint (ref {number}) privately. Please "
        "send us a private message if you have any questions.",
        "apology": "Hi, we are sorry we have not answered your complaint (ref {number}) in time. We are "
        "working on it - please send us a private message for an update.",
    },
}
# Answers in the customer's private conversation: still only the complaint number, nothing personal (the
# social team sends them from the bank's account, where the platform keeps them).
_PRIVATE_TEXTS: dict[Locale, dict[str, str]] = {
    "zh-CN": {
        "received": "您好，您反映的问题我们已收到并登记（投诉编号 {number}），我们会尽快与您联系。",
        "progress": "您好，您的投诉（编号 {number}）正在处理中。如需补充情况，请直接回复本消息。",
        "done": "您好，您的投诉（编号 {number}）已有处理结果，我们已另行告知。如有疑问，请直接回复本消息。",
        "apology": "您好，很抱歉您的投诉（编号 {number}）未能按期答复，我们正在加紧处理，"
        "如需了解进展请直接回复本消息。",
    },
    "en": {
        "received": "Hi, we have logged your complaint (ref {number}) and will be in touch soon.",
        "progress": "Hi, your complaint (ref {number}) is being looked into. Just reply to this message if you "
        "have more to add.",
        "done": "Hi, we have a response on your complaint (ref {number}) and have sent it to you. Just reply to "
        "this message if you have any questions.",
        "apology": "Hi, we are sorry we have not answered your complaint (ref {number}) in time. We are working "
        "on it - reply to this message for an update.",
    },
}
PUBLIC_REPLY = "public_reply"
DIRECT_MESSAGE = "direct_message"
_STAGE: dict[EventKind, str] = {
    EventKind.acknowledged: "received",
    EventKind.resolved: "done",
    EventKind.rejected: "done",
    EventKind.closed: "done",
    EventKind.sla_breach_apology: "apology",
}


def reply_suggestion(event: ComplaintEvent) -> dict[str, Any]:
    """JSON-able suggestion for one event: where to answer and the public, impersonal text to post."""
    customer = event.customer
    locale = locale_for(event.language)
    stage = _STAGE.get(event.kind, "progress")
    private = event.details.get("social_visibility") == "private"
    texts = _PRIVATE_TEXTS if private else _TEXTS
    return {
        "kind": SUGGESTION_KIND,
        "version": SUGGESTION_VERSION,
        "event_id": event.event_id,
        "event_kind": event.kind.value,
        "complaint_id": event.complaint_id,
        "complaint_number": event.complaint_number,
        "platform": customer.social_platform if customer else None,
        "handle": customer.social_handle if customer else None,
        "language": locale,
        "visibility": DIRECT_MESSAGE if private else PUBLIC_REPLY,
        "suggested_text": texts[locale][stage].format(number=event.complaint_number),
        "occurred_at": event.occurred_at.isoformat(),
    }
