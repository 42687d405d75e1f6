"""Customer messages from a ``ComplaintEvent``: the e-mail (plain text + HTML) and the SMS text.

Pure: no I/O besides reading the bundled templates. Templates see an explicit context built here,
never the customer record itself, so only last-4 fields, the complaint number and masked free text
can ever reach a message. The e-mail comes out as what goes over SMTP (envelope and bytes, see ``mime``),
made once here and sent as it is.
"""

from __future__ import annotations

import email.policy
import email.utils
import re
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.parser import Parser
from functools import lru_cache
from pathlib import Path
from typing import Any, cast
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined, Template, select_autoescape
from markupsafe import Markup, escape

from domain.pii import mask_free_text, strip_controls
from schemas import CUSTOMER_FACING_EVENTS, ComplaintEvent, Customer, EventKind, Severity
from services.notifier import mime
from services.notifier.quiet_hours import zone_or_default
from services.notifier.sms import Encoding, fit_sms, fits, is_gsm7, sms_info
from services.notifier.wire import WireMessage
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
# A msg-id as RFC 5322 has it (no spaces, comments or non-ASCII), short enough for one header line.
_MSG_ID = re.compile(r"<[!-;=?A-~]{1,450}@[!-;=?A-~]{1,450}>")
_TRAILING_PUNCTUATION = "。.！!；;，,：: "
# The same in every message.
_FLAGS = mime.field("Auto-Submitted", "auto-generated") + (
    # Asks Exchange/Outlook not to answer with out-of-office notices that intake would have to discard.
    mime.field("X-Auto-Response-Suppress", "All")
)
_PARSER = Parser(policy=email.policy.default)


class InvalidRecipient(ValueError):
    """The customer's address cannot be used in a message; retrying will not help."""


@dataclass(frozen=True)
class RenderedEmail:
    wire: WireMessage
    message_id: str
    subject: str
    locale: Locale

    @property
    def message(self) -> EmailMessage:
        """The wire bytes parsed back by the stdlib, with the line ends it uses in memory and UTF-8 addresses
        as text; for tests and tools, a new object on each access. Sending uses ``wire``."""
        return cast(EmailMessage, _PARSER.parsestr(self.wire.data.decode().replace("\r\n", "\n")))


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
    """Everything a template may show. Free text is masked here, once, for every medium."""
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


def message_id_for(event_id: str, medium: str, domain: str) -> str:
    """Stable per (event, medium): a resend carries the same id, so receivers and our records dedupe."""
    if not _DOMAIN.match(domain):
        raise ValueError(f"not a usable Message-ID domain: {domain!r}")
    return f"<{_ID_UNSAFE.sub('-', event_id)}.{medium}@{domain}>"


def thread_root_id(complaint_id: str, domain: str) -> str:
    """The Message-ID of a complaint's first notification e-mail, when the customer did not write one: stable
    per complaint, so every later e-mail can name it in In-Reply-To and References."""
    if not _DOMAIN.match(domain):
        raise ValueError(f"not a usable Message-ID domain: {domain!r}")
    return f"<{_ID_UNSAFE.sub('-', complaint_id)}.thread@{domain}>"


def sms_message_id(event: ComplaintEvent) -> str:
    return f"{_ID_UNSAFE.sub('-', event.event_id)}.sms"


def _recipient(customer: Customer | None) -> str:
    """The customer's addr-spec, for the To field and the envelope alike."""
    address = mime.usable_email(customer.email if customer else None)
    if address is None:
        raise InvalidRecipient("the customer has no usable e-mail address")
    local_part, _, domain = address.rpartition("@")
    try:
        return mime.addr_spec(local_part, domain)
    except ValueError as exc:
        raise InvalidRecipient(f"unusable e-mail address: {exc}") from exc


@lru_cache(maxsize=32)
def _configured_address(name: str, value: str) -> tuple[str, str]:
    """The folded field for an address from the settings (From, Reply-To), and the addr-spec of its first
    mailbox. Parsed with the stdlib, once per value: settings do not change between messages."""
    mailboxes = [
        (address.display_name, mime.addr_spec(address.username, address.domain))
        for address in email.policy.default.header_factory(name, value).addresses
    ]
    if not mailboxes:
        raise ValueError(f"no address in the {name} setting: {value!r}")
    return mime.address_list(name, mailboxes), mailboxes[0][1]


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
    from_field, sender = _configured_address("From", mail_from)
    locale = locale_for(event.language)
    zone = zone_or_default(event.customer.timezone if event.customer else None, bank_timezone)
    context = message_context(event, locale, zone, bank)
    env = template_environment()
    text_template = env.get_template(f"{locale}/{event.kind.value}.txt.j2")
    subject = " ".join(_render_block(text_template, "subject", context).split())
    content = _render_block(text_template, "body", context)
    text = env.get_template(f"{locale}/_email.txt.j2").render(context, content=content).strip() + "\n"
    html = env.get_template(f"{locale}/{event.kind.value}.html.j2").render(context, subject=subject)
    # Every e-mail of a complaint is one thread: under the customer's own mail when the complaint came by
    # e-mail, else under the first notification (the acknowledgement), whose Message-ID is the thread's root.
    customer_message_id = event.details.get("in_reply_to", "").strip()
    own_root = not _MSG_ID.fullmatch(customer_message_id)
    root = thread_root_id(event.complaint_id, message_id_domain) if own_root else customer_message_id
    if own_root and event.kind == EventKind.acknowledged:
        message_id, parent = root, None
    else:
        message_id, parent = message_id_for(event.event_id, "email", message_id_domain), root

    headers = [from_field, mime.address_list("To", [(context["name"] or "", recipient)])]
    if reply_to:
        headers.append(_configured_address("Reply-To", reply_to)[0])
    headers += (
        mime.unstructured("Subject", subject),
        mime.field("Date", email.utils.format_datetime(sent_at or event.occurred_at)),
        mime.field("Message-ID", message_id),
    )
    if parent:
        headers += (mime.field("In-Reply-To", parent), mime.field("References", parent))
    headers += (
        _FLAGS,
        mime.unstructured("X-Complaint-Number", context["number"]),
        mime.field("Content-Language", locale),
    )
    data = mime.multipart_alternative(headers, text, html)
    return RenderedEmail(
        wire=WireMessage(sender, (recipient,), data), message_id=message_id, subject=subject, locale=locale
    )


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
