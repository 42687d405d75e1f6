"""Outgoing e-mail over one reused SMTP connection (edge).

Errors are aiosmtplib's own exceptions, unchanged, so the caller can classify them with
``retry.classify_failure``. Nothing is resent here: whether a failed message may be sent again is
the idempotency layer's decision, not the transport's.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from email.message import EmailMessage
from typing import Literal

import aiosmtplib

TlsMode = Literal["none", "starttls", "tls"]


class Mailer:
    def __init__(
        self,
        host: str,
        port: int,
        username: str | None = None,
        password: str | None = None,
        tls: TlsMode = "none",
        timeout: float = 10,
        *,
        tls_context: ssl.SSLContext | None = None,
        probe_after_idle_s: float = 5.0,
    ) -> None:
        if tls not in ("none", "starttls", "tls"):
            raise ValueError(f"tls must be none, starttls or tls, not {tls!r}")
        self.host, self.port, self.tls, self.timeout = host, port, tls, timeout
        self._username, self._password = username, password
        self._tls_context = tls_context
        self._probe_after_idle_s = probe_after_idle_s
        self._client: aiosmtplib.SMTP | None = None
        self._last_used = 0.0
        self._lock = asyncio.Lock()
        self.connections_opened = 0

    def _new_client(self) -> aiosmtplib.SMTP:
        return aiosmtplib.SMTP(
            hostname=self.host,
            port=self.port,
            username=self._username,
            password=self._password,
            use_tls=self.tls == "tls",
            start_tls=self.tls == "starttls",
            tls_context=self._tls_context,
            timeout=self.timeout,
        )

    async def _discard(self) -> None:
        client, self._client = self._client, None
        if client is None:
            return
        try:
            if client.is_connected:
                await client.quit()
        except (aiosmtplib.SMTPException, OSError):
            client.close()

    def _drop(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()

    async def _alive(self, client: aiosmtplib.SMTP) -> bool:
        if not client.is_connected:
            return False
        if time.monotonic() - self._last_used < self._probe_after_idle_s:
            return True
        # Servers drop idle sessions; finding out with NOOP costs one round trip, finding out in the
        # middle of a transaction costs a failed delivery.
        try:
            await client.noop()
        except (aiosmtplib.SMTPException, OSError):
            return False
        return True

    async def _connected_client(self) -> aiosmtplib.SMTP:
        if self._client is not None and await self._alive(self._client):
            return self._client
        await self._discard()
        client = self._new_client()
        await client.connect()
        self._client = client
        self.connections_opened += 1
        return client

    async def send(self, message: EmailMessage) -> None:
        """Send one message; concurrent callers queue on the shared connection."""
        async with self._lock:
            client = await self._connected_client()
            try:
                await client.send_message(message)
            except aiosmtplib.SMTPResponseException as exc:
                # A refusal leaves the session usable, except 421 ("closing channel").
                if exc.code == 421:
                    await self._discard()
                raise
            except aiosmtplib.SMTPRecipientsRefused:
                raise
            except BaseException:
                self._drop()  # unknown session state (timeout, disconnect, cancel): start clean next time
                raise
            finally:
                self._last_used = time.monotonic()

    async def close(self) -> None:
        async with self._lock:
            await self._discard()

    async def __aenter__(self) -> Mailer:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
