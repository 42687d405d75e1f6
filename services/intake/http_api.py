"""HTTP entry points: the door of every registered channel that has one (``services.intake.channels``: the web
form, hotline transcripts, social posts, inbound SMS), and the customer's status page."""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ValidationError

from kernel.doors import ADAPTER, ADAPTER_PREFIX, lookup_retry_after
from kernel.metrics import HTTP_REQUESTS
from kernel.ratelimit import SenderRateLimit
from kernel.runtime import Runtime
from kernel.streams import Outbox
from schemas import complaint_id_for, normalize_complaint_number
from services.intake.channels import CHANNELS
from services.intake.channels.base import ChannelSpec
from services.intake.envelopes import encode, json_envelope

log = logging.getLogger(__name__)


def _error(
    status: int, message: str, errors: list[dict[str, str]] | None = None, retry_after: int | None = None
) -> web.Response:
    body: dict[str, Any] = {"error": message}
    if errors:
        body["errors"] = errors
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    return web.json_response(body, status=status, headers=headers)


def field_errors(exc: ValidationError) -> list[dict[str, str]]:
    """One readable entry per field, without echoing what was sent (it may hold personal data)."""
    out = []
    for err in exc.errors(include_input=False, include_url=False):
        field = ".".join(str(p) for p in err["loc"]) or "body"
        message = err["msg"].removeprefix("Value error, ")
        out.append({"field": field, "message": message})
    return out


async def _json_body(request: web.Request) -> Any:
    if request.content_type not in ("application/json", "text/json"):
        raise web.HTTPUnsupportedMediaType(
            text=json.dumps({"error": "send application/json"}), content_type="application/json"
        )
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge as exc:
        exc.text = json.dumps({"error": exc.text or "the body is too large"})
        exc.content_type = "application/json"
        raise
    try:
        return json.loads(raw, parse_float=float, parse_int=_bounded_int)
    except (ValueError, RecursionError) as exc:
        raise web.HTTPBadRequest(
            text=json.dumps({"error": f"body is not valid JSON: {type(exc).__name__}"}),
            content_type="application/json",
        ) from None


def _bounded_int(text: str) -> int:
    if len(text) > 30:
        raise ValueError("number too large")
    return int(text)


IDEMPOTENCY_KEY_MAX = 128
_IDEMPOTENCY_KEY = re.compile(rf"^[\x21-\x7e]{{1,{IDEMPOTENCY_KEY_MAX}}}$")  # printable ASCII: UUIDs, ULIDs, hashes
_NUMBER = re.compile(r"^CF-\d{8}-[0-9A-Z]{6}$")
MAX_PROOF_CHARS = 254  # the longest e-mail address


