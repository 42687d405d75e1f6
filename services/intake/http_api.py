"""HTTP entry points: the web form, hotline transcripts, social posts, inbound SMS, and the customer's status page."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ValidationError

from complaintflow.metrics import HTTP_REQUESTS
from complaintflow.ratelimit import SenderRateLimit
from complaintflow.runtime import Runtime
from complaintflow.streams import Outbox
from schemas import Channel, complaint_id_for, normalise_complaint_number
from services.intake.envelopes import encode, json_envelope
from services.intake.forms import HotlineTranscript, InboundSms, SocialPost, WebformSubmission

log = logging.getLogger(__name__)


def _error(status: int, message: str, errors: list[dict[str, str]] | None = None) -> web.Response:
    body: dict[str, Any] = {"error": message}
    if errors:
        body["errors"] = errors
    return web.json_response(body, status=status)


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
    raw = await request.read()
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


class IntakeApi:
    def __init__(self, runtime: Runtime, outbox: Outbox) -> None:
        self.runtime = runtime
        self.outbox = outbox
        self.limiter = SenderRateLimit(limit=runtime.settings.http_rate_limit_per_min, window_s=60.0)

    def _limited(self, request: web.Request) -> bool:
        return not self.limiter.allow(request.remote or "unknown")

    async def _accept(
        self,
        request: web.Request,
        channel: Channel,
        model: type[BaseModel],
        message_id_of: Callable[[Any, web.Request], str],
    ) -> web.Response:
        route = f"{channel.value}"
        if self._limited(request):
            HTTP_REQUESTS.labels(route, "429").inc()
            return _error(429, "too many requests from your address; try again in a minute")
        body = await _json_body(request)
        if not isinstance(body, dict):
            HTTP_REQUESTS.labels(route, "422").inc()
            return _error(422, "the body must be a JSON object")
        try:
            submission = model.model_validate(body)
        except ValidationError as exc:
            HTTP_REQUESTS.labels(route, "422").inc()
            return _error(422, "some fields need attention", field_errors(exc))
        message_id = message_id_of(submission, request)
        received_at = datetime.now(UTC)
        envelope = json_envelope(
            channel, message_id, submission.model_dump(mode="json", exclude_none=True), "http", received_at
        )
        complaint_id = complaint_id_for(channel, message_id)
        local_day = received_at.astimezone(self.runtime.settings.tz).date()
        number = await self.runtime.store.claim_number(complaint_id, local_day)
        await self.outbox.send_and_wait(self.runtime.topics.raw(channel), message_id, encode(envelope))
        HTTP_REQUESTS.labels(route, "202").inc()
        log.info(
            "complaint accepted",
            extra={"channel": channel.value, "complaint_id": complaint_id, "number": number},
        )
        return web.json_response(
            {
                "complaint_number": number,
                "complaint_id": complaint_id,
                "status": "received",
                "status_url": f"/api/v1/complaints/{number}",
            },
            status=202,
        )

    async def webform(self, request: web.Request) -> web.Response:
        def message_id(sub: WebformSubmission, req: web.Request) -> str:
            return sub.submission_id or req.headers.get("Idempotency-Key") or f"web-{uuid.uuid4()}"

        return await self._accept(request, Channel.webform, WebformSubmission, message_id)

    async def hotline(self, request: web.Request) -> web.Response:
        return await self._accept(request, Channel.hotline, HotlineTranscript, lambda sub, _: sub.call_id)

    async def social(self, request: web.Request) -> web.Response:
        return await self._accept(request, Channel.social, SocialPost, lambda sub, _: f"{sub.platform}:{sub.post_id}")

    async def sms(self, request: web.Request) -> web.Response:
        """An SMS gateway's inbound webhook: JSON, or a form post as some gateways send it. The message goes to
        the SMS intake, which threads it onto the sender's complaint or makes it a new one; the answer says only
        that it was accepted (the gateway does not need more, and threading happens after)."""
        route = Channel.sms.value
        if self._limited(request):
            HTTP_REQUESTS.labels(route, "429").inc()
            return _error(429, "too many requests from your address; try again in a minute")
        if request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            body: Any = dict(await request.post())
        else:
            body = await _json_body(request)
        if not isinstance(body, dict):
            HTTP_REQUESTS.labels(route, "422").inc()
            return _error(422, "the body must be a JSON object")
        try:
            sms = InboundSms.model_validate(body)
        except ValidationError as exc:
            HTTP_REQUESTS.labels(route, "422").inc()
            return _error(422, "some fields need attention", field_errors(exc))
        message_id = f"sms:{sms.message_id}"
        envelope = json_envelope(
            Channel.sms, message_id, sms.model_dump(mode="json", exclude_none=True), "http", datetime.now(UTC)
        )
        await self.outbox.send_and_wait(self.runtime.topics.raw(Channel.sms), message_id, encode(envelope))
        HTTP_REQUESTS.labels(route, "202").inc()
        log.info("inbound sms accepted", extra={"channel": route})
        return web.json_response({"status": "accepted", "message_id": sms.message_id}, status=202)

    async def status(self, request: web.Request) -> web.Response:
        """Current status for the customer, after they prove who they are with their phone's last four digits
        or their e-mail address. Unknown number and failed check answer alike, so numbers cannot be probed."""
        if self._limited(request):
            return _error(429, "too many requests from your address; try again in a minute")
        number = normalise_complaint_number(request.match_info["number"])
        proof = (request.query.get("verify") or request.headers.get("X-Verify") or "").strip().lower()
        store = self.runtime.store
        complaint_id = await store.id_for_number(number)
        record = await store.get(complaint_id) if complaint_id else {}
        known = bool(record) and bool(proof) and proof in {record.get("phone_last4"), record.get("email")} - {""}
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
        app.router.add_post("/api/v1/complaints", api.webform)
        app.router.add_get("/api/v1/complaints/{number}", api.status)
        app.router.add_post("/api/v1/intake/hotline", api.hotline)
        app.router.add_post("/api/v1/intake/social", api.social)
        app.router.add_post("/api/v1/intake/sms", api.sms)

    return install
