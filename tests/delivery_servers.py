"""Real delivery servers for tests: an SMTP server (aiosmtpd) and a JSON SMS gateway, both recording what arrives,
and a polling helper."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar

from aiosmtpd.controller import Controller

from kernel.embedded import free_port

MessageTest = Callable[[EmailMessage], bool]
T = TypeVar("T")


def wait_until(condition: Callable[[], T], timeout: float, what: str, stack: Any = None) -> T:
    """The first truthy value of ``condition``; at the timeout, fails naming ``what`` with the stack's log tail."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            tail = stack.log_text()[-3000:] if stack is not None else ""
            raise AssertionError(f"timed out after {timeout}s waiting for {what}\n{tail}")
        time.sleep(0.1)


def _first_seen(arrivals: Iterable[tuple[str, float]]) -> dict[str, float]:
    """Each id's first instant, from (id, instant) pairs in arrival order."""
    first: dict[str, float] = {}
    for key, at in arrivals:
        first.setdefault(key, at)
    return first


class RecordingSmtp:
    """Every RCPT attempt, every accepted message (with the peer that sent it), every QUIT; listed addresses get 550."""

    def __init__(self, refuse: frozenset[str] = frozenset()) -> None:
        self.refuse = {address.lower() for address in refuse}
        self.rcpt_attempts: Counter[str] = Counter()
        self.messages: list[EmailMessage] = []
        self.peers: list[tuple[str, int]] = []
        self.accepted_at: list[float] = []  # time.monotonic() of each accepted message, in order
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
            self.accepted_at.append(time.monotonic())
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

    def by_message_id(self) -> Counter[str]:
        return Counter(str(m["Message-ID"]) for m in self.received())

    def first_accepted_at(self) -> dict[str, float]:
        """Message-ID → when its first copy was accepted (time.monotonic())."""
        with self.lock:
            return _first_seen(
                (str(m["Message-ID"]), at) for m, at in zip(self.messages, self.accepted_at, strict=True)
            )


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


class SmsGateway:
    """A JSON SMS gateway on a real socket. ``script[number]`` lists statuses to answer before a 200; while
    ``down`` it answers 503 to everyone."""

    def __init__(self) -> None:
        self.requests: list[tuple[int, dict[str, Any]]] = []
        self.requested_at: list[float] = []  # time.monotonic() of each request, in order
        self.script: dict[str, list[int]] = {}
        self.down = False
        self.lock = threading.Lock()
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with gateway.lock:
                    queued = gateway.script.get(body.get("to"), [])
                    status = 503 if gateway.down else queued.pop(0) if queued else 200
                    gateway.requests.append((status, body))
                    gateway.requested_at.append(time.monotonic())
                answer = json.dumps({"id": body.get("message_id")} if status == 200 else {"error": status}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1/sms"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def delivered(self, to: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            return [body for status, body in self.requests if status == 200 and to in (None, body.get("to"))]

    def received(self) -> list[dict[str, Any]]:
        return self.delivered()

    def by_message_id(self) -> Counter[str]:
        return Counter(str(body.get("message_id")) for body in self.received())

    def first_accepted_at(self) -> dict[str, float]:
        """Message id → when its first copy was accepted (200; time.monotonic())."""
        with self.lock:
            return _first_seen(
                (str(body.get("message_id")), at)
                for (status, body), at in zip(self.requests, self.requested_at, strict=True)
                if status == 200
            )

    def attempts(self, to: str) -> list[int]:
        with self.lock:
            return [status for status, body in self.requests if body.get("to") == to]

    @property
    def refused(self) -> int:
        with self.lock:
            return sum(1 for status, _ in self.requests if status != 200)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
