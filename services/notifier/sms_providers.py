"""SMS delivery (edge): an HTTP JSON gateway, and an outbox file for development and tests."""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import aiohttp

from services.notifier.retry import classify_failure
from services.notifier.sms import sms_info

DEFAULT_OUTBOX = Path("var/outbox/sms.jsonl")
_DETAIL_LIMIT = 300


class SmsProvider(Protocol):
    async def send(self, to: str, text: str, message_id: str) -> None: ...


class SmsDeliveryError(Exception):
    """The gateway did not take the message. ``status`` is None when no HTTP answer came back."""

    def __init__(self, status: int | None, transient: bool, detail: str) -> None:
        super().__init__(f"SMS gateway {'status ' + str(status) if status else 'unreachable'}: {detail}")
        self.status = status
        self.transient = transient
        self.detail = detail


def _utc_now() -> datetime:
    return datetime.now(UTC)


_WaitingLine = tuple[bytes, "asyncio.Future[None]"]


def _settle(group: list[_WaitingLine], failure: Exception | None) -> None:
    """Fails each waiting caller with ``failure``, or cancels it when there is none."""
    for _, done in group:
        if done.done():
            continue
        if failure is None:
            done.cancel()
        else:
            done.set_exception(failure)


class OutboxSmsProvider:
    """Appends one JSON line per SMS. Lines are written under an exclusive ``flock``, each group in a single
    ``write``, so concurrent tasks and several worker processes sharing the file never interleave lines.

    Sends made while a write is in progress are written together by the next one (one open, lock, write and
    fsync for the group); ``send`` returns only once its own line is on disk."""

    def __init__(self, path: str | os.PathLike[str] = DEFAULT_OUTBOX, clock: Callable[[], datetime] = _utc_now):
        self.path = Path(path)
        self._clock = clock
        self._waiting: list[_WaitingLine] = []
        self._writer: asyncio.Task[None] | None = None

    def _append(self, data: bytes) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            written = os.write(fd, data)
            while written < len(data):  # a short write (a signal, a nearly full disk): the rest, still locked
                written += os.write(fd, data[written:])
            os.fsync(fd)
        finally:
            os.close(fd)  # closing releases the lock

    async def _write_waiting(self) -> None:
        while self._waiting:
            group, self._waiting = self._waiting, []
            # A caller that gave up before its group was taken is not written: it was never told "sent".
            group = [(line, done) for line, done in group if not done.cancelled()]
            if not group:
                continue
            try:
                await asyncio.to_thread(self._append, b"".join(line for line, _ in group))
            except Exception as exc:
                _settle(group, exc)
            except BaseException:
                _settle(group + self._waiting, None)  # the loop is shutting down: nobody is left to write
                self._waiting = []
                raise
            else:
                for _, done in group:
                    if not done.done():
                        done.set_result(None)

    async def send(self, to: str, text: str, message_id: str) -> None:
        info = sms_info(text)
        record = {
            "message_id": message_id,
            "to": to,
            "text": text,
            "segments": info.segments,
            "encoding": info.encoding,
            "at": self._clock().isoformat(),
        }
        line = (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
        loop = asyncio.get_running_loop()
        written: asyncio.Future[None] = loop.create_future()
        self._waiting.append((line, written))
        writer = self._writer
        if writer is None or writer.done() or writer.get_loop() is not loop:
            # A task, not this caller: a caller cancelled mid-write must not stop the others' writes.
            self._writer = asyncio.create_task(self._write_waiting())
        await written

    def read(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text("utf-8").splitlines() if line.strip()]


def parse_auth_header(value: str | None) -> dict[str, str]:
    """``"X-Api-Key: abc"`` → that header; a bare value (``"Bearer abc"``) goes in ``Authorization``."""
    if not value:
        return {}
    name, sep, rest = value.partition(":")
    if sep and name.strip() and " " not in name.strip():
        return {name.strip(): rest.strip()}
    return {"Authorization": value.strip()}


class HttpSmsProvider:
    """POSTs one JSON object per SMS to a gateway; field names are configurable to match its API."""

    def __init__(
        self,
        url: str,
        auth_header: str | None = None,
        to_field: str = "to",
        text_field: str = "text",
        id_field: str | None = "message_id",
        extra_fields: Mapping[str, Any] | None = None,
        timeout: float = 10,
    ) -> None:
        self.url = url
        self._headers = {"Content-Type": "application/json", **parse_auth_header(auth_header)}
        self._to_field, self._text_field, self._id_field = to_field, text_field, id_field
        self._extra_fields = dict(extra_fields or {})
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    def payload(self, to: str, text: str, message_id: str) -> dict[str, Any]:
        body: dict[str, Any] = {**self._extra_fields, self._to_field: to, self._text_field: text}
        if self._id_field:
            body[self._id_field] = message_id
        return body

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self._timeout, headers=self._headers)
        return self._session

    async def send(self, to: str, text: str, message_id: str) -> None:
        try:
            async with self._client().post(self.url, json=self.payload(to, text, message_id)) as response:
                if 200 <= response.status < 300:
                    return
                detail = (await response.text(errors="replace"))[:_DETAIL_LIMIT]
                transient = classify_failure(response.status, protocol="http") == "transient"
                raise SmsDeliveryError(response.status, transient, detail or response.reason or "")
        except SmsDeliveryError:
            raise
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise SmsDeliveryError(None, True, f"{type(exc).__name__}: {exc}") from exc

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
