"""The one topic registry: every topic of the design, its key and its partition count."""

from __future__ import annotations

from dataclasses import dataclass

from schemas import Channel, Department, channel_names


@dataclass(frozen=True)
class TopicSpec:
    name: str
    key: str
    value: str
    partitions: int | None = None  # None: the configured default


RAW_PREFIX = "complaints.raw."
NORMALIZED = "complaints.normalized"
ROUTED = "complaints.routed"
STATUS = "complaints.status"
STATUS_OUTCOMES = "complaints.status.outcomes"
EVENTS = "complaints.events"
DELIVERIES = "complaints.deliveries"
FOLLOW_UPS = "complaints.followups"
DEADLETTER = "complaints.deadletter"
CORRECTIONS = "complaints.corrections"
NOTIFICATIONS_SOCIAL = "notifications.social"
DEPARTMENT_PREFIX = "dept."


def department_topic(department: Department | str) -> str:
    return f"{DEPARTMENT_PREFIX}{Department(department).value}"


def raw_topic(channel: Channel | str) -> str:
    """``complaints.raw.<channel>`` of a registered channel (``schemas.channels``); an unknown name is a ValueError."""
    return f"{RAW_PREFIX}{Channel(channel).value}"


def registry() -> tuple[TopicSpec, ...]:
    """Every topic of the design: one raw topic per registered channel, then the shared ones."""
    return (*(TopicSpec(raw_topic(c), "channel message id", "RawEnvelope") for c in channel_names()), *SHARED)


SHARED: tuple[TopicSpec, ...] = (
    TopicSpec(NORMALIZED, "complaint id", "Complaint"),
    TopicSpec(ROUTED, "complaint id", "RoutedComplaint"),
    *(
        TopicSpec(department_topic(d), "complaint id", "RoutedComplaint (new, transfer in) or DepartmentRecord")
        for d in Department
    ),
    TopicSpec(STATUS, "complaint id", "StatusUpdate"),
    TopicSpec(STATUS_OUTCOMES, "update id", "StatusOutcome"),
    TopicSpec(EVENTS, "complaint id", "ComplaintEvent"),
    TopicSpec(DELIVERIES, "complaint id", "ComplaintEvent (notification_sent, _deferred, _failed)"),
    TopicSpec(FOLLOW_UPS, "complaint id", "ComplaintEvent (follow_up_received), for the router"),
    TopicSpec(DEADLETTER, "original key", "DeadLetter"),
    TopicSpec(CORRECTIONS, "complaint id", "RoutingCorrection"),
    TopicSpec(NOTIFICATIONS_SOCIAL, "complaint id", "social reply suggestion (JSON)"),
)


class Topics:
    """Topic names as this deployment sees them (an optional prefix isolates test or tenant stacks)."""

    def __init__(self, prefix: str = "") -> None:
        self.prefix = prefix

    def name(self, base: str) -> str:
        return f"{self.prefix}{base}"

    def raw(self, channel: Channel | str) -> str:
        return self.name(raw_topic(channel))

    @property
    def normalized(self) -> str:
        return self.name(NORMALIZED)

    @property
    def routed(self) -> str:
        return self.name(ROUTED)

    @property
    def status(self) -> str:
        return self.name(STATUS)

    @property
    def status_outcomes(self) -> str:
        return self.name(STATUS_OUTCOMES)

    @property
    def events(self) -> str:
        return self.name(EVENTS)

    @property
    def deliveries(self) -> str:
        return self.name(DELIVERIES)

    @property
    def followups(self) -> str:
        return self.name(FOLLOW_UPS)

    @property
    def deadletter(self) -> str:
        return self.name(DEADLETTER)

    @property
    def corrections(self) -> str:
        return self.name(CORRECTIONS)

    @property
    def notifications_social(self) -> str:
        return self.name(NOTIFICATIONS_SOCIAL)

    def department(self, department: Department | str) -> str:
        return self.name(department_topic(department))

    def all(self, default_partitions: int) -> dict[str, int]:
        return {self.name(spec.name): spec.partitions or default_partitions for spec in registry()}
