"""Who may read and write which topic in production: the Kafka ACLs of every principal, from the topic registry.

- ``intake`` reads the raw topics, writes them (HTTP and SMTP entry points), the normalised complaints and the
  customers' follow-ups.
- ``router`` reads normalised complaints, status updates and the customers' follow-ups, writes the routed
  topic, every department queue, the answers to status updates and the routing corrections (transfers).
- ``notifier`` reads lifecycle events, writes the social replies and how each notification went.
- The three workers write events and dead letters, and may describe every topic (each checks at start that
  all topics exist).
- ``dept_<department>`` reads only its own queue (in its own consumer group) and the answers to updates, and writes
  only ``complaints.status``.
- ``adapter_<channel>`` (a system publishing straight to Kafka) writes only ``complaints.raw.<channel>``.

The broker's super user (``admin``) creates the topics and these ACLs; nothing else is allowed
(``allow.everyone.if.no.acl.found=false``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from kernel.topics import Topics
from schemas import Channel, Department, channel_names

Operation = Literal["Read", "Write", "Describe"]
ResourceKind = Literal["topic", "group"]
WORKERS = ("intake", "router", "notifier")


@dataclass(frozen=True, order=True)
class Grant:
    principal: str  # the SASL user name (Kafka: User:<name>)
    operation: Operation
    kind: ResourceKind
    name: str
    prefixed: bool = False  # the name is a prefix (PREFIXED pattern) rather than a literal


def department_principal(department: Department | str) -> str:
    return f"dept_{Department(department).value}"


def adapter_principal(channel: Channel | str) -> str:
    return f"adapter_{Channel(channel).value}"


def principals() -> list[str]:
    return [*WORKERS, *(department_principal(d) for d in Department), *(adapter_principal(c) for c in channel_names())]


def acl_plan(topics: Topics, group_prefix: str) -> list[Grant]:
    raw = [topics.raw(c) for c in channel_names()]
    departments = [topics.department(d) for d in Department]
    reads = {
        "intake": raw,
        "router": [topics.normalized, topics.status, topics.followups],
        "notifier": [topics.events],
    }
    writes = {
        "intake": [*raw, topics.normalized, topics.followups],
        "router": [topics.routed, *departments, topics.status_outcomes, topics.corrections],
        "notifier": [topics.notifications_social, topics.deliveries],
    }
    grants: list[Grant] = []
    for worker in WORKERS:
        grants += [Grant(worker, "Read", "topic", t) for t in reads[worker]]
        grants += [Grant(worker, "Write", "topic", t) for t in [*writes[worker], topics.events, topics.deadletter]]
        grants.append(Grant(worker, "Read", "group", f"{group_prefix}-{worker}"))
        # Describe every topic of this deployment: a worker checks at start that the topics exist.
        grants += [Grant(worker, "Describe", "topic", topics.name(p), prefixed=True) for p in _TOPIC_PREFIXES]
    for department in Department:
        principal = department_principal(department)
        grants.append(Grant(principal, "Read", "topic", topics.department(department)))
        grants.append(Grant(principal, "Read", "group", f"{group_prefix}-dept-{department.value}"))
        grants.append(Grant(principal, "Write", "topic", topics.status))
        # `dept update` waits for the router's answer to its update (read without a group).
        grants.append(Grant(principal, "Read", "topic", topics.status_outcomes))
    for channel in channel_names():
        grants.append(Grant(adapter_principal(channel), "Write", "topic", topics.raw(channel)))
    return sorted(set(grants))


_TOPIC_PREFIXES = ("complaints.", "dept.", "notifications.")


def kafka_acl_bindings(grants: list[Grant]) -> list[object]:
    """The grants as kafka-python ACL bindings (ALLOW from any host)."""
    from kafka.admin import ACL, ACLOperation, ACLPermissionType, ACLResourcePatternType, ResourcePattern, ResourceType

    return [
        ACL(
            principal=f"User:{g.principal}",
            host="*",
            operation=ACLOperation[g.operation.upper()],
            permission_type=ACLPermissionType.ALLOW,
            resource_pattern=ResourcePattern(
                ResourceType.TOPIC if g.kind == "topic" else ResourceType.GROUP,
                g.name,
                ACLResourcePatternType.PREFIXED if g.prefixed else ACLResourcePatternType.LITERAL,
            ),
        )
        for g in grants
    ]


def apply_acls(bootstrap: str, topics: Topics, group_prefix: str) -> int:
    """Create the plan's ACLs on the broker (as its super user); creating an existing ACL is harmless."""
    from kernel.kafka import admin_client

    admin = admin_client(bootstrap)
    try:
        result = admin.create_acls(kafka_acl_bindings(acl_plan(topics, group_prefix)))
    finally:
        admin.close()
    failed = result.get("failed") or []
    if failed:
        raise RuntimeError(f"{len(failed)} ACLs could not be created: {failed[:3]}")
    return len(result.get("succeeded") or [])
