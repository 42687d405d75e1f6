"""Real SMTP servers for tests: an aiosmtpd handler that records what arrives, and a start/stop wrapper."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from email import message_from_bytes, policy
from email.message import EmailMessage

from aiosmtpd.controller import Controller

from complaintflow.embedded import free_port

MessageTest = Callable[[EmailMessage], bool]


class RecordingSmtp:
    """Every RCPT attempt, every accepted message (with the peer that sent it), every QUIT; listed addresses get 550."""

    def __init__(self, refuse: frozenset[str] = frozenset()) -> None:
        self.refuse = {address.lower() for address in refuse}
        self.rcpt_attempts: Counter[str] = Counter()
        self.messages: list[EmailMessage] = []
        self.peers: list[tuple[str, int]] = []
        self.goodbyes = 0
        self.lock = threading.Lock()

    async def handle_QUIT(self, server, session, envelope):  # type: ignore[no-untyped-def]
        with self.lock:
            self.goodbyes += 1
        return "221 Bye"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # type: ignore[no-untyped-def]
        with self.lock:
            self.rcpt_attempts[address.lower()] += 1
        if address.lower() in self.refuse:
            return f"550 5.1.1 <{address}>: mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        message = message_from_bytes(envelope.original_content or envelope.content, policy=policy.default)
        with self.lock:
            self.messages.append(message)  # type: ignore[arg-type]
            self.peers.append(tuple(session.peer))  # type: ignore[arg-type]
        return "250 OK queued"

    @property
    def connections(self) -> set[tuple[str, int]]:
        with self.lock:
            return set(self.peers)

    @property
    def subjects(self) -> list[str]:
        return [str(m["Subject"]) for m in self.received()]

    def received(self) -> list[EmailMessage]:
        with self.lock:
            return list(self.messages)

    def find(self, match: MessageTest) -> list[EmailMessage]:
        return [m for m in self.received() if match(m)]

    def to(self, address: str) -> list[EmailMessage]:
        return self.find(lambda m: address.lower() in str(m["To"]).lower())


class SmtpServer:
    def __init__(self, handler: RecordingSmtp | None = None, port: int | None = None, host: str = "127.0.0.1") -> None:
        self.handler = handler or RecordingSmtp()
        self.host = host
        self.port = port or free_port()
        self.controller: Controller | None = None

    def start(self) -> SmtpServer:
        self.controller = Controller(self.handler, hostname=self.host, port=self.port)
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def wait_for(self, match: MessageTest, timeout: float = 60.0) -> list[EmailMessage]:
        """The messages that match once at least one has arrived, or [] at the timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.handler.find(match)
            if found:
                return found
            time.sleep(0.1)
        return []
