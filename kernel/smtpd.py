"""aiosmtpd servers run inside the worker's event loop (no extra thread): intake and the local mail sink."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from pathlib import Path
from typing import Any

import mode
from aiosmtpd.smtp import SMTP, Envelope, Session

from kernel.hashing import short_hash

log = logging.getLogger(__name__)


class SmtpServer(mode.Service):
    def __init__(
        self,
        handler: Any,
        host: str,
        port: int,
        name: str,
        data_size_limit: int = 10 * 1024 * 1024,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.handler = handler
        self.host = host
        self.port = port
        self.server_name = name
        self.data_size_limit = data_size_limit
        self._server: asyncio.base_events.Server | None = None

    def _factory(self) -> SMTP:
        return LongLineSMTP(
            self.handler,
            line_length_limit=self.data_size_limit + 2,
            hostname=self.server_name,
            data_size_limit=self.data_size_limit,
            enable_SMTPUTF8=True,
            decode_data=False,
            ident="complaintflow ESMTP",
        )

    async def on_start(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._factory, host=self.host, port=self.port)
        log.info("smtp server listening", extra={"server": self.server_name, "host": self.host, "port": self.port})

    async def on_stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


class LongLineSMTP(SMTP):
    """aiosmtpd's server with lines as long as the message may be.

    RFC 5321 limits a line to 1,000 octets and aiosmtpd answers a longer one with ``500 Line too long``; broken
    clients in the wild send longer ones, and mainstream servers take them. Here a line may be as long as the
    whole message (the size limit still bounds what is read), and is kept as it came.
    """

    def __init__(self, *args: Any, line_length_limit: int, **kwargs: Any) -> None:
        self.line_length_limit = line_length_limit  # read by SMTP.__init__ for its stream reader's limit
        super().__init__(*args, **kwargs)


class OutboxHandler:
    """The local mail sink: every message accepted is written to ``directory`` as one ``.eml`` file."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)
        self._counter = 0

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        data = envelope.original_content or envelope.content or b""
        if isinstance(data, str):
            data = data.encode("utf-8")
        self._counter += 1
        name = f"{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}-{self._counter:06d}-{short_hash(data)}.eml"
        tmp = self.directory / f".{name}.tmp"
        tmp.write_bytes(data)
        tmp.replace(self.directory / name)  # readers never see half a message
        return "250 Message accepted for delivery"
