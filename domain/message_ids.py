"""The raw message id of each intake channel: the key a raw record is published under and the input of the
stable complaint id (``schemas.complaint_id_for``), so the same message always becomes the same complaint.

E-mail uses its Message-ID (``services.intake.envelopes.email_message_id``), a web form its submission id or
Idempotency-Key, a hotline call its call id; the two channels whose own ids are not unique on their own are
qualified here."""

from __future__ import annotations


def social_message_id(platform: str, post_id: str) -> str:
    """A post or direct message: post ids are unique only within their platform."""
    return f"{platform}:{post_id}"


def sms_message_id(gateway_message_id: str) -> str:
    """An inbound SMS: the gateway's message id, kept apart from the other channels' ids."""
    return f"sms:{gateway_message_id}"
