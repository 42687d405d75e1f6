"""The intake channels as every layer sees them: a name and the delivery media its customers are answered on by
default.

The five shipped channels are listed here (they are the ``Channel`` enum of the JSON contract). A channel added
later brings its own :class:`ChannelInfo` in its intake module (``services/intake/channels/``), whose registration
puts it here; from then on the schema fields typed ``Channel`` accept its name, the topic registry has its raw
topic and the notifier knows how to answer its customers. Nothing here imports a service.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ChannelInfo:
    name: str  # the value on the topics: ``complaints.raw.<name>``, ``Complaint.channel``
    # Delivery media tried, in order, when the customer named no preference (before any other contact we have).
    # "social" means the public reply suggestion inviting a private message; it is never a direct delivery.
    reply_media: tuple[str, ...] = ("email", "sms")


SHIPPED: tuple[ChannelInfo, ...] = (
    ChannelInfo("email", ("email",)),
    ChannelInfo("webform", ("email", "sms")),
    ChannelInfo("hotline", ("sms",)),
    ChannelInfo("social", ("social",)),
    ChannelInfo("sms", ("sms",)),
)

_REGISTRY: dict[str, ChannelInfo] = {info.name: info for info in SHIPPED}
_NAME_RULE = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_")


def register_channel(info: ChannelInfo) -> ChannelInfo:
    """Make a channel known to every layer. Registering the same info again changes nothing; another info under a
    registered name is refused (two modules claiming one channel is a mistake to see at start-up)."""
    if not info.name or not set(info.name) <= _NAME_RULE or len(info.name) > 32:
        raise ValueError(f"channel name {info.name!r}: use 1 to 32 lower-case letters, digits or underscores")
    known = _REGISTRY.get(info.name)
    if known is not None and known != info:
        raise ValueError(f"channel {info.name!r} is already registered with other details")
    _REGISTRY[info.name] = info
    return info


def unregister_channel(name: str) -> None:
    """Forget a registered channel (a test's toy channel); the shipped ones stay."""
    if any(info.name == name for info in SHIPPED):
        raise ValueError(f"{name!r} is a shipped channel")
    _REGISTRY.pop(name, None)


def channel_names() -> tuple[str, ...]:
    """Every registered channel, the shipped ones first, in registration order."""
    return tuple(_REGISTRY)


def channel_info(name: str) -> ChannelInfo | None:
    return _REGISTRY.get(str(name))


def shipped_channel(name: str) -> ChannelInfo:
    """The info of one of the shipped channels (for their intake modules)."""
    return next(info for info in SHIPPED if info.name == name)
