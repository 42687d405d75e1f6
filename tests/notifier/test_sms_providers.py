"""SMS providers against a real local HTTP gateway, and the outbox file."""

from __future__ import annotations

import asyncio
import json
import socket
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from services.notifier.retry import classify_failure
from services.notifier.sms_providers import (
    HttpSmsProvider,
    OutboxSmsProvider,
    SmsDeliveryError,
    parse_auth_header,
)

CHINESE_SMS = "【客户服务】您的投诉已受理，编号CF-20261122-7K3Q9M。我们将在2026年12月7日前告知处理结果。"


@dataclass
class Gateway:
    base_url: str
    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)


@pytest.fixture
async def gateway() -> AsyncIterator[Gateway]:
    state = Gateway("")

    async def accept(request: web.Request) -> web.Response:
        state.requests.append(await request.json())
        state.headers.append(dict(request.headers))
        return web.json_response({"status": "queued", "id": "gw-1"}, status=202)

    async def busy(request: web.Request) -> web.Response:
        return web.json_response({"error": "rate limited"}, status=429)

    async def bad(request: web.Request) -> web.Response:
        return web.json_response({"error": "invalid destination number"}, status=400)

    async def broken(request: web.Request) -> web.Response:
        return web.Response(text="upstream carrier unavailable", status=503)

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(0.5)
        return web.json_response({})

    app = web.Application()
    app.router.add_post("/send", accept)
    app.router.add_post("/busy", busy)
    app.router.add_post("/bad", bad)
    app.router.add_post("/broken", broken)
    app.router.add_post("/slow", slow)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    state.base_url = f"http://{host}:{port}"
    yield state
    await runner.cleanup()


async def test_success_posts_configured_fields(gateway: Gateway) -> None:
    provider = HttpSmsProvider(
        gateway.base_url + "/send",
        auth_header="X-Api-Key: s3cr3t",
        to_field="mobile",
        text_field="content",
        id_field="client_ref",
        extra_fields={"sign": "客户服务", "sender": "95500"},
    )
    await provider.send("+8613812345678", CHINESE_SMS, "evt_1.sms")
    await provider.send("+447700900123", "Customer Care: your complaint is closed.", "evt_2.sms")
    await provider.close()
    assert gateway.requests[0] == {
        "sign": "客户服务",
        "sender": "95500",
        "mobile": "+8613812345678",
        "content": CHINESE_SMS,
        "client_ref": "evt_1.sms",
    }
    assert gateway.requests[1]["mobile"] == "+447700900123"
    assert all(h["X-Api-Key"] == "s3cr3t" for h in gateway.headers)


@pytest.mark.parametrize(
    ("path", "status", "transient"),
    [("/busy", 429, True), ("/broken", 503, True), ("/bad", 400, False)],
)
async def test_failures_are_classified(gateway: Gateway, path: str, status: int, transient: bool) -> None:
    provider = HttpSmsProvider(gateway.base_url + path, auth_header="Bearer abc")
    with pytest.raises(SmsDeliveryError) as failure:
        await provider.send("+8613812345678", CHINESE_SMS, "evt_1.sms")
    await provider.close()
    assert failure.value.status == status and failure.value.transient is transient
    assert classify_failure(failure.value) == ("transient" if transient else "permanent")
    if status == 400:
        assert "invalid destination number" in failure.value.detail


async def test_unreachable_gateway_and_timeout_are_transient(gateway: Gateway) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    unreachable = HttpSmsProvider(f"http://127.0.0.1:{closed_port}/send")
    with pytest.raises(SmsDeliveryError) as failure:
        await unreachable.send("+8613812345678", "hello", "evt_1.sms")
    await unreachable.close()
    assert failure.value.status is None and classify_failure(failure.value) == "transient"

    slow = HttpSmsProvider(gateway.base_url + "/slow", timeout=0.1)
    with pytest.raises(SmsDeliveryError) as failure:
        await slow.send("+8613812345678", "hello", "evt_1.sms")
    await slow.close()
    assert failure.value.transient


def test_auth_header_forms() -> None:
    assert parse_auth_header("Bearer abc.def") == {"Authorization": "Bearer abc.def"}
    assert parse_auth_header("X-Api-Key: k1") == {"X-Api-Key": "k1"}
    assert parse_auth_header("Authorization: Basic dXNlcjpwYXNz") == {"Authorization": "Basic dXNlcjpwYXNz"}
    assert parse_auth_header(None) == {}


