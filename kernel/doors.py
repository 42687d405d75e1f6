"""Who may come in at the HTTP doors, and how often: pure rules, plus the aiohttp middleware that applies them.

Three families of endpoints:

- **adapter** doors, every path under ``/api/v1/intake/`` (hotline, social, SMS and any adapter added later): a
  bearer token per adapter (``COMPLAINTFLOW_ADAPTER_TOKENS``, ``name=token`` pairs); a token opens only the door
  named like it (``hotline=…`` opens ``/api/v1/intake/hotline``).
- **admin** doors, ``/metrics`` and ``/dashboard`` (page and data): the operators' token
  (``COMPLAINTFLOW_ADMIN_TOKEN``).
- **open** doors: the public web form, the customer's status lookup (which has its own proof and lockout) and the
  health probes.

No header: 401 with ``WWW-Authenticate: Bearer``; a header with a token that does not open this door: 403. Tokens
are compared in constant time. Without tokens a door stays open, which is allowed only on a loopback address
(:func:`open_doors_problem` is checked before a server starts).
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from aiohttp import web

ADAPTER_PREFIX = "/api/v1/intake/"
ADMIN_PATHS = ("/metrics", "/dashboard")
MIN_TOKEN_CHARS = 16
MAX_TOKEN_CHARS = 512
_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")
_TOKEN = re.compile(r"^[\x21-\x7e]+$")  # printable ASCII, no spaces: what fits in an Authorization header

ADAPTER = web.RequestKey("adapter", str)  # the adapter whose token opened the door, for its rate limit
Door = Literal["adapter", "admin", "open"]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class TokenError(ValueError):
    """A token setting that cannot be used; the message names the problem, never the token."""


def parse_tokens(text: str | None) -> dict[str, str]:
    """``hotline=abc…,social=def…`` (commas or whitespace between pairs) → {adapter name: token}."""
    tokens: dict[str, str] = {}
    for pair in (text or "").replace(",", " ").split():
        name, sep, token = pair.partition("=")
        name = name.strip().lower()
        if not sep or not _NAME.match(name):
            raise TokenError(f"adapter tokens are name=token pairs; {name or pair[:1] + '…'!r} is not a valid name")
        check_token(token, f"the token of adapter {name!r}")
        if name in tokens:
            raise TokenError(f"adapter {name!r} is given two tokens")
        tokens[name] = token
    if len(set(tokens.values())) != len(tokens):
        raise TokenError("two adapters share one token; give each adapter its own")
    return tokens


def check_token(token: str, what: str) -> str:
    if not MIN_TOKEN_CHARS <= len(token) <= MAX_TOKEN_CHARS or not _TOKEN.match(token):
        raise TokenError(
            f"{what} must be {MIN_TOKEN_CHARS} to {MAX_TOKEN_CHARS} printable characters without spaces "
            "(e.g. from `python -c 'import secrets; print(secrets.token_urlsafe(32))'`)"
        )
    return token


def bearer_token(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer …`` header; None when there is no such header."""
    scheme, _, token = (header or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def same_secret(presented: str, expected: str) -> bool:
    """Constant-time comparison (the time taken does not tell how much of the token was right)."""
    return hmac.compare_digest(presented.encode("utf-8", "surrogateescape"), expected.encode("utf-8"))


def door_of(path: str) -> Door:
    if path.startswith(ADAPTER_PREFIX):
        return "adapter"
    if any(path == p or path.startswith(p + "/") for p in ADMIN_PATHS):
        return "admin"
    return "open"


def adapter_of(path: str) -> str:
    """``/api/v1/intake/hotline`` → ``hotline``: the adapter whose token opens this door."""
    return path[len(ADAPTER_PREFIX) :].split("/", 1)[0].lower()


def is_loopback(host: str) -> bool:
    host = host.strip().strip("[]")
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def open_doors_problem(
    bind_host: str, adapter_tokens: Mapping[str, str], admin_token: str | None, serves_adapters: bool = True
) -> str | None:
    """Why a server bound to ``bind_host`` must not start with these tokens, or None when it may.

    Off loopback every process needs the admin token (each serves /metrics); one serving the adapter endpoints
    also needs the adapter tokens.
    """
    if is_loopback(bind_host):
        return None
    missing = [] if admin_token else ["COMPLAINTFLOW_ADMIN_TOKEN"]
    if serves_adapters and not adapter_tokens:
        missing.insert(0, "COMPLAINTFLOW_ADAPTER_TOKENS")
    if not missing:
        return None
    return (
        f"refusing to serve HTTP on {bind_host}, which is not a loopback address, without {' and '.join(missing)}: "
        "the adapter endpoints, /metrics and /dashboard would be open to anyone who reaches the port. "
        "Set the tokens, or bind to 127.0.0.1 (COMPLAINTFLOW_BIND_HOST)."
    )


@dataclass(frozen=True)
class Verdict:
    status: int  # 0: let in
    message: str = ""
    adapter: str | None = None


@dataclass(frozen=True)
class Doors:
    adapter_tokens: Mapping[str, str] = field(default_factory=dict)
    admin_token: str | None = None

    def judge(self, path: str, authorization: str | None) -> Verdict:
        door = door_of(path)
        if door == "open":
            return Verdict(0)
        if door == "adapter":
            if not self.adapter_tokens:
                return Verdict(0)
            expected = self.adapter_tokens.get(adapter_of(path))
        else:
            if not self.admin_token:
                return Verdict(0)
            expected = self.admin_token
        presented = bearer_token(authorization)
        if presented is None:
            return Verdict(401, f"this endpoint needs an {door} token: send Authorization: Bearer <token>")
        # Compared even when no token is configured for this adapter, so the answer takes the same time.
        if not same_secret(presented, expected or "\x00" * MIN_TOKEN_CHARS) or expected is None:
            return Verdict(403, f"this token does not open this {door} endpoint")
        return Verdict(0, adapter=adapter_of(path) if door == "adapter" else None)

    def middleware(self) -> Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]:
        @web.middleware
        async def doors(request: web.Request, handler: Handler) -> web.StreamResponse:
            verdict = self.judge(request.path, request.headers.get("Authorization"))
            if verdict.status:
                headers = {"WWW-Authenticate": 'Bearer realm="complaintflow"'} if verdict.status == 401 else {}
                return web.Response(
                    text=json.dumps({"error": verdict.message}),
                    status=verdict.status,
                    content_type="application/json",
                    headers=headers,
                )
            if verdict.adapter:
                request[ADAPTER] = verdict.adapter
            return await handler(request)

        return doors


def lookup_retry_after(attempt: int, ttl_s: int, max_failures: int, lockout_s: int) -> int | None:
    """Seconds a status lookup must wait, or None when it may go on.

    ``attempt`` counts the proofs tried for one complaint number in the current window (this one included; a
    right proof clears the count), ``ttl_s`` is what is left of the window (Redis TTL: -1 without expiry,
    -2 gone). A number whose proofs failed ``max_failures`` times answers 429 until its window ends, whoever asks.
    """
    if attempt <= max_failures:
        return None
    return ttl_s if 0 < ttl_s <= lockout_s else lockout_s
