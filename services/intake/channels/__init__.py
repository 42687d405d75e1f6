"""The intake channels: one module each, registered in ONE table, :data:`CHANNELS`, which the HTTP API, the CLI,
the intake worker and the publisher read.

A channel module defines a :class:`~services.intake.channels.base.ChannelSpec`: its name and how its customers are
answered by default (a ``schemas.ChannelInfo``, which the registration hands down to ``schemas.channels`` so the
topic registry and the notifier know it), its payload model, its raw message id (``domain.message_ids``), its
normalizer and its HTTP door if it has one. Adding a channel is one module that calls :func:`register` (or one
more line in the list below).
"""

from __future__ import annotations

from schemas import register_channel, unregister_channel
from services.intake.channels import email, hotline, sms, social, webform
from services.intake.channels.base import ChannelSpec

CHANNELS: dict[str, ChannelSpec] = {}


def register(spec: ChannelSpec) -> ChannelSpec:
    """Make a channel known to the intake and, through ``schemas.channels``, to every layer."""
    known = CHANNELS.get(spec.name)
    if known is not None and known != spec:
        raise ValueError(f"intake channel {spec.name!r} is already registered")
    register_channel(spec.info)
    CHANNELS[spec.name] = spec
    return spec


def unregister(name: str) -> None:
    """Forget a registered channel (a test's toy channel); the shipped ones stay."""
    unregister_channel(name)
    CHANNELS.pop(name, None)


for _module in (email, webform, hotline, social, sms):
    register(_module.SPEC)
