"""Router end to end: departments with reasons, repeat complainants, storms, transfers, extensions, SLA breaches.

A stack of its own (topic prefix ``rt.``) so storm counts and SLA sweeps see only this file's complaints.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest

from schemas import ComplaintEvent, RoutedComplaint
from tests.conftest import REPO, RunningStack, run_cli, stack_env, start_stack, stop_stack
from tests.kafka_support import fields, records_now, wait_for_records

PREFIX = "rt."
STORM_THRESHOLD = 4


@pytest.fixture(scope="module")
def router_stack(embedded, smtp_capture, tmp_path_factory) -> Any:
    var_dir = tmp_path_factory.mktemp("router-stack")
    env = stack_env(
        embedded,
        var_dir,
        PREFIX,
        SMTP_HOST=smtp_capture.host,
        SMTP_PORT=str(smtp_capture.port),
        COMPLAINTFLOW_STORM_THRESHOLD=str(STORM_THRESHOLD),
        COMPLAINTFLOW_STORM_WINDOW_S="10000000",
        COMPLAINTFLOW_SLA_SWEEP_INTERVAL_S="3600",
    )
    running = start_stack(["run"], env, var_dir)
    yield running
    stop_stack(running)


def _submit(stack: RunningStack, description: str, **extra: Any) -> str:
    body = {
        "name": "Test Customer",
        "email": f"cust-{uuid.uuid4().hex[:10]}@example.com",
        "description": description,
        "consent": True,
        **extra,
    }
    status, answer = stack.post("/api/v1/complaints", body)
    assert status == 202, answer
    return answer["complaint_id"]


def _routed(
    stack: RunningStack, complaint_id: str, topic: str = "complaints.routed", revision: int = 1, timeout: float = 45.0
) -> RoutedComplaint:
    found = wait_for_records(
        stack.env["KAFKA_BOOTSTRAP_SERVERS"],
        PREFIX + topic,
        lambda r: r.get("complaint", {}).get("complaint_id") == complaint_id and r.get("revision") == revision,
        timeout=timeout,
    )
    assert found, f"{complaint_id} (revision {revision}) never reached {PREFIX}{topic}:\n{stack.log_text()[-3000:]}"
    return RoutedComplaint.model_validate(fields(found[0]))


def _events(
    stack: RunningStack, complaint_id: str, kind: str, count: int = 1, timeout: float = 30.0
) -> list[ComplaintEvent]:
    found = wait_for_records(
        stack.env["KAFKA_BOOTSTRAP_SERVERS"],
        PREFIX + "complaints.events",
        lambda r: r.get("complaint_id") == complaint_id and r.get("kind") == kind,
        count,
        timeout,
    )
    return [ComplaintEvent.model_validate(fields(r)) for r in found]


def _cli(stack: RunningStack, *args: str) -> str:
    return run_cli(*args, env=stack.env)


def _retrain_tool(stack: RunningStack, *args: str) -> str:
    """``python -m tools.model retrain ARGS`` from the repository, as a person retraining the model runs it."""
    result = subprocess.run(
        [sys.executable, "-m", "tools.model", "retrain", *args],
        env=stack.env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


CASES = [
    ("My credit card was charged the annual fee twice this year and the card centre will not refund it.", "cards"),
    ("信用卡昨晚被盗刷了三笔，共计12000元，我本人从未授权这些交易，卡一直在我身上。", "fraud"),
    ("手机银行APP升级后一直闪退，登录不了，转账也做不了，已经三天了。", "digital_channels"),
    ("网点柜员态度非常恶劣，对老人大声呵斥，排队等了两个小时才办上业务。", "branch_service"),
    ("The debt collector calls me at work every day and threatened to tell my employer about the debt.", "collections"),
    (
        "There is an account on my credit report that is not mine and the bureau refuses to remove it.",
        "credit_reporting",
    ),
    ("My mortgage servicer misapplied my monthly payment and charged me a late fee on my home loan.", "lending"),
]


@pytest.mark.parametrize(("text", "department"), CASES, ids=[d for _, d in CASES])
def test_complaints_land_on_their_department_topic_with_reasons(router_stack, text, department) -> None:
    complaint_id = _submit(router_stack, text)
    routed = _routed(router_stack, complaint_id, f"dept.{department}")
    assert routed.department.value == department
    assert routed.explanations, "a department must be able to see why the complaint came to it"
    assert routed.rule
    assert routed.deadlines.decision_by > routed.complaint.received_at


def test_repeat_complainant_is_raised(router_stack) -> None:
    email = f"repeat-{uuid.uuid4().hex[:8]}@example.com"
    text = "My checking account was charged an overdraft fee even though I had enough money in it."
    first = _routed(router_stack, _submit(router_stack, text, email=email))
    second = _routed(router_stack, _submit(router_stack, text + " This is the second time I complain.", email=email))
    assert first.repeat_count == 0
    assert second.repeat_count >= 1
    assert any("repeat" in s for s in second.signals)
    order = ["low", "medium", "high", "critical"]
    assert order.index(second.severity.value) >= order.index(first.severity.value)


def test_storm_raises_one_incident(router_stack) -> None:
    ids = [
        _submit(router_stack, f"ATM吞了我的银行卡，取款失败但是账户被扣款了。编号{i}")
        for i in range(STORM_THRESHOLD + 2)
    ]
    routed = [_routed(router_stack, cid) for cid in ids]
    flagged = [r for r in routed if r.incident_id]
    assert len(flagged) >= 3, [r.signals for r in routed]
    incident_id = flagged[0].incident_id
    assert all(r.incident_id == incident_id for r in flagged)
    bootstrap = router_stack.env["KAFKA_BOOTSTRAP_SERVERS"]
    assert wait_for_records(bootstrap, PREFIX + "complaints.events", lambda r: r.get("kind") == "incident", timeout=20)
    incidents = records_now(
        bootstrap,
        PREFIX + "complaints.events",
        lambda r: r.get("kind") == "incident" and r["details"]["incident_id"] == incident_id,
    )
    assert len([r for r in incidents if r["details"]["role"] == "raised"]) == 1
    # The complaints counted before the threshold are linked to the incident by an event each.
    linked = {r["complaint_id"] for r in incidents if r["details"]["role"] == "linked"}
    assert {r.complaint.complaint_id for r in routed if not r.incident_id} <= linked


def test_transfer_reroutes_to_the_new_department(router_stack, smtp_capture) -> None:
    email = f"transfer-{uuid.uuid4().hex[:8]}@example.com"
    complaint_id = _submit(
        router_stack, "My credit card payment to my landlord was sent to the wrong account.", email=email
    )
    first = _routed(router_stack, complaint_id)
    target = "payments" if first.department.value != "payments" else "cards"
    number = first.complaint.complaint_number
    _cli(
        router_stack,
        "dept",
        "update",
        number,
        "--status",
        "transferred",
        "--to",
        target,
        "--reason",
        "wrong department",
        "--department",
        first.department.value,
    )
    moved = _routed(router_stack, complaint_id, f"dept.{target}", revision=2)
    assert moved.department.value == target
    assert any("transferred" in e for e in moved.explanations)
    assert _events(router_stack, complaint_id, "assigned")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and len(smtp_capture.handler.find(lambda m: email in str(m["To"]))) < 2:
        time.sleep(0.2)
    assigned_mail = smtp_capture.handler.find(lambda m: email in str(m["To"]))[1:]
    assert assigned_mail, "the customer hears which department now handles the complaint"


def test_extension_moves_the_deadline_and_tells_the_customer(router_stack) -> None:
    complaint_id = _submit(router_stack, "我的定期存款到期后银行没有按约定自动转存，利息损失了约800元。")
    routed = _routed(router_stack, complaint_id)
    number = routed.complaint.complaint_number
    _cli(
        router_stack,
        "dept",
        "update",
        number,
        "--status",
        "extended",
        "--reason",
        "需调取监控录像核实",
        "--department",
        routed.department.value,
    )
    [event] = _events(router_stack, complaint_id, "extended")
    assert event.deadline is not None and event.deadline > routed.deadlines.decision_by
    assert event.details["reason"] == "需调取监控录像核实"
    assert datetime.fromisoformat(event.details["previous_deadline"]) == routed.deadlines.decision_by

    # A second extension needs a named approver: without one it is refused (the sender is told why), with one
    # it applies.
    refused = subprocess.run(
        [sys.executable, "-m", "complaintflow.cli", "dept", "update", number, "--status", "extended",
         "--reason", "案情复杂", "--department", routed.department.value],
        env=router_stack.env, cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert refused.returncode == 1, refused.stderr
    assert (
        refused.stdout.startswith(f"refused extended for {number}: extension refused") and "approver" in refused.stdout
    )
    _cli(
        router_stack,
        "dept",
        "update",
        number,
        "--status",
        "extended",
        "--reason",
        "案情复杂",
        "--approver",
        "李行长",
        "--department",
        routed.department.value,
    )
    events = _events(router_stack, complaint_id, "extended", count=2)
    assert len(events) == 2 and events[1].deadline > events[0].deadline


def test_sla_breach_is_emitted_once(router_stack) -> None:
    complaint_id = _submit(router_stack, "The bank has not answered my letter about a wrong transfer for weeks.")
    routed = _routed(router_stack, complaint_id)
    later = (routed.deadlines.decision_by + timedelta(days=1)).isoformat()
    first = _cli(router_stack, "sla", "sweep", "--at", later)
    assert "emitted" in first and not first.startswith("emitted 0")
    assert _cli(router_stack, "sla", "sweep", "--at", later).startswith("emitted 0")

    mine = records_now(
        router_stack.env["KAFKA_BOOTSTRAP_SERVERS"],
        PREFIX + "complaints.events",
        lambda r: r.get("complaint_id") == complaint_id,
    )
    breaches = [r for r in mine if r["kind"] == "sla_breached"]
    assert sorted(r["details"]["deadline_kind"] for r in breaches) == ["decision", "first_contact"]
    assert len([r for r in mine if r["kind"] == "sla_warning"]) == 2
    assert any(r["kind"] == "escalated" for r in mine)


def test_classify_command_meets_its_contract(tmp_path) -> None:
    lines = [
        {"id": "a", "text": "信用卡被盗刷5万元，我要向金融监管总局投诉并找媒体曝光", "channel": "webform"},
        {"id": "b", "text": "The debt collector keeps calling my parents.", "subject": "harassment"},
        {"id": "c"},
    ]
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join(json.dumps(x, ensure_ascii=False) for x in lines) + "\n", encoding="utf-8")
    stdout = run_cli("classify", str(source))
    out = [json.loads(line) for line in stdout.splitlines()]
    assert [o["id"] for o in out] == ["a", "b", "c"]
    for record in out[:2]:
        assert {
            "id",
            "business_line",
            "reason",
            "department",
            "severity",
            "escalate_to",
            "confidence",
            "signals",
        } <= set(record)
        assert 0 <= record["confidence"] <= 1 and isinstance(record["signals"], list)
    assert out[0]["department"] == "fraud" and out[0]["severity"] == "critical"
    assert out[0]["escalate_to"] == "consumer_protection"
    assert out[1]["department"] == "collections"
    assert "error" in out[2]


def test_department_notes_and_reasons_travel_masked_on_the_event_log(router_stack) -> None:
    complaint_id = _submit(router_stack, "信用卡年费被重复收取，要求退还。")
    routed = _routed(router_stack, complaint_id)
    note = "卡号6222021234567894及身份证11010519491231002X，已联系客户 138 1234 5678"
    for status, option, text in (("investigating", "--note", note), ("rejected", "--reason", note)):
        _cli(
            router_stack,
            "dept",
            "update",
            routed.complaint.complaint_number,
            "--status",
            status,
            option,
            text,
            "--department",
            routed.department.value,
        )
    [progress] = _events(router_stack, complaint_id, "in_progress")
    [rejected] = _events(router_stack, complaint_id, "rejected")
    for masked in (progress.details["note"], rejected.details["reason"]):
        assert masked == "卡号[CARD ****7894]及身份证[ID ****002X]，已联系客户 [PHONE ****5678]"


def test_a_transfer_is_a_correction_the_next_retrain_reads(router_stack, tmp_path) -> None:
    complaint_id = _submit(router_stack, "I sent money abroad through the bank and it never arrived at the other end.")
    first = _routed(router_stack, complaint_id)
    target = "payments" if first.department.value != "payments" else "retail_banking"
    _cli(
        router_stack,
        "dept",
        "update",
        first.complaint.complaint_number,
        "--status",
        "transferred",
        "--to",
        target,
        "--reason",
        "a transfer abroad",
        "--department",
        first.department.value,
    )
    _routed(router_stack, complaint_id, f"dept.{target}", revision=2)
    corrections = tmp_path / "corrections.jsonl"
    deadline = time.monotonic() + 30
    found: list[dict[str, Any]] = []
    while time.monotonic() < deadline and not found:  # the correction is sent with the transfer's other records
        _retrain_tool(router_stack, "--collect-only", "--corrections-out", str(corrections))
        lines = [json.loads(line) for line in corrections.read_text(encoding="utf-8").splitlines() if line]
        found = [c for c in lines if c["complaint_id"] == complaint_id]
    assert found, f"no correction for {complaint_id}:\n{router_stack.log_text()[-3000:]}"
    correction = found[0]
    assert (correction["from_department"], correction["to_department"]) == (first.department.value, target)
    assert correction["text"] == first.complaint.redacted_text
    # ... and the training command reads that file as it is.
    from tools.model.training import load_corrections

    assert [(c.complaint_id, c.department) for c in load_corrections(corrections)][-1:] == [(complaint_id, target)]
