"""What a delivery medium is (e-mail, SMS, social, ...), and which media one customer-facing event goes out on.

A **medium** is one module under ``services/notifier/media/`` implementing :class:`Medium`, listed in the one table
``services.notifier.media.standard_media``. The dispatcher and the choice below read only that table: adding a
medium is its module and its line in the table. "Channel" is the way a complaint came in (``schemas.Channel``);
"medium" is the way the customer hears back.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

from schemas import CUSTOMER_FACING_EVENTS, ComplaintEvent, ContactChannel, Customer, EventKind, Severity, channel_info

URGENT_KINDS = frozenset({EventKind.need_info, EventKind.sla_breach_apology})


class Medium(Protocol):
    """One way of telling a customer about their complaint.

    ``name`` is stable and lower-case: it is part of the exactly-once claim key (``cf:notify:<event>:<name>``), of
    the order keys and schedule entries in Redis, of the ``medium`` metrics label and of the ``medium`` detail of
    ``notification_*`` events. Renaming a medium in service therefore resends what is in flight; add a new one.
    """

    name: str
    #: True: the message itself goes to the customer, and one direct medium is chosen per event. False: a companion
    #: that goes alongside it when it applies (a public social reply suggestion), never carrying personal details.
    direct: bool
    #: Non-urgent messages wait out the customer's quiet hours on this medium.
    quiet_hours: bool
    #: The contact preferences this medium serves, tried first (e.g. ``phone`` and ``sms`` for SMS).
    serves_preferences: frozenset[ContactChannel]
    #: The intake channels whose complaints this medium answers by default, in table order (e.g. web form: e-mail
    #: then SMS). A channel no medium lists falls back to every direct medium in table order.

    def address(self, customer: Customer) -> str | None:
        """Where this medium reaches the customer (e-mail address, E.164 number, "platform:handle"); None when it
        cannot reach them. Pure."""
        ...

    async def send(self, event: ComplaintEvent, address: str) -> str | None:
        """Render and send one message; return only once the receiving end has accepted it, and raise otherwise
        (``retry.classify_failure`` decides whether the error may pass). A resend of the same event must carry the
        same id (the medium's message id rule), so receivers can drop the repeat. Returns the message id replies
        will quote (an e-mail's Message-ID), which links them to the complaint, or None."""
        ...


@dataclass(frozen=True)
class Delivery:
    medium: str  # a name from the media table
    address: str  # e-mail address, E.164 phone number, or "platform:handle" for social


MediaTable = Mapping[str, Medium]


def media_table(media: Iterable[Medium]) -> dict[str, Medium]:
    """The table the dispatcher reads, by name, in preference order (the order breaks ties in the choice below)."""
    table: dict[str, Medium] = {}
    for medium in media:
        if not medium.name or medium.name != medium.name.strip().lower() or ":" in medium.name:
            raise ValueError(f"a medium's name must be lower-case without ':' or spaces: {medium.name!r}")
        if medium.name in table:
            raise ValueError(f"two media named {medium.name!r}")
        table[medium.name] = medium
    return table


def _reply_media(event: ComplaintEvent) -> tuple[str, ...]:
    """The media the complaint's intake channel answers on by default (its registered ``ChannelInfo``)."""
    info = channel_info(event.channel) if event.channel is not None else None
    return info.reply_media if info else ()


def _direct_delivery(event: ComplaintEvent, customer: Customer, media: MediaTable) -> Delivery | None:
    direct = [m for m in media.values() if m.direct]
    candidates: list[Medium] = []
    if customer.preferred_contact is not None:
        candidates.extend(m for m in direct if customer.preferred_contact in m.serves_preferences)
    candidates.extend(media[name] for name in _reply_media(event) if name in media and media[name].direct)
    candidates.extend(direct)
    for medium in candidates:
        address = medium.address(customer)
        if address:
            return Delivery(medium.name, address)
    return None


def choose_media(event: ComplaintEvent, media: MediaTable) -> list[Delivery]:
    """The deliveries for one customer-facing event; [] when we have no way to reach the customer.

    One direct medium (the customer's preference, else one that answers the channel the complaint came by, else
    any medium that reaches them, in table order). Companion media (the social reply suggestion inviting a private
    message, with the complaint number and nothing personal) go alongside when the customer prefers them or the
    complaint came by a channel they answer.
    """
    if event.kind not in CUSTOMER_FACING_EVENTS or event.customer is None:
        return []
    customer = event.customer
    deliveries: list[Delivery] = []
    direct = _direct_delivery(event, customer, media)
    if direct:
        deliveries.append(direct)
    for medium in media.values():
        if medium.direct:
            continue
        wanted = customer.preferred_contact in medium.serves_preferences or medium.name in _reply_media(event)
        address = medium.address(customer) if wanted else None
        if address:
            deliveries.append(Delivery(medium.name, address))
    return deliveries


def is_urgent(event: ComplaintEvent) -> bool:
    """Urgent messages ignore quiet hours: critical cases, requests waiting on the customer, apologies."""
    return event.severity == Severity.critical or event.kind in URGENT_KINDS
