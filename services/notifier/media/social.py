"""The social reply suggestion: a companion to the direct medium, for the social team on ``notifications.social``.

It carries the complaint number and an invitation to continue privately, never personal details.
"""

from __future__ import annotations

import json

from kernel.streams import Outbox
from schemas import ComplaintEvent, ContactChannel, Customer
from services.notifier.social import reply_suggestion


class SocialMedium:
    name = "social"
    direct = False  # never a direct medium: personal details must not be posted publicly
    quiet_hours = False
    serves_preferences = frozenset({ContactChannel.social})

    def __init__(self, outbox: Outbox, topic: str) -> None:
        self.outbox = outbox
        self.topic = topic

    def address(self, customer: Customer) -> str | None:
        if customer.social_platform and customer.social_handle:
            return f"{customer.social_platform}:{customer.social_handle}"
        return None

    async def send(self, event: ComplaintEvent, address: str) -> str | None:
        suggestion = reply_suggestion(event)
        # Awaited: the reply is accepted by the broker before the notification is marked sent (a record only
        # buffered in the producer dies with the process, and the redelivered event would find it "sent").
        await self.outbox.send_and_wait(
            self.topic, event.complaint_id, json.dumps(suggestion, ensure_ascii=False).encode()
        )
        return None