class BadRequest(Exception):
    def __init__(self, status: int, message: str, errors: list[dict[str, str]] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.errors = status, message, errors


def idempotency_key(header: str | None) -> str | None:
    """The client's ``Idempotency-Key``, checked: at most 128 printable ASCII characters without spaces."""
    if header is None:
        return None
    key = header.strip()
    if not _IDEMPOTENCY_KEY.match(key):
        raise BadRequest(
            400,
            f"the Idempotency-Key header must be 1 to {IDEMPOTENCY_KEY_MAX} printable ASCII characters without "
            "spaces (a UUID is a good choice)",
        )
    return key


def content_digest(submission: BaseModel) -> str:
    """Digest of a submission's canonical content (validated and normalised, keys sorted): the same complaint sent
    twice digests alike, whatever the spacing, key order or phone spelling of each copy."""
    canonical = json.dumps(
        submission.model_dump(mode="json", exclude_none=True), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class IntakeApi:
    def __init__(self, runtime: Runtime, outbox: Outbox) -> None:
        self.runtime = runtime
        self.outbox = outbox
        settings = runtime.settings
        # One limiter per endpoint family, so a flood on one (status lookups) cannot starve another (an adapter).
        self.limiters = {
            "form": SenderRateLimit(limit=settings.http_rate_limit_per_min, window_s=60.0),
            "lookup": SenderRateLimit(limit=settings.lookup_rate_limit_per_min, window_s=60.0),
            "adapter": SenderRateLimit(limit=settings.adapter_rate_limit_per_min, window_s=60.0),
        }

    def _limited(self, request: web.Request) -> bool:
        """Counts the request in its family's limit: per client address, per adapter on the adapter doors."""
        if request.path.startswith(ADAPTER_PREFIX):
            family, who = "adapter", request.get(ADAPTER) or f"addr:{request.remote or 'unknown'}"
        elif request.method == "GET":
            family, who = "lookup", request.remote or "unknown"
        else:
            family, who = "form", request.remote or "unknown"
        return not self.limiters[family].allow(who)

    async def accept(self, request: web.Request, spec: ChannelSpec) -> web.Response:
        """A channel's door: the payload validated with the channel's model, wrapped in a raw envelope keyed by the
        channel's message id and published on its raw topic before the answer."""
        route = spec.name
        if self._limited(request):
            HTTP_REQUESTS.labels(route, "429").inc()
            return _error(429, "too many requests from your address; try again in a minute", retry_after=60)
        try:
            if spec.http is not None and spec.http.answer == "message":
                answer = await self._message(request, spec)
            else:
                answer = await self._submit(request, spec)
        except BadRequest as exc:
            HTTP_REQUESTS.labels(route, str(exc.status)).inc()
            return _error(exc.status, exc.message, exc.errors)
        HTTP_REQUESTS.labels(route, "202").inc()
        return web.json_response(answer, status=202)

    async def _payload(self, request: web.Request, spec: ChannelSpec, forms: bool = False) -> tuple[BaseModel, str]:
        """The validated payload and its message id."""
        if spec.payload_model is None or spec.message_id is None:
            raise BadRequest(404, f"the {spec.name} channel takes no HTTP submissions")
        if forms and request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            body: Any = dict(await request.post())
        else:
            body = await _json_body(request)
        if not isinstance(body, dict):
            raise BadRequest(422, "the body must be a JSON object")
        try:
            submission = spec.payload_model.model_validate(body)
        except ValidationError as exc:
            raise BadRequest(422, "some fields need attention", field_errors(exc)) from None
        key = (
            idempotency_key(request.headers.get("Idempotency-Key"))
            if spec.http and spec.http.idempotency_header
            else None
        )
        return submission, spec.message_id(submission, key)

    async def _submit(self, request: web.Request, spec: ChannelSpec) -> dict[str, str]:
        channel = spec.channel
        submission, message_id = await self._payload(request, spec)
        received_at = datetime.now(UTC)
        envelope = json_envelope(
            channel, message_id, submission.model_dump(mode="json", exclude_none=True), "http", received_at
        )
        complaint_id = complaint_id_for(channel, message_id)
        store = self.runtime.store
        # A reused id (submission_id, Idempotency-Key, call id, post id) with other content is refused: answering
        # with the first complaint's number would hand one customer another's number and drop the new complaint.
        if not await store.claim_submission(complaint_id, content_digest(submission)):
            log.info("reused id with different content refused", extra={"channel": channel.value})
            raise BadRequest(
                409,
                "this submission id or Idempotency-Key was already used for a different complaint; "
                "send a new complaint with a new id (resending the same content gives the same answer)",
            )
        local_day = received_at.astimezone(self.runtime.settings.tz).date()
        number = await store.claim_number(complaint_id, local_day)
        await self.outbox.send_and_wait(self.runtime.topics.raw(channel), message_id, encode(envelope))
        log.info(
            "complaint accepted",
            extra={"channel": channel.value, "complaint_id": complaint_id, "number": number},
        )
        return {
            "complaint_number": number,
            "complaint_id": complaint_id,
            "status": "received",
            "status_url": f"/api/v1/complaints/{number}",
        }

    async def _message(self, request: web.Request, spec: ChannelSpec) -> dict[str, str]:
        """A message that may answer an earlier complaint (an SMS gateway's inbound webhook: JSON, or a form post as
        some gateways send it). The intake threads it onto the sender's complaint or makes it a new one; the answer
        says only that it was accepted (the sender does not need more, and threading happens after)."""
        channel = spec.channel
        submission, message_id = await self._payload(request, spec, forms=True)
        envelope = json_envelope(
            channel, message_id, submission.model_dump(mode="json", exclude_none=True), "http", datetime.now(UTC)
        )
        await self.outbox.send_and_wait(self.runtime.topics.raw(channel), message_id, encode(envelope))
        log.info("inbound message accepted", extra={"channel": channel.value})
        return {"status": "accepted", "message_id": str(getattr(submission, "message_id", message_id))}

    async def status(self, request: web.Request) -> web.Response:
        """Current status for the customer, after they prove who they are with their phone's last four digits
        or their e-mail address. Unknown number and failed check answer alike, so numbers cannot be probed; after
        a few wrong proofs for one number that number answers 429 for a while, whoever asks."""
        settings = self.runtime.settings
        if self._limited(request):
            HTTP_REQUESTS.labels("status", "429").inc()
            return _error(429, "too many requests from your address; try again in a minute", retry_after=60)
        number = normalize_complaint_number(request.match_info["number"][:64])
        proof = (request.query.get("verify") or request.headers.get("X-Verify") or "").strip().lower()
        store = self.runtime.store
        known, record = False, {}
        if _NUMBER.match(number) and proof and len(proof) <= MAX_PROOF_CHARS:
            # Every proof is counted before it is checked, so parallel guesses cannot slip past the limit.
            attempt, ttl = await store.count_lookup_attempt(number, settings.lookup_lockout_s)
            wait = lookup_retry_after(attempt, ttl, settings.lookup_max_failures, settings.lookup_lockout_s)
            if wait is not None:
                HTTP_REQUESTS.labels("status", "429").inc()
                log.warning("status lookup locked after wrong proofs", extra={"retry_after_s": wait})
                return _error(
                    429,
                    "too many wrong verifications for this complaint number; try again later",
                    retry_after=wait,
                )
            complaint_id = await store.id_for_number(number)
            record = await store.get(complaint_id) if complaint_id else {}
            known = bool(record) and proof in {record.get("phone_last4"), record.get("email")} - {"", None}
            if known:
                await store.clear_lookup_attempts(number)
        if not known:
            HTTP_REQUESTS.labels("status", "404").inc()
            return _error(
                404,
                "no complaint found for this number and verification "
                "(give ?verify= the last four digits of your phone, or your e-mail address)",
            )
        HTTP_REQUESTS.labels("status", "200").inc()
        deadlines = json.loads(record["deadlines"]) if record.get("deadlines") else {}
        return web.json_response(
            {
                "complaint_number": number,
                "status": record.get("status", "received"),
                "department": record.get("department"),
                "received_at": record.get("received_at"),
                "decision_by": deadlines.get("decision_by"),
                "updated_at": record.get("updated_at"),
            }
        )


def intake_routes(runtime: Runtime, outbox: Outbox) -> Callable[[web.Application], None]:
    api = IntakeApi(runtime, outbox)

    def install(app: web.Application) -> None:
        app.router.add_get("/api/v1/complaints/{number}", api.status)
        for spec in CHANNELS.values():
            if spec.http is not None:
                app.router.add_post(spec.http.path, functools.partial(api.accept, spec=spec))

    return install
