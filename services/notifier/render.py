"""Customer messages from a ``ComplaintEvent``: the e-mail (plain text + HTML) and the SMS text.

Pure: no I/O besides reading the bundled templates. Templates see an explicit context built here,
never the customer record itself, so only last-4 fields, the complaint number and masked free text
can ever reach a message.
"""

from __future__ import annotations

import email.policy
import email.utils
import random
import re
import sys
from dataclasses import dataclass
from datetime import datetime
from email.errors import HeaderDefect
from email.headerregistry import Address, BaseHeader, HeaderRegistry
from email.message import EmailMessage
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined, Template, select_autoescape
from markupsafe import Markup, escape

from schemas import CUSTOMER_FACING_EVENTS, ComplaintEvent, Customer, EventKind, Severity
from services.notifier.channels import usable_email
from services.notifier.masking import mask_free_text, strip_controls
from services.notifier.quiet_hours import zone_or_default
from services.notifier.sms import Encoding, fit_sms, fits, is_gsm7, sms_info
from services.notifier.wording import (
    DEFAULT_BANK,
    BankProfile,
    Locale,
    department_name,
    format_date_short,
    format_datetime,
    locale_for,
    parse_datetime,
    safe_display_name,
)

TEMPLATE_DIR = Path(__file__).parent / "templates"
DEFAULT_SMS_SEGMENTS = 3
_FREE_TEXT_KEYS = ("note", "reason", "outcome")
_ID_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
_DOMAIN = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$")
_MSG_ID = re.compile(r"^<[^<>\s@]+@[^<>\s@]+>$")
_TRAILING_PUNCTUATION = "。.！!；;，,：: "


class _HeaderClasses(HeaderRegistry):
    """The stdlib registry builds a new header class on every lookup, several times per header set; the classes
    never change, so each is built once."""

    def __init__(self) -> None:
        super().__init__()
        self._classes: dict[str, type[BaseHeader]] = {}

    def map_to_type(self, name: str, cls: type[BaseHeader]) -> None:
        super().map_to_type(name, cls)
        self._classes.clear()

    def __getitem__(self, name: str) -> type[BaseHeader]:
        key = name.lower()
        cls = self._classes.get(key)
        if cls is None:
            cls = self._classes[key] = super().__getitem__(name)
        return cls


# email.policy.default, with header classes built once.
EMAIL_POLICY = email.policy.default.clone(header_factory=_HeaderClasses())
_BOUNDARY_DIGITS = len(repr(sys.maxsize - 1))


@lru_cache(maxsize=256)
def _fixed_header(name: str, value: str) -> BaseHeader:
    """Headers whose value is the same in many messages (sender, reply address, flags) are parsed once.
    Header objects are immutable, so messages can share them."""
    return EMAIL_POLICY.header_factory(name, value)  # type: ignore[no-any-return]


def _boundary(*parts: str) -> str:
    """A MIME boundary in the stdlib's form, chosen here rather than by the serialiser, which would otherwise
    compile a regular expression for each new boundary and re-parse the Content-Type to set it."""
    while True:
        boundary = f"{'=' * 15}{random.randrange(sys.maxsize):0{_BOUNDARY_DIGITS}d}=="
        # Parts go out as text, base64 or quoted-printable; only text can hold the boundary (base64 has no
        # "-", quoted-printable encodes "="), and then only if the raw text already does.
        if not any(boundary in part for part in parts):
            return boundary


class InvalidRecipient(ValueError):
    """The customer's address cannot be used in a message; retrying will not help."""


@dataclass(frozen=True)
class RenderedEmail:
    message: EmailMessage
    message_id: str
    subject: str
    locale: Locale


@dataclass(frozen=True)
class RenderedSms:
    text: str
    segments: int
    encoding: Encoding


def _nl2br(value: object) -> Markup:
    return Markup("<br>\n").join(escape(line) for line in str(value).splitlines())


