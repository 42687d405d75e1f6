"""Request models of the JSON channels (web form, hotline transcript, social post, inbound SMS).

Unknown fields are refused (``extra="forbid"``) so a client's typo is caught rather than silently
ignored. Error messages name the field and the rule, never echo the value (it may be personal data).

Social platforms: known names and their common spellings (``Twitter``, ``微博``, ``WeChat``...) map
to one canonical name; an unknown platform is **rejected** with the list of accepted names. An
adapter for a platform not listed sends ``"other"`` explicitly, so a misspelt platform never
slips through as "other" and skews the reach reports.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from pydantic import (
    AliasChoices,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from services.intake.contacts import normalize_email_address, to_e164

MAX_AMOUNT = Decimal("100000000000")  # 1e11, well beyond any retail complaint
_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:@\-]{0,127}$"
_TIMESTAMP_RE = re.compile(r"^(?:(\d{1,2}):)?(\d{1,2}):(\d{1,2}(?:\.\d+)?)$")

EARLIEST_EVENT = datetime(2000, 1, 1, tzinfo=UTC)
CLOCK_SKEW = timedelta(days=1)


def plausible_time(value: datetime | None) -> datetime | None:
    """A call or post time must be real: not before 2000 nor more than a day ahead of this clock (a year-9999 date
    cannot even be converted to UTC everywhere, and would break every deadline computed from it)."""
    if value is None:
        return None
    try:
        in_utc = value.astimezone(UTC)
        real = EARLIEST_EVENT <= in_utc <= datetime.now(UTC) + CLOCK_SKEW
    except (OverflowError, ValueError):
        real = False
    if not real:
        raise ValueError("must be a real time: not before 2000 and not in the future")
    return value


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


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)


def _last4_field(value: Any, what: str) -> str | None:
    if value is None or value == "":
        return None
    text = str(value).replace(" ", "").replace("-", "")
    digits = sum(c.isdigit() for c in text)
    if digits >= 8:
        raise ValueError(f"enter only the last 4 digits of the {what}, never the full number")
    if len(text) != 4 or not text.isdigit():
        raise ValueError(f"must be exactly the last 4 digits of the {what}")
    return text


class WebformSubmission(_Request):
    """What the complaint form on the website and in the app posts."""

    submission_id: str | None = Field(default=None, pattern=_ID_PATTERN, description="Client idempotency key")
    name: str = Field(min_length=1, max_length=100)
    phone: str | None = Field(default=None, max_length=40, description="Normalised to E.164 (default region CN)")
    email: str | None = Field(default=None, max_length=254)
    customer_id: str | None = Field(default=None, max_length=64, pattern=r"^[A-Za-z0-9_\-]+$")
    card_last4: str | None = None
    account_last4: str | None = None
    product: str | None = Field(default=None, max_length=200)
    subject: str | None = Field(default=None, max_length=200)
    description: str = Field(min_length=10, max_length=5000)
    amount: Decimal | None = Field(default=None, ge=0, le=MAX_AMOUNT, decimal_places=2)
    currency: str = Field(default="CNY", min_length=3, max_length=3)
    preferred_contact: Literal["email", "sms", "phone"] | None = None
    language: Literal["zh", "en"] | None = None
    timezone: str | None = Field(default=None, max_length=64, description="IANA name, e.g. Asia/Shanghai")
    consent: bool

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        if not value:
            return None
        e164 = to_e164(value, "CN")
        if e164 is None:
            raise ValueError("is not a valid phone number (a mainland mobile such as 13812345678, or +country code)")
        return e164

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if not value:
            return None
        address = normalize_email_address(value)
        if address is None:
            raise ValueError("is not a valid e-mail address")
        return address

    @field_validator("card_last4", mode="before")
    @classmethod
    def _card_last4(cls, value: Any) -> str | None:
        return _last4_field(value, "card")

    @field_validator("account_last4", mode="before")
    @classmethod
    def _account_last4(cls, value: Any) -> str | None:
        return _last4_field(value, "account")

    @field_validator("currency", mode="before")
    @classmethod
    def _currency(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.strip().upper()
            value = {"RMB": "CNY", "元": "CNY", "人民币": "CNY", "$": "USD", "US$": "USD"}.get(value, value)
            if not re.fullmatch(r"[A-Z]{3}", value):
                raise ValueError("must be a 3-letter ISO 4217 code such as CNY or USD")
        return value

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str | None) -> str | None:
        if not value:
            return None
        try:
            ZoneInfo(value)
        except Exception:
            raise ValueError("is not a known IANA time zone such as Asia/Shanghai") from None
        return value

    @field_validator("consent")
    @classmethod
    def _consent(cls, value: bool) -> bool:
        if value is not True:
            raise ValueError("must be true: we need consent to process the personal data in a complaint")
        return value

    @model_validator(mode="after")
    def _reachable(self) -> WebformSubmission:
        if not self.phone and not self.email:
            raise ValueError("give a phone number or an e-mail address so we can reply")
        if self.preferred_contact == "email" and not self.email:
            raise ValueError("preferred_contact is email but no e-mail address was given")
        if self.preferred_contact in ("sms", "phone") and not self.phone:
            raise ValueError(f"preferred_contact is {self.preferred_contact} but no phone number was given")
        return self


def _seconds(value: Any) -> Any:
    """Accept 12.5, "12.5", "01:02" (mm:ss) or "00:01:02.5" (hh:mm:ss) for turn offsets."""
    if isinstance(value, str):
        match = _TIMESTAMP_RE.match(value.strip())
        if match:
            hours, minutes, seconds = match.groups()
            return int(hours or 0) * 3600 + int(minutes) * 60 + float(seconds)
    return value


_SPEAKERS = {
    "customer": "customer", "caller": "customer", "client": "customer",
    "客户": "customer", "来电人": "customer",
    "agent": "agent", "staff": "agent", "operator": "agent", "坐席": "agent", "客服": "agent",
}  # fmt: skip


class TranscriptTurn(_Request):
    speaker: Literal["customer", "agent"]
    text: str = Field(default="", max_length=5000)
    start_s: Annotated[float, Field(ge=0, le=86_400)] | None = None
    end_s: Annotated[float, Field(ge=0, le=86_400)] | None = None
    at: AwareDatetime | None = Field(default=None, description="Absolute time of the turn, when offsets are absent")
    confidence: float | None = Field(default=None, ge=0, le=1, description="ASR confidence")

    @field_validator("speaker", mode="before")
    @classmethod
    def _speaker(cls, value: Any) -> Any:
        if isinstance(value, str):
            return _SPEAKERS.get(value.strip().lower(), value)
        return value

    @field_validator("at")
    @classmethod
    def _at(cls, value: datetime | None) -> datetime | None:
        return plausible_time(value)

    @field_validator("start_s", "end_s", mode="before")
    @classmethod
    def _offset(cls, value: Any) -> Any:
        return _seconds(value)

    @model_validator(mode="after")
    def _ordered(self) -> TranscriptTurn:
        if self.start_s is not None and self.end_s is not None and self.end_s < self.start_s:
            raise ValueError("end_s is before start_s")
        return self


class HotlineTranscript(_Request):
    """A hotline call after speech recognition, as the contact-centre system exports it."""

    call_id: str = Field(pattern=_ID_PATTERN)
    caller_number: str | None = Field(default=None, max_length=40, description="None or withheld for hidden ids")
    agent_id: str | None = Field(default=None, max_length=64)
    started_at: AwareDatetime
    duration_s: float | None = Field(default=None, ge=0, le=86_400)
    turns: list[TranscriptTurn] = Field(min_length=1, max_length=2000)
    agent_summary: str | None = Field(default=None, max_length=5000)
    disposition: str | None = Field(default=None, max_length=100)
    language: Literal["zh", "en"] | None = None
    customer_name: str | None = Field(default=None, max_length=100)
    customer_id: str | None = Field(default=None, max_length=64, pattern=r"^[A-Za-z0-9_\-]+$")

    @field_validator("started_at")
    @classmethod
    def _started_at(cls, value: datetime) -> datetime | None:
        return plausible_time(value)


class SocialPost(_Request):
    """A post, comment or direct message that mentions the bank, as the social listening tool sends it."""

    platform: str
    post_id: str = Field(pattern=_ID_PATTERN)
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


class InboundSms(BaseModel):
    """An SMS a customer sent to the bank's number, as an SMS gateway's inbound (MO) webhook posts it.

    The field names of the common gateways are all accepted (``from``/``From``/``msisdn``/``phone_number``,
    ``text``/``Body``/``content``, ``message_id``/``MessageSid``/``sequence_id``, ``received_at``/``timestamp``/
    ``send_time``). Other fields a gateway adds (account ids, segment counts, signatures) are ignored: unlike the
    bank's own forms, the shape is the gateway's, not ours to police. A received time without a zone is the
    bank's local time; the accepting moment is used when none is given.
    """

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True, frozen=True)

    message_id: str = Field(
        pattern=_ID_PATTERN,
        validation_alias=AliasChoices("message_id", "messageId", "id", "MessageSid", "SmsSid", "sequence_id"),
    )
    sender: str = Field(
        min_length=1,
        max_length=40,
        validation_alias=AliasChoices("sender", "from", "From", "msisdn", "phone_number", "mobile"),
    )
    text: str = Field(min_length=1, max_length=2000, validation_alias=AliasChoices("text", "Body", "body", "content"))
    received_at: datetime | None = Field(
        default=None, validation_alias=AliasChoices("received_at", "receivedAt", "timestamp", "send_time")
    )
    to: str | None = Field(default=None, max_length=40, validation_alias=AliasChoices("to", "To", "dest_code"))

    @field_validator("message_id", "sender", "to", mode="before")
    @classmethod
    def _as_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


def describe_validation_error(error: ValidationError, limit: int = 6) -> str:
    """One readable line per problem ('description: String should have at least 10 characters'),
    without the offending values, for API answers and dead-letter records."""
    problems = []
    for item in error.errors(include_url=False, include_input=False)[:limit]:
        location = ".".join(str(part)[:40] for part in item.get("loc", ())) or "payload"
        message = str(item.get("msg", "invalid")).removeprefix("Value error, ")
        problems.append(f"{location}: {message}")
    more = error.error_count() - len(problems)
    if more > 0:
        problems.append(f"and {more} more")
    return "; ".join(problems)