async def test_outbox_appends_one_line_per_sms_under_concurrency(tmp_path: Path) -> None:
    path = tmp_path / "var" / "outbox" / "sms.jsonl"
    fixed = datetime(2026, 11, 22, 1, 30, tzinfo=UTC)
    outbox = OutboxSmsProvider(path, clock=lambda: fixed)
    texts = [CHINESE_SMS if n % 2 else f"Customer Care: message {n}. " + "x" * 150 for n in range(60)]
    await asyncio.gather(*(outbox.send(f"+86138123456{n:02d}", text, f"evt_{n}.sms") for n, text in enumerate(texts)))
    lines = path.read_text("utf-8").splitlines()
    assert len(lines) == 60
    records = [json.loads(line) for line in lines]
    assert {r["message_id"] for r in records} == {f"evt_{n}.sms" for n in range(60)}
    chinese = next(r for r in records if r["message_id"] == "evt_1.sms")
    assert chinese == {
        "message_id": "evt_1.sms",
        "to": "+8613812345601",
        "text": CHINESE_SMS,
        "segments": 1,
        "encoding": "UCS-2",
        "at": "2026-11-22T01:30:00+00:00",
    }
    english = next(r for r in records if r["message_id"] == "evt_0.sms")
    assert english["encoding"] == "GSM-7" and english["segments"] == 2
    assert outbox.read() == records


class CountingOutbox(OutboxSmsProvider):
    """The real outbox, noting how many lines each file write carried."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.group_sizes: list[int] = []

    def _append(self, data: bytes) -> None:
        self.group_sizes.append(data.count(b"\n"))
        super()._append(data)


async def test_concurrent_sends_share_one_write_and_return_once_written(tmp_path: Path) -> None:
    outbox = CountingOutbox(tmp_path / "sms.jsonl")
    on_disk_at_return: list[bool] = []

    async def send(n: int) -> None:
        await outbox.send(f"+86138123456{n:02d}", CHINESE_SMS, f"evt_{n}.sms")
        on_disk_at_return.append(f'"evt_{n}.sms"' in outbox.path.read_text("utf-8"))

    await asyncio.gather(*(send(n) for n in range(40)))
    await send(40)  # a lone send afterwards is written on its own
    assert on_disk_at_return == [True] * 41
    assert sum(outbox.group_sizes) == 41
    assert outbox.group_sizes[0] > 1 and outbox.group_sizes[-1] == 1
    assert [r["message_id"] for r in outbox.read()][-1] == "evt_40.sms"


async def test_a_send_cancelled_before_its_write_is_not_written(tmp_path: Path) -> None:
    outbox = OutboxSmsProvider(tmp_path / "sms.jsonl")
    given_up = asyncio.create_task(outbox.send("+8613812345678", CHINESE_SMS, "evt_gone.sms"))
    await asyncio.sleep(0)  # it is waiting for the write, which has not started
    given_up.cancel()
    with pytest.raises(asyncio.CancelledError):
        await given_up
    await outbox.send("+447700900123", "Customer Care: your complaint is closed.", "evt_kept.sms")
    assert [r["message_id"] for r in outbox.read()] == ["evt_kept.sms"]


async def test_a_failed_write_fails_every_caller_of_the_group(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the outbox folder should be")
    outbox = OutboxSmsProvider(blocker / "sms.jsonl")
    results = await asyncio.gather(
        *(outbox.send("+8613812345678", CHINESE_SMS, f"evt_{n}.sms") for n in range(5)), return_exceptions=True
    )
    assert all(isinstance(result, OSError) for result in results)


_WRITER_PROCESS = """
import asyncio, sys
from services.notifier.sms_providers import OutboxSmsProvider
outbox = OutboxSmsProvider(sys.argv[1])
text = sys.argv[3] * 8
async def main():
    for batch in range(10):
        await asyncio.gather(*(outbox.send("+8613812345678", text, f"{sys.argv[2]}-{batch}-{n}") for n in range(20)))
asyncio.run(main())
"""


async def test_processes_sharing_the_outbox_never_interleave_lines(tmp_path: Path) -> None:
    path = tmp_path / "sms.jsonl"
    writers = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-c", _WRITER_PROCESS, str(path), name, text, cwd=Path(__file__).parents[2]
        )
        for name, text in (("zh", CHINESE_SMS), ("en", "Customer Care: your complaint is being handled. "))
    ]
    assert [await writer.wait() for writer in writers] == [0, 0]
    records = OutboxSmsProvider(path).read()  # every line parses: none was torn
    assert len(records) == 400
    assert {r["message_id"] for r in records} == {
        f"{w}-{b}-{n}" for w in ("zh", "en") for b in range(10) for n in range(20)
    }