@lru_cache(maxsize=1)
def template_environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATE_DIR),
        auto_reload=False,  # the templates ship with the code; no stat() of each file per message
        autoescape=select_autoescape(enabled_extensions=("html.j2", "html"), default_for_string=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["nl2br"] = _nl2br
    return env


def _render_block(template: Template, block: str, context: dict[str, Any]) -> str:
    return "".join(template.blocks[block](template.new_context(context))).strip()


def _last4(value: str | None) -> str | None:
    digits = re.sub(r"\D", "", value or "")
    return digits[-4:] if len(digits) >= 4 else None


def _require_customer_facing(event: ComplaintEvent) -> None:
    if event.kind not in CUSTOMER_FACING_EVENTS:
        raise ValueError(f"{event.kind.value} events are not sent to customers")


def message_context(event: ComplaintEvent, locale: Locale, zone: ZoneInfo, bank: BankProfile) -> dict[str, Any]:
    """Everything a template may show. Free text is masked here, once, for every channel."""
    customer = event.customer or Customer()
    details = event.details
    new_deadline_at = parse_datetime(details.get("new_deadline"))
    if new_deadline_at is None and event.kind == EventKind.extended:
        new_deadline_at = event.deadline
    previous_at = parse_datetime(details.get("previous_deadline"))
    missed_at = previous_at or (event.deadline if event.kind == EventKind.sla_breach_apology else None)
    return {
        "locale": locale,
        "number": " ".join(strip_controls(event.complaint_number).split()),
        "name": safe_display_name(customer.name),
        "card_last4": _last4(customer.card_last4),
        "account_last4": _last4(customer.account_last4),
        "department": department_name(event.department, locale),
        "deadline": format_datetime(event.deadline, locale, zone),
        "deadline_short": format_date_short(event.deadline, locale, zone),
        "new_deadline": format_datetime(new_deadline_at, locale, zone),
        "new_deadline_short": format_date_short(new_deadline_at, locale, zone),
        "previous_deadline": format_datetime(previous_at, locale, zone),
        "missed_deadline": format_datetime(missed_at, locale, zone),
        "note": mask_free_text(details.get("note")),
        "reason": mask_free_text(details.get("reason")),
        "outcome": mask_free_text(details.get("outcome") or details.get("note")),
        "approved": bool(details.get("approver")),
        "critical": event.severity == Severity.critical,
        "bank": bank,
    }


def message_id_for(event_id: str, channel: str, domain: str) -> str:
    """Stable per (event, channel): a resend carries the same id, so receivers and our records dedupe."""
    if not _DOMAIN.match(domain):
        raise ValueError(f"not a usable Message-ID domain: {domain!r}")
    return f"<{_ID_UNSAFE.sub('-', event_id)}.{channel}@{domain}>"


def sms_message_id(event: ComplaintEvent) -> str:
    return f"{_ID_UNSAFE.sub('-', event.event_id)}.sms"


def _recipient(customer: Customer | None) -> Address:
    address = usable_email(customer.email if customer else None)
    if address is None:
        raise InvalidRecipient("the customer has no usable e-mail address")
    username, _, domain = address.rpartition("@")
    try:
        return Address(
            display_name=safe_display_name(customer.name if customer else None) or "",
            username=username,
            domain=domain,
        )
    except (ValueError, HeaderDefect) as exc:
        raise InvalidRecipient(f"unusable e-mail address: {exc}") from exc


def render_email(
    event: ComplaintEvent,
    *,
    mail_from: str,
    reply_to: str | None,
    bank_timezone: str,
    message_id_domain: str,
    bank: BankProfile = DEFAULT_BANK,
    sent_at: datetime | None = None,
) -> RenderedEmail:
    """The e-mail for one customer-facing event. Raises ``InvalidRecipient`` without a usable address."""
    _require_customer_facing(event)
    recipient = _recipient(event.customer)
    locale = locale_for(event.language)
    zone = zone_or_default(event.customer.timezone if event.customer else None, bank_timezone)
    context = message_context(event, locale, zone, bank)
    env = template_environment()
    text_template = env.get_template(f"{locale}/{event.kind.value}.txt.j2")
    subject = " ".join(_render_block(text_template, "subject", context).split())
    content = _render_block(text_template, "body", context)
    text = env.get_template(f"{locale}/_email.txt.j2").render(context, content=content).strip() + "\n"
    html = env.get_template(f"{locale}/{event.kind.value}.html.j2").render(context, subject=subject)
    message_id = message_id_for(event.event_id, "email", message_id_domain)

    message = EmailMessage(policy=EMAIL_POLICY)
    message["From"] = _fixed_header("From", mail_from)
    message["To"] = recipient
    if reply_to:
        message["Reply-To"] = _fixed_header("Reply-To", reply_to)
    message["Subject"] = subject
    message["Date"] = email.utils.format_datetime(sent_at or event.occurred_at)
    message["Message-ID"] = message_id
    in_reply_to = event.details.get("in_reply_to", "").strip()
    if _MSG_ID.match(in_reply_to):
        message["In-Reply-To"] = in_reply_to
        message["References"] = in_reply_to
    message["Auto-Submitted"] = _fixed_header("Auto-Submitted", "auto-generated")
    # Asks Exchange/Outlook not to answer with out-of-office notices that intake would have to discard.
    message["X-Auto-Response-Suppress"] = _fixed_header("X-Auto-Response-Suppress", "All")
    message["X-Complaint-Number"] = context["number"]
    message.set_content(text)
    message.make_alternative(boundary=_boundary(text, html))
    message.add_alternative(html, subtype="html")
    # After set_content, which drops Content-* headers.
    message["Content-Language"] = _fixed_header("Content-Language", locale)
    return RenderedEmail(message=message, message_id=message_id, subject=subject, locale=locale)


def _shorten(value: str, limit: int) -> str | None:
    if limit <= 0:
        return None
    if len(value) <= limit:
        return value
    ellipsis = "..." if is_gsm7(value) else "…"
    return value[:limit].rstrip() + ellipsis


def render_sms(
    event: ComplaintEvent,
    *,
    bank_timezone: str,
    bank: BankProfile = DEFAULT_BANK,
    max_segments: int = DEFAULT_SMS_SEGMENTS,
) -> RenderedSms:
    """The SMS text for one customer-facing event, within ``max_segments`` parts.

    A long department note is shortened first so the fixed parts (number, date, what to do) stay.
    """
    _require_customer_facing(event)
    locale = locale_for(event.language)
    zone = zone_or_default(event.customer.timezone if event.customer else None, bank_timezone)
    context = message_context(event, locale, zone, bank)
    for key in _FREE_TEXT_KEYS:
        if context[key]:
            # Inline in a sentence: a single line, without the note's own closing punctuation.
            context[key] = " ".join(context[key].split()).rstrip(_TRAILING_PUNCTUATION) or None
    template = template_environment().get_template(f"{locale}/{event.kind.value}.txt.j2")
    text = _render_block(template, "sms", context)
    limit = max((len(context[key] or "") for key in _FREE_TEXT_KEYS), default=0)
    while not fits(text, max_segments) and limit > 0:
        limit = limit * 2 // 3 if limit > 12 else 0
        shortened = {key: _shorten(context[key], limit) if context[key] else None for key in _FREE_TEXT_KEYS}
        text = _render_block(template, "sms", {**context, **shortened})
    text = fit_sms(text, max_segments)
    info = sms_info(text)
    return RenderedSms(text=text, segments=info.segments, encoding=info.encoding)
