"""E-mail over SMTP: a stable Message-ID per (event, medium), threaded under the complaint's first message."""

from __future__ import annotations

from email.utils import parseaddr

from kernel.settings import Settings
from schemas import ComplaintEvent, ContactChannel, Customer
from services.notifier.mailer import Mailer
from services.notifier.mime import usable_email
from services.notifier.render import render_email


class EmailMedium:
    name = "email"
    direct = True
    quiet_hours = False  # an e-mail waits in the mailbox; it wakes nobody
    serves_preferences = frozenset({ContactChannel.email})

    def __init__(self, settings: Settings, mailer: Mailer) -> None:
        self.settings = settings
        self.mailer = mailer
        self.message_id_domain = parseaddr(settings.mail_from)[1].rpartition("@")[2] or "complaintflow.local"

    def address(self, customer: Customer) -> str | None:
        return usable_email(customer.email)

    async def send(self, event: ComplaintEvent, address: str) -> str | None:
        rendered = render_email(
            event,
            mail_from=self.settings.mail_from,
            reply_to=self.settings.reply_to,
            bank_timezone=self.settings.timezone,
            message_id_domain=self.message_id_domain,
        )
        await self.mailer.send(rendered.wire)  # returns once the SMTP server accepted the message
        return rendered.message_id
