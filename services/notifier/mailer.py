"""Outgoing e-mail over a small pool of reused SMTP connections (edge).

Errors are aiosmtplib's own exceptions, unchanged, so the caller can classify them with
``retry.classify_failure``. Nothing is resent here: whether a failed message may be sent again is
the idempotency layer's decision, not the transport's.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from typing import Literal

import aiosmtplib

from services.notifier.wire import WireMessage

TlsMode = Literal["none", "starttls", "tls"]


class _Session:
    """One pooled connection slot; the client is opened on first use and replaced when it goes bad."""

    def __init__(self) -> None:
        self.client: aiosmtplib.SMTP | None = None
        self.last_used = 0.0

    async def discard(self) -> None:
        client, self.client = self.client, None
        if client is None:
            return
        try:
            if client.is_connected:
                await client.quit()
        except (aiosmtplib.SMTPException, OSError):
            client.close()

    def drop(self) -> None:
        client, self.client = self.client, None
        if client is not None:
            client.close()


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
        connections: int = 4,
    ) -> None:
        if tls not in ("none", "starttls", "tls"):
            raise ValueError(f"tls must be none, starttls or tls, not {tls!r}")
        if connections < 1:
            raise ValueError(f"connections must be at least 1, not {connections}")
        self.host, self.port, self.tls, self.timeout = host, port, tls, timeout
        self._username, self._password = username, password
        self._tls_context = tls_context
        self._probe_after_idle_s = probe_after_idle_s
        self.connections = connections
        # Last in, first out: a trickle of mail keeps using the one warm connection instead of waking idle
        # ones that would each need a NOOP probe or a reconnect.
        self._idle: asyncio.LifoQueue[_Session] = asyncio.LifoQueue()
        for _ in range(connections):
            self._idle.put_nowait(_Session())
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

    async def _alive(self, session: _Session, client: aiosmtplib.SMTP) -> bool:
        if not client.is_connected:
            return False
        if time.monotonic() - session.last_used < self._probe_after_idle_s:
            return True
        # Servers drop idle sessions; finding out with NOOP costs one round trip, finding out in the
        # middle of a transaction costs a failed delivery.
        try:
            await client.noop()
        except (aiosmtplib.SMTPException, OSError):
            return False
        return True

    async def _connected_client(self, session: _Session) -> aiosmtplib.SMTP:
        if session.client is not None and await self._alive(session, session.client):
            return session.client
        await session.discard()
        client = self._new_client()
        try:
            await client.connect()
        except BaseException:
            client.close()
            raise
        session.client = client
        self.connections_opened += 1
        return client

    async def send(self, wire: WireMessage) -> None:
        """Send one message; up to ``connections`` messages are in their SMTP dialogue at once.

        The message comes as bytes, made before a connection is taken, so no connection waits on that work.
        """
        session = await self._idle.get()
        try:
            client = await self._connected_client(session)
            try:
                await wire.send(client)
            except aiosmtplib.SMTPResponseException as exc:
                # A refusal leaves the session usable, except 421 ("closing channel").
                if exc.code == 421:
                    await session.discard()
                raise
            except aiosmtplib.SMTPRecipientsRefused:
                raise
            except BaseException:
                session.drop()  # unknown session state (timeout, disconnect, cancel): start clean next time
                raise
            finally:
                session.last_used = time.monotonic()
        finally:
            self._idle.put_nowait(session)

    async def close(self) -> None:
        """Quit every connection, after the messages in flight on them are done."""
        sessions: list[_Session] = []
        try:
            while len(sessions) < self.connections:
                sessions.append(await self._idle.get())
            for session in sessions:
                await session.discard()
        finally:
            for session in sessions:
                self._idle.put_nowait(session)

    async def __aenter__(self) -> Mailer:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
