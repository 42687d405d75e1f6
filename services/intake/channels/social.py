"""Social media posts, comments and direct messages from the social listening tool: ``POST /api/v1/intake/social``,
keyed by platform and post id. Answered by a public reply suggestion inviting a private message (and directly
when the customer gave a contact).

Platforms: known names and their common spellings (``Twitter``, ``微博``, ``WeChat``...) map to one canonical name;
an unknown platform is **rejected** with the list of accepted names. An adapter for a platform not listed sends
``"other"`` explicitly, so a misspelt platform never slips through as "other" and skews the reach reports."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import AwareDatetime, Field, field_validator

from domain import pii
from domain.amounts import extract_amount
from domain.message_ids import social_message_id
from schemas import (
    ContactChannel,
    Customer,
    SocialDetails,
    shipped_channel,
)
from services.intake.channels.base import (
    ChannelSpec,
    Context,
    HttpDoor,
    Normalized,
    NormalizeResult,
    Rejected,
    build_complaint,
    clean,
    offset_name,
    validated_payload,
)
from services.intake.forms import ID_PATTERN, Request, plausible_time
from services.intake.text import neutralise_markup

PLATFORM_ALIASES: dict[str, str] = {
    "weibo": "weibo", "sina_weibo": "weibo", "sina weibo": "weibo", "微博": "weibo", "新浪微博": "weibo",
    "wechat": "wechat", "weixin": "wechat", "微信": "wechat",
    "x": "x", "twitter": "x", "x.com": "x",
    "facebook": "facebook", "fb": "facebook",
    "douyin": "douyin", "抖音": "douyin",
    "tiktok": "tiktok",
    "xiaohongshu": "xiaohongshu", "rednote": "xiaohongshu", "red": "xiaohongshu", "小红书": "xiaohongshu",
    "instagram": "instagram",
    "linkedin": "linkedin",
    "zhihu": "zhihu", "知乎": "zhihu",
    "heimao": "heimao", "黑猫投诉": "heimao",
    "other": "other",
}  # fmt: skip
PLATFORMS = tuple(sorted(set(PLATFORM_ALIASES.values())))


class SocialPost(Request):
    """A post, comment or direct message that mentions the bank, as the social listening tool sends it."""

    platform: str
    post_id: str = Field(pattern=ID_PATTERN)
    author_handle: str = Field(min_length=1, max_length=100)
    author_display_name: str | None = Field(default=None, max_length=100)
    follower_count: int = Field(default=0, ge=0, le=10_000_000_000)
    text: str = Field(min_length=1, max_length=10_000)
    url: str | None = Field(default=None, max_length=2048, pattern=r"^https?://\S+$")
    created_at: AwareDatetime | None = None
    is_public: bool = True
    repost_count: int = Field(default=0, ge=0, le=10_000_000_000)
    like_count: int = Field(default=0, ge=0, le=10_000_000_000)
    is_direct_message: bool = False

    @field_validator("platform", mode="before")
    @classmethod
    def _platform(cls, value: Any) -> str:
        if not isinstance(value, str) or value.strip().lower() not in PLATFORM_ALIASES:
            raise ValueError(f"is not a supported platform; use one of: {', '.join(PLATFORMS)}")
        return PLATFORM_ALIASES[value.strip().lower()]

    @field_validator("created_at")
    @classmethod
    def _created_at(cls, value: datetime | None) -> datetime | None:
        return plausible_time(value)

    @property
    def public(self) -> bool:
        return self.is_public and not self.is_direct_message


def normalize(context: Context) -> NormalizeResult:
    post = validated_payload(context, SocialPost, "social post")
    if isinstance(post, Rejected):
        return post
    text = clean(neutralise_markup(post.text))
    if not text:
        return Rejected("empty complaint text", "empty_text")
    redacted_text = pii.redact(text)
    customer = Customer(
        name=clean(neutralise_markup(post.author_display_name or ""), 100) or None,
        social_platform=post.platform,
        social_handle=post.author_handle,
        preferred_contact=ContactChannel.social,
    )
    complaint = build_complaint(
        context,
        text=text,
        redacted_text=redacted_text,
        customer=customer,
        amount=extract_amount(text),
        # Not public is private: a message sent with is_public false is a direct message, answered privately.
        flags=["public_post"] if post.public else ["direct_message"],
        source_timezone=offset_name(post.created_at),
        social=SocialDetails(
            platform=post.platform,
            post_id=post.post_id,
            url=post.url,
            public=post.public,
            followers=post.follower_count,
            reposts=post.repost_count,
            likes=post.like_count,
        ),
    )
    return Normalized(complaint=complaint)


SPEC = ChannelSpec(
    info=shipped_channel("social"),
    normalize=normalize,
    payload_model=SocialPost,
    message_id=lambda post, _: social_message_id(post.platform, post.post_id),
    http=HttpDoor("/api/v1/intake/social"),
)
