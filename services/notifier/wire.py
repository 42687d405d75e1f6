"""An e-mail as it goes over SMTP: the envelope and the bytes of DATA, made before a connection is taken.

The bytes are 7-bit clean except for non-ASCII addresses, so one form suits servers with and without
8BITMIME; a non-ASCII address needs a server with SMTPUTF8, as with aiosmtplib's ``send_message``. Rendered
customer e-mails arrive here already as bytes (``render.render_email``); ``from_message`` adapts any other
``EmailMessage``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from email.message import EmailMessage

import aiosmtplib
from aiosmtplib.email import extract_recipients, extract_sender, flatten_message


@dataclass(frozen=True, slots=True)
class WireMessage:
    sender: str
    recipients: tuple[str, ...]
    data: bytes  # CRLF line ends, Bcc already left out

    def __post_init__(self) -> None:
        if not self.recipients:
            raise ValueError("a message needs at least one recipient")

    @property
    def needs_smtputf8(self) -> bool:
        return _has_non_ascii_address(self.sender, self.recipients)

    @classmethod
    def from_message(cls, message: EmailMessage) -> WireMessage:
        """The envelope ``send_message`` would use (Sender or From; To, Cc and Bcc), and the message flattened
        with Bcc removed and 8-bit bodies re-encoded."""
        sender = extract_sender(message)
        if sender is None:
            raise ValueError("No From header provided in message")
        recipients = extract_recipients(message)
        if not recipients:
            raise ValueError("No recipient headers provided in message")
        utf8 = _has_non_ascii_address(sender, recipients)
        return cls(sender, tuple(recipients), flatten_message(message, utf8=utf8, cte_type="7bit"))

    async def send(self, client: aiosmtplib.SMTP) -> None:
        if client.is_ehlo_or_helo_needed:
            try:
                await client.ehlo()
            except aiosmtplib.SMTPHeloError:
                if not client.is_connected:
                    raise
                await client.helo()
        options: list[str] = []
        if self.needs_smtputf8:
            if not client.supports_extension("smtputf8"):
                raise aiosmtplib.SMTPNotSupported(
                    "An address containing non-ASCII characters was provided, but "
                    "SMTPUTF8 is not supported by this server"
                )
            options.append("SMTPUTF8")
        # Declared as send_message does; the body needs no 8-bit path, but UTF-8 headers (SMTPUTF8) are 8-bit.
        if client.supports_extension("8BITMIME"):
            options.append("BODY=8BITMIME")
        await client.sendmail(self.sender, self.recipients, self.data, mail_options=options)


def _has_non_ascii_address(sender: str, recipients: Sequence[str]) -> bool:
    """Such an address can only be written as UTF-8, which needs a server with SMTPUTF8."""
    return not (sender + "".join(recipients)).isascii()
