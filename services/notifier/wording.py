"""Language choice, the bank's own contact details, department names and dates as customers read them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Literal
from zoneinfo import ZoneInfo

from schemas import Department, Language
from schemas.labels import DEPARTMENT_NAMES

Locale = Literal["zh-CN", "en"]


@dataclass(frozen=True)
class BankProfile:
    """Who the messages come from and where a customer can turn. Defaults suit a mainland China bank."""

    name_zh: str = "本行"
    name_en: str = "the Bank"
    team_zh: str = "客户服务中心"
    team_en: str = "Customer Care Team"
    sms_signature_zh: str = "【客户服务】"
    sms_signature_en: str = "Customer Care:"
    service_phone: str | None = None
    regulator_zh: str = "国家金融监督管理总局"
    regulator_en: str = "National Financial Regulatory Administration"
    regulator_phone: str | None = "12378"
    website: str | None = None


DEFAULT_BANK = BankProfile()


_ZONE_LABELS: dict[str, tuple[str, str]] = {
    "Asia/Shanghai": ("北京时间", "Beijing time"),
    "Asia/Chongqing": ("北京时间", "Beijing time"),
    "Asia/Harbin": ("北京时间", "Beijing time"),
    "Asia/Urumqi": ("乌鲁木齐时间", "Urumqi time"),
    "Asia/Hong_Kong": ("香港时间", "Hong Kong time"),
    "Asia/Macau": ("澳门时间", "Macau time"),
    "Asia/Taipei": ("台北时间", "Taipei time"),
    "Europe/London": ("伦敦时间", "UK time"),
}
_MONTHS_EN = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip


def locale_for(language: Language | None) -> Locale:
    return "en" if language == Language.en else "zh-CN"


def department_name(department: Department | None, locale: Locale) -> str | None:
    if department is None:
        return None
    zh, en = DEPARTMENT_NAMES[department]
    return zh if locale == "zh-CN" else en


def _utc_offset(moment: datetime) -> str:
    offset = moment.utcoffset()
    minutes = int(offset.total_seconds() // 60) if offset is not None else 0
    sign = "+" if minutes >= 0 else "-"
    hours, rest = divmod(abs(minutes), 60)
    return f"UTC{sign}{hours}" + (f":{rest:02d}" if rest else "")


def format_datetime(moment: datetime | None, locale: Locale, zone: ZoneInfo) -> str | None:
    """``北京时间2026年12月7日 23:59`` / ``7 December 2026, 23:59 Beijing time``."""
    if moment is None:
        return None
    local = moment.astimezone(zone)
    zh_label, en_label = _ZONE_LABELS.get(zone.key, ("", ""))
    offset = _utc_offset(local)
    if locale == "zh-CN":
        when = f"{local.year}年{local.month}月{local.day}日 {local:%H:%M}"
        return f"{zh_label}{when}" if zh_label else f"{when}（{zone.key}，{offset}）"
    when = f"{local.day} {_MONTHS_EN[local.month - 1]} {local.year}, {local:%H:%M}"
    return f"{when} {en_label}" if en_label else f"{when} {zone.key} time ({offset})"


def parse_datetime(text: str | None) -> datetime | None:
    """An ISO 8601 timestamp from ``details``; None when missing, malformed or without a zone."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


_NAME_NOISE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u200b-\u200f\u202a-\u202e\u2066-\u2069<>\"\\]")
MAX_NAME_LENGTH = 64


def safe_display_name(name: str | None) -> str | None:
    """A customer-supplied name made safe for a header and a greeting: no control characters, line
    breaks, angle brackets or quotes, single spaces, bounded length."""
    if not name:
        return None
    cleaned = " ".join(_NAME_NOISE.sub(" ", name).split())[:MAX_NAME_LENGTH].strip()
    return cleaned or None


def format_date_short(moment: datetime | None, locale: Locale, zone: ZoneInfo) -> str | None:
    """The date alone, for SMS: ``2026年12月7日`` / ``7 Dec 2026``."""
    if moment is None:
        return None
    local = moment.astimezone(zone)
    if locale == "zh-CN":
        return f"{local.year}年{local.month}月{local.day}日"
    return f"{local.day} {_MONTHS_EN[local.month - 1][:3]} {local.year}"
