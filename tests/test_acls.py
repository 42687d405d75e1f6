"""The production ACL plan: each department reads only its own queue and writes complaints.status; each adapter
writes only its raw topic; the workers get what their stages read and write."""

from __future__ import annotations

from complaintflow.acls import Grant, acl_plan, adapter_principal, department_principal, kafka_acl_bindings
from kernel.topics import Topics
from schemas import Channel, Department

TOPICS = Topics("")
PLAN = acl_plan(TOPICS, "complaintflow")


def grants_of(principal: str) -> set[tuple[str, str, str]]:
    return {(g.operation, g.kind, g.name) for g in PLAN if g.principal == principal}


def test_a_department_reads_only_its_queue_and_the_answers_and_writes_only_status() -> None:
    for department in Department:
        assert grants_of(department_principal(department)) == {
            ("Read", "topic", f"dept.{department.value}"),
            ("Read", "group", f"complaintflow-dept-{department.value}"),
            ("Read", "topic", "complaints.status.outcomes"),
            ("Write", "topic", "complaints.status"),
        }


def test_an_adapter_writes_only_its_raw_topic() -> None:
    for channel in Channel:
        assert grants_of(adapter_principal(channel)) == {("Write", "topic", f"complaints.raw.{channel.value}")}


def test_workers_get_what_their_stages_read_and_write() -> None:
    intake, router, notifier = grants_of("intake"), grants_of("router"), grants_of("notifier")
    assert ("Read", "topic", "complaints.raw.email") in intake and ("Write", "topic", "complaints.normalized") in intake
    assert ("Read", "topic", "complaints.status") in router and ("Write", "topic", "dept.fraud") in router
    assert ("Read", "topic", "complaints.followups") in router  # customers' follow-ups for the departments
    assert ("Write", "topic", "complaints.followups") in intake
    assert ("Write", "topic", "complaints.status.outcomes") in router
    assert ("Read", "topic", "complaints.events") in notifier
    assert ("Write", "topic", "notifications.social") in notifier
    assert ("Write", "topic", "complaints.deliveries") in notifier
    # Nobody but the router writes a department queue, and nobody but a department reads one.
    for grant in PLAN:
        if grant.name.startswith("dept.") and not grant.prefixed:
            assert (grant.principal, grant.operation) in {("router", "Write")} | {
                (department_principal(grant.name.removeprefix("dept.")), "Read")
            }, grant
    for worker in ("intake", "router", "notifier"):
        assert ("Read", "group", f"complaintflow-{worker}") in grants_of(worker)
        assert ("Write", "topic", "complaints.deadletter") in grants_of(worker)


def test_a_topic_prefix_is_followed() -> None:
    plan = acl_plan(Topics("tenant1."), "t1")
    assert Grant("dept_cards", "Read", "topic", "tenant1.dept.cards") in plan
    assert Grant("dept_cards", "Read", "group", "t1-dept-cards") in plan


def test_bindings_for_the_broker() -> None:
    bindings = kafka_acl_bindings([Grant("dept_cards", "Read", "topic", "dept.cards")])
    [acl] = bindings
    assert acl.principal == "User:dept_cards" and acl.host == "*"  # type: ignore[attr-defined]
    assert acl.operation.name == "READ" and acl.resource_pattern.resource_name == "dept.cards"  # type: ignore[attr-defined]
