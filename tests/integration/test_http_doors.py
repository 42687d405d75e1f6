"""The HTTP doors over real HTTP: the real web app (the one `complaintflow run` serves, tokens and all) on a real
port, with the session's Redis (its own database) and broker. Each scenario is an attack tried from outside:
a 5,000-character Idempotency-Key, a reused submission id, a brute-forced status lookup, an adapter endpoint
or the metrics called without a key.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from complaintflow.dashboard.routes import Dashboard
from complaintflow.demo import send_samples
from kernel.doors import parse_tokens
from kernel.embedded import EmbeddedStack
from kernel.kafka import create_all_topics
from kernel.runtime import Runtime
from kernel.settings import Settings
from kernel.state import redis_client
from kernel.topics import Topics
from kernel.web import build_web_app
from schemas import Channel
from services.intake import samples
from services.intake.http_api import intake_routes
from tests.conftest import REPO, stack_env, start_stack, stop_stack
from tests.kafka_support import KafkaOutbox, fields, wait_for_records

pytestmark = pytest.mark.integration

PREFIX = "doors."
REDIS_DB = 12
HOTLINE = "hotline-token-Hx7pQ2vL9sK4mN8r"
SOCIAL = "social-token-Sg5kJ8dF2hL7pQ4w"
SMS = "sms-token-Mq3rT8yU1iO6pA2s"
ADMIN = "admin-token-Ad3mZ9xC6vB2nM5q"
TOKENS = f"hotline={HOTLINE},social={SOCIAL},sms={SMS}"


@dataclass
class Door:
    server: TestServer
    runtime: Runtime

    def url(self, path: str) -> str:
        return str(self.server.make_url(path))


@asynccontextmanager
async def serving(embedded: EmbeddedStack, **env: str) -> AsyncIterator[Door]:
    """The web app `complaintflow run` builds (intake routes, dashboard, metrics, health, the doors) on a port."""
    redis_url = (embedded.redis_url or "").rsplit("/", 1)[0] + f"/{REDIS_DB}"
    settings = Settings(_env_file=None, COMPLAINTFLOW_TOPIC_PREFIX=PREFIX, **env)  # type: ignore[call-arg]
    bootstrap = embedded.kafka_bootstrap_servers or ""
    create_all_topics(settings, bootstrap)
    runtime = Runtime(settings, bootstrap, redis_url, "", 0, Topics(PREFIX))
    outbox = KafkaOutbox(bootstrap)
    app = build_web_app(
        [intake_routes(runtime, outbox), Dashboard(runtime).install],  # type: ignore[arg-type]
        settings.http_max_body_bytes,
        settings.doors(),
    )
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield Door(server, runtime)
    finally:
        await server.close()
        await runtime.redis.aclose()
        outbox.close()


async def call(
    door: Door,
    method: str,
    path: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
    source: str = "127.0.0.1",
) -> tuple[int, dict[str, Any], dict[str, str]]:
    """One request from the given loopback source address (127.0.0.2 is another client)."""
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    base = {"Content-Type": "application/json"} if data is not None else {}
    connector = aiohttp.TCPConnector(local_addr=(source, 0))
    headers = {**base, **(headers or {})}
    async with (
        aiohttp.ClientSession(connector=connector) as session,
        session.request(method, door.url(path), data=data, headers=headers) as answer,
    ):
        text = await answer.text()
        try:
            parsed = json.loads(text) if text else {}
        except ValueError:
            parsed = {"raw": text}
        return answer.status, parsed, dict(answer.headers)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


@pytest.fixture(autouse=True)
def empty_database(embedded: EmbeddedStack) -> None:
    async def flush() -> None:
        client = redis_client((embedded.redis_url or "").rsplit("/", 1)[0] + f"/{REDIS_DB}")
        await client.flushdb()
        await client.aclose()

    asyncio.run(flush())


# --- bad input gets a clear 4xx ----------------------------------------------------------------------------


async def test_bad_headers_and_bodies_get_a_clear_4xx_never_a_5xx(embedded: EmbeddedStack) -> None:
    form = samples.webform_payload_zh()
    async with serving(embedded) as door:
        status, body, _ = await call(door, "POST", "/api/v1/complaints", form, {"Idempotency-Key": "k" * 5000})
        assert status == 400 and "Idempotency-Key" in body["error"]
        status, body, _ = await call(door, "POST", "/api/v1/complaints", form, {"Idempotency-Key": "two words"})
        assert status == 400

        call_9999 = samples.hotline_payload_zh() | {"call_id": unique("C-"), "started_at": "9999-12-31T23:59:59+14:00"}
        status, body, _ = await call(door, "POST", "/api/v1/intake/hotline", call_9999)
        assert status == 422 and body["errors"][0]["field"] == "started_at"
        post_9999 = samples.social_payload_weibo() | {"post_id": unique("p"), "created_at": "9999-01-01T00:00:00Z"}
        assert (await call(door, "POST", "/api/v1/intake/social", post_9999))[0] == 422

        oversized = json.dumps(form | {"description": "扣款" * 200_000}).encode()
        cases: dict[str, tuple[str, bytes | dict[str, Any], dict[str, str]]] = {
            "invalid UTF-8": ("/api/v1/complaints", b'{"name": "\xff\xfe", "consent": true}', {}),
            "oversized JSON": ("/api/v1/complaints", oversized, {}),
            "wrong types": ("/api/v1/complaints", {"name": 5, "consent": "yes", "description": ["x"]}, {}),
            "not an object": ("/api/v1/complaints", [form], {}),
            "deep nesting": ("/api/v1/complaints", b"[" * 100_000 + b"]" * 100_000, {}),
            "huge number": (
                "/api/v1/complaints",
                json.dumps(form).encode()[:-1] + b', "amount": ' + b"9" * 400 + b"}",
                {},
            ),
            "hotline wrong types": ("/api/v1/intake/hotline", {"call_id": "C-1", "turns": "abc"}, {}),
            "hotline call id too long": (
                "/api/v1/intake/hotline",
                samples.hotline_payload_zh() | {"call_id": "C" * 5000},
                {},
            ),
            "social post id with spaces": (
                "/api/v1/intake/social",
                samples.social_payload_weibo() | {"post_id": "a b"},
                {},
            ),
            "wrong content type": ("/api/v1/complaints", json.dumps(form).encode(), {"Content-Type": "text/plain"}),
        }
        for name, (path, data, headers) in cases.items():
            status, body, _ = await call(door, "POST", path, data, headers)
            assert 400 <= status < 500, f"{name}: {status} {body}"
            assert "error" in body, name
        long_number = "CF-" + "9" * 5000
        assert (await call(door, "GET", f"/api/v1/complaints/{long_number}?verify=1234"))[0] == 404
        assert (await call(door, "GET", "/api/v1/complaints/CF-20261206-7K3Q9M?verify=" + "x" * 5000))[0] == 404


# --- a reused id with other content ---------------------------------------------------------------------


async def test_a_reused_submission_id_with_other_content_gets_409_and_no_number(embedded: EmbeddedStack) -> None:
    bootstrap = embedded.kafka_bootstrap_servers or ""
    submission_id = unique("wf-reuse-")
    first = samples.webform_payload_zh() | {"submission_id": submission_id}
    async with serving(embedded) as door:
        status, accepted, _ = await call(door, "POST", "/api/v1/complaints", first)
        assert status == 202
        # The same content again (another spelling of the same phone, keys in another order): the same answer.
        again = dict(reversed(list(first.items())))
        status, repeated, _ = await call(door, "POST", "/api/v1/complaints", again)
        assert status == 202 and repeated == accepted

        someone_else = first | {"name": "王芳", "description": "我的房贷利率调整没有通知我，多扣了三个月的利息。"}
        status, body, _ = await call(door, "POST", "/api/v1/complaints", someone_else)
        assert status == 409, body
        assert "complaint_number" not in body and accepted["complaint_number"] not in json.dumps(body)
        assert "new id" in body["error"]

        # The same rule for the Idempotency-Key header, and for an adapter's call id.
        key = str(uuid.uuid4())
        form = {k: v for k, v in samples.webform_payload_en().items() if k != "submission_id"}
        assert (await call(door, "POST", "/api/v1/complaints", form, {"Idempotency-Key": key}))[0] == 202
        other = form | {"description": "A different complaint about a card fee charged twice in November."}
        status, body, _ = await call(door, "POST", "/api/v1/complaints", other, {"Idempotency-Key": key})
        assert status == 409 and "complaint_number" not in body
        call_id = unique("CALL-")
        transcript = samples.hotline_payload_zh() | {"call_id": call_id}
        assert (await call(door, "POST", "/api/v1/intake/hotline", transcript))[0] == 202
        changed = transcript | {"agent_summary": "客户投诉另一笔交易。"}
        assert (await call(door, "POST", "/api/v1/intake/hotline", changed))[0] == 409

    # Only the first content ever reached the raw topic.
    records = wait_for_records(bootstrap, Topics(PREFIX).raw("webform"), lambda r: r.get("message_id") == submission_id)
    assert len(records) >= 1
    assert all(fields(r)["payload"]["name"] == first["name"] for r in records)


# --- lookups that cannot be guessed ---------------------------------------------------------------------


async def _filed(door: Door, phone_last4: str) -> str:
    """A complaint filed through the form, with the summary the intake worker records for it."""
    form = samples.webform_payload_zh() | {"submission_id": unique("wf-lookup-")}
    status, accepted, _ = await call(door, "POST", "/api/v1/complaints", form)
    assert status == 202
    await door.runtime.store.update(
        accepted["complaint_id"], number=accepted["complaint_number"], status="received", phone_last4=phone_last4
    )
    return str(accepted["complaint_number"])


async def test_wrong_proofs_lock_the_number_whoever_asks(embedded: EmbeddedStack) -> None:
    async with serving(embedded, COMPLAINTFLOW_LOOKUP_MAX_FAILURES="5") as door:
        number = await _filed(door, "5678")
        neighbour = await _filed(door, "4321")
        assert (await call(door, "GET", f"/api/v1/complaints/{number}?verify=5678"))[0] == 200

        # Five wrong proofs from one address: 404 each (as for an unknown number) ...
        for guess in ("0000", "1111", "2222", "3333", "4444"):
            assert (await call(door, "GET", f"/api/v1/complaints/{number}?verify={guess}", source="127.0.0.2"))[
                0
            ] == 404
        # ... then the number is locked, for the right proof too, from any address.
        status, body, headers = await call(door, "GET", f"/api/v1/complaints/{number}?verify=5678")
        assert status == 429 and "verification" in body["error"]
        assert 0 < int(headers["Retry-After"]) <= 900
        status, _, _ = await call(
            door, "GET", f"/api/v1/complaints/{number}?verify=5678", headers={}, source="127.0.0.3"
        )
        assert status == 429
        # Another complaint's lookup is not touched.
        assert (await call(door, "GET", f"/api/v1/complaints/{neighbour}?verify=4321"))[0] == 200

        # An unknown number locks alike, so a lock tells nothing about whether the number exists.
        unknown = "CF-20260101-ZZZZZZ"
        answers = [(await call(door, "GET", f"/api/v1/complaints/{unknown}?verify=1234"))[0] for _ in range(6)]
        assert answers == [404] * 5 + [429]


async def test_a_lock_ends_and_a_right_proof_clears_the_count(embedded: EmbeddedStack) -> None:
    env = {"COMPLAINTFLOW_LOOKUP_MAX_FAILURES": "2", "COMPLAINTFLOW_LOOKUP_LOCKOUT_S": "1"}
    async with serving(embedded, **env) as door:
        number = await _filed(door, "5678")
        # A customer who mistypes once and then gets it right starts again from zero.
        assert (await call(door, "GET", f"/api/v1/complaints/{number}?verify=5687"))[0] == 404
        assert (await call(door, "GET", f"/api/v1/complaints/{number}?verify=5678"))[0] == 200
        assert (await call(door, "GET", f"/api/v1/complaints/{number}?verify=5687"))[0] == 404
        assert (await call(door, "GET", f"/api/v1/complaints/{number}?verify=5678"))[0] == 200

        for _ in range(2):
            await call(door, "GET", f"/api/v1/complaints/{number}?verify=0000")
        status, _, headers = await call(door, "GET", f"/api/v1/complaints/{number}?verify=5678")
        assert status == 429 and headers["Retry-After"] == "1"
        # The window is one second: the lock lifts by itself (waited for, not timed).
        for _ in range(100):
            status, _, _ = await call(door, "GET", f"/api/v1/complaints/{number}?verify=5678")
            if status != 429:
                break
            await asyncio.sleep(0.1)
        assert status == 200


async def test_each_endpoint_family_has_its_own_rate_limit(embedded: EmbeddedStack) -> None:
    env = {
        "COMPLAINTFLOW_LOOKUP_RATE_LIMIT_PER_MIN": "3",
        "COMPLAINTFLOW_HTTP_RATE_LIMIT_PER_MIN": "4",
        "COMPLAINTFLOW_ADAPTER_RATE_LIMIT_PER_MIN": "2",
        "COMPLAINTFLOW_ADAPTER_TOKENS": TOKENS,
    }
    async with serving(embedded, **env) as door:
        lookups = [(await call(door, "GET", "/api/v1/complaints/CF-20260101-AAAAAA?verify=1"))[0] for _ in range(4)]
        assert lookups == [404, 404, 404, 429]
        # Lookups exhausted their limit: the form and the adapters still go on from the same address.
        assert (await call(door, "POST", "/api/v1/complaints", samples.webform_payload_en()))[0] == 202
        hotline = [
            (
                await call(
                    door,
                    "POST",
                    "/api/v1/intake/hotline",
                    samples.hotline_payload_zh() | {"call_id": unique("C-")},
                    bearer(HOTLINE),
                )
            )[0]
            for _ in range(3)
        ]
        assert hotline == [202, 202, 429]
        # The adapter limit is per adapter: the social adapter is not starved by the hotline.
        post = samples.social_payload_weibo() | {"post_id": unique("p")}
        assert (await call(door, "POST", "/api/v1/intake/social", post, bearer(SOCIAL)))[0] == 202
        forms = [(await call(door, "POST", "/api/v1/complaints", {}))[0] for _ in range(4)]
        assert forms == [422, 422, 422, 429]


# --- doors that need keys -------------------------------------------------------------------------------


async def test_adapter_endpoints_take_their_own_bearer_token(embedded: EmbeddedStack) -> None:
    async with serving(embedded, COMPLAINTFLOW_ADAPTER_TOKENS=TOKENS, COMPLAINTFLOW_ADMIN_TOKEN=ADMIN) as door:
        transcript = samples.hotline_payload_zh() | {"call_id": unique("CALL-")}
        status, _, headers = await call(door, "POST", "/api/v1/intake/hotline", transcript)
        assert status == 401 and headers["WWW-Authenticate"].startswith("Bearer")
        for wrong in (SOCIAL, ADMIN, HOTLINE[:-1] + "x", "Basic " + HOTLINE):
            header = {"Authorization": wrong} if wrong.startswith("Basic") else bearer(wrong)
            status, _, _ = await call(door, "POST", "/api/v1/intake/hotline", transcript, header)
            assert status in (401, 403) and (status == 403 or wrong.startswith("Basic"))
        assert (await call(door, "POST", "/api/v1/intake/hotline", transcript, bearer(HOTLINE)))[0] == 202

        post = samples.social_payload_weibo() | {"post_id": unique("p")}
        assert (await call(door, "POST", "/api/v1/intake/social", post))[0] == 401
        assert (await call(door, "POST", "/api/v1/intake/social", post, bearer(HOTLINE)))[0] == 403
        assert (await call(door, "POST", "/api/v1/intake/social", post, bearer(SOCIAL)))[0] == 202
        # Any adapter endpoint under the prefix is covered, also one added later (the SMS gateway's): the check
        # comes before routing, so without the key nothing is learnt, not even whether the endpoint exists.
        assert (await call(door, "POST", "/api/v1/intake/sms", {"from": "+8613812345678"}))[0] == 401
        assert (await call(door, "POST", "/api/v1/intake/sms", {}, bearer(HOTLINE)))[0] == 403

        # The public form and the customer's lookup need no token; the health probes stay open.
        assert (await call(door, "POST", "/api/v1/complaints", samples.webform_payload_en()))[0] == 202
        assert (await call(door, "GET", "/api/v1/complaints/CF-20260101-ZZZZZZ?verify=1234"))[0] == 404
        for probe in ("/healthz", "/readyz"):
            assert (await call(door, "GET", probe))[0] in (200, 503)


async def test_metrics_and_dashboard_take_the_admin_token(embedded: EmbeddedStack) -> None:
    async with serving(embedded, COMPLAINTFLOW_ADAPTER_TOKENS=TOKENS, COMPLAINTFLOW_ADMIN_TOKEN=ADMIN) as door:
        for path in ("/metrics", "/dashboard", "/dashboard/data"):
            assert (await call(door, "GET", path))[0] == 401, path
            assert (await call(door, "GET", path, headers=bearer(HOTLINE)))[0] == 403, path
        status, body, _ = await call(door, "GET", "/metrics", headers=bearer(ADMIN))
        assert status == 200 and "complaintflow_http_requests_total" in body["raw"]
        status, _, headers = await call(door, "GET", "/dashboard", headers=bearer(ADMIN))
        assert status == 200 and headers["Content-Type"].startswith("text/html")


async def test_on_loopback_without_tokens_every_door_is_open(embedded: EmbeddedStack) -> None:
    async with serving(embedded) as door:
        transcript = samples.hotline_payload_zh() | {"call_id": unique("CALL-")}
        assert (await call(door, "POST", "/api/v1/intake/hotline", transcript))[0] == 202
        assert (await call(door, "GET", "/metrics"))[0] == 200


@pytest.mark.parametrize("role", ["run", "intake"])
def test_off_loopback_without_tokens_the_service_refuses_to_start(role: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COMPLAINTFLOW_", "KAFKA_", "REDIS_"))}
    env |= {"COMPLAINTFLOW_BIND_HOST": "0.0.0.0", "COMPLAINTFLOW_VAR_DIR": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-m", "complaintflow.cli", role],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 78, result.stderr[-2000:]
    assert "refusing to serve HTTP on 0.0.0.0" in result.stderr
    assert "COMPLAINTFLOW_ADAPTER_TOKENS and COMPLAINTFLOW_ADMIN_TOKEN" in result.stderr
    # A weak token is refused by name, and the token itself is not printed.
    env |= {"COMPLAINTFLOW_ADAPTER_TOKENS": "hotline=letmein", "COMPLAINTFLOW_ADMIN_TOKEN": ADMIN}
    result = subprocess.run(
        [sys.executable, "-m", "complaintflow.cli", role], env=env, cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 78 and "token of adapter 'hotline'" in result.stderr
    assert "letmein" not in result.stderr and ADMIN not in result.stderr


async def test_the_demo_sends_each_adapter_its_token(embedded: EmbeddedStack) -> None:
    async with serving(embedded, COMPLAINTFLOW_ADAPTER_TOKENS=TOKENS, COMPLAINTFLOW_ADMIN_TOKEN=ADMIN) as door:
        run = uuid.uuid4().hex[:8]
        http_url = door.url("/").rstrip("/")
        # No SMTP intake here (port 9 refuses): only the HTTP samples are looked at.
        sent = await asyncio.to_thread(send_samples, http_url, "127.0.0.1:9", run, parse_tokens(TOKENS))
        web = [s for s in sent if s.channel is not Channel.email]
        assert len(web) == 7 and all(s.error is None for s in web), web
        # An inbound SMS may thread onto an open complaint, so its answer carries no number.
        assert all(s.number.startswith("CF-") for s in web if s.channel is not Channel.sms), web
        without = await asyncio.to_thread(send_samples, http_url, "127.0.0.1:9", run + "x", None)
        refused = [s for s in without if s.channel in (Channel.hotline, Channel.social, Channel.sms)]
        assert refused and all("401" in (s.error or "") for s in refused)


def test_a_running_intake_asks_for_the_tokens_it_is_given(embedded: EmbeddedStack, tmp_path: Path) -> None:
    """The process `complaintflow intake` starts (not just its app): configured tokens are asked for."""
    env = stack_env(
        embedded, tmp_path, "doors-run.", COMPLAINTFLOW_ADAPTER_TOKENS=TOKENS, COMPLAINTFLOW_ADMIN_TOKEN=ADMIN
    )
    running = start_stack(["intake", "--no-smtp"], env, tmp_path)
    try:
        transcript = samples.hotline_payload_zh() | {"call_id": unique("CALL-RUN-")}
        assert running.post("/api/v1/intake/hotline", transcript)[0] == 401
        assert running.post("/api/v1/intake/hotline", transcript, bearer(SOCIAL))[0] == 403
        status, body = running.post("/api/v1/intake/hotline", transcript, bearer(HOTLINE))
        assert status == 202 and body["complaint_number"].startswith("CF-")
        assert running.get("/metrics")[0] == 401
        assert running.get("/healthz")[0] == 200
        assert HOTLINE not in running.log_text() and ADMIN not in running.log_text()
    finally:
        stop_stack(running)
