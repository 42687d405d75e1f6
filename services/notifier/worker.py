"""Notifier role: tells customers about lifecycle events on the delivery media (e-mail, SMS, social), once per
(event, medium)."""

from __future__ import annotations

import logging

import faust
import mode

from kernel.roles import RoleParts
from kernel.runtime import Runtime
from kernel.settings import Settings
from kernel.stage import StageRunner, add_stage
from kernel.streams import InboundMessage, Outbox, guarded, parse_record
from schemas import CUSTOMER_FACING_EVENTS, ComplaintEvent, EventKind, peek_event_kind
from services.notifier.dispatch import Attempt, Dispatcher
from services.notifier.mailer import Mailer
from services.notifier.media import standard_media
from services.notifier.medium import choose_media
from services.notifier.sms_providers import HttpSmsProvider, OutboxSmsProvider, SmsProvider

log = logging.getLogger(__name__)


def sms_provider(settings: Settings) -> SmsProvider:
    if settings.sms_gateway_url:
        return HttpSmsProvider(
            settings.sms_gateway_url,
            auth_header=settings.sms_gateway_auth_header,
            to_field=settings.sms_gateway_to_field,
            text_field=settings.sms_gateway_text_field,
            id_field=settings.sms_gateway_id_field,
        )
    return OutboxSmsProvider(settings.outbox_dir / "sms.jsonl")


class DeliveryClients(mode.Service):
    """Says goodbye to the SMTP server and closes the SMS gateway session when the worker stops."""

    def __init__(self, mailer: Mailer, sms: SmsProvider, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.mailer = mailer
        self.sms = sms

    async def on_stop(self) -> None:
        await self.mailer.close()
        if isinstance(self.sms, HttpSmsProvider):
            await self.sms.close()


_INTERNAL_KINDS = frozenset(kind.value for kind in EventKind if kind not in CUSTOMER_FACING_EVENTS)


def internal_event(value: bytes) -> bool:
    """An event customers are not told about (two in three on the topic), known without parsing it.

    Only kinds known to be internal: a kind this version does not know is parsed, and dead-lettered as before.
    """
    return peek_event_kind(value) in _INTERNAL_KINDS


class EventNotifier:
    def __init__(self, dispatcher: Dispatcher) -> None:
        self.dispatcher = dispatcher

    async def __call__(self, message: InboundMessage) -> str:
        event = parse_record(ComplaintEvent, message)
        if event.kind not in CUSTOMER_FACING_EVENTS:
            return "ignored"
        deliveries = choose_media(event, self.dispatcher.media)
        if not deliveries:
            log.debug(
                "no way to reach the customer", extra={"complaint_id": event.complaint_id, "kind": event.kind.value}
            )
            return "no_contact"
        outcomes = [await self.dispatcher.deliver(Attempt(event, delivery)) for delivery in deliveries]
        return outcomes[0] if len(set(outcomes)) == 1 else "mixed"


def install(app: faust.App, runtime: Runtime, options: dict[str, object]) -> RoleParts:
    settings = runtime.settings
    outbox = Outbox(app)
    mailer = Mailer(
        runtime.smtp_host,
        runtime.smtp_port,
        username=settings.smtp_username,
        password=settings.smtp_password,
        tls=settings.smtp_tls,
        connections=settings.smtp_connections,
    )
    sms = sms_provider(settings)
    dispatcher = Dispatcher(runtime, outbox, standard_media(runtime, outbox, mailer, sms))
    add_stage(
        app,
        runtime.topics.events,
        StageRunner("notifier", EventNotifier(dispatcher), outbox, runtime.topics, settings.max_handler_attempts),
        settings,
        not_for_me=internal_event,
    )

    app.timer(1.0, name="notification_schedule")(guarded("notification_schedule", dispatcher.run_due))

    return RoleParts(services=[DeliveryClients(mailer, sms)])
