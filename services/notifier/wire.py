"""An e-mail serialised for SMTP once, with the envelope and bytes aiosmtplib's ``send_message`` would use.

``send_message`` decides per call, from the server's EHLO answer, whether the message goes as 8-bit
(``BODY=8BITMIME``) and whether non-ASCII addresses need ``SMTPUTF8``; this does the same, but serialises
before a connection is taken and at most once per kind of server.
"""

from __future__ import annotations

from email.message import EmailMessage

import aiosmtplib
from aiosmtplib.email import extract_recipients, extract_sender, flatten_message


class WireMessage:
    def __init__(self, message: EmailMessage) -> None:
        sender = extract_sender(message)
        if sender is None:
            raise ValueError("No From header provided in message")
        recipients = extract_recipients(message)
        if not recipients:
            raise ValueError("No recipient headers provided in message")
        self.sender, self.recipients = sender, recipients
        self.needs_smtputf8 = not (sender + "".join(recipients)).isascii()
        self._message = message
        self._flattened: dict[str, bytes] = {}
        self.data("8bit")  # what practically every server accepts

    def data(self, cte_type: str) -> bytes:
        """The message bytes, Bcc removed; ``cte_type`` is 8bit, or 7bit for a server without 8BITMIME."""
        if cte_type not in self._flattened:
            self._flattened[cte_type] = flatten_message(self._message, utf8=self.needs_smtputf8, cte_type=cte_type)
        return self._flattened[cte_type]

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
        cte_type = "7bit"
        if client.supports_extension("8BITMIME"):
            options.append("BODY=8BITMIME")
            cte_type = "8bit"
        await client.sendmail(self.sender, self.recipients, self.data(cte_type), mail_options=options)
