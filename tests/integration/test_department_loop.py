"""The department loop end to end: every ``dept update`` gets an answer, everything a department must act on
reaches its queue, typed, and reads well in ``dept tail``.

A stack of its own (topic prefix ``dl.``) on the session's broker and Redis; CLI commands run as real processes.
"""

from __future__ import annotations

import json
import smtplib
import subprocess
import sys
import uuid
from datetime import date, timedelta
from email.message import EmailMessage
from email.policy import SMTP
from typing import Any

import pytest

from kernel.settings import Settings
from schemas import DepartmentRecordKind, RoutedComplaint, complaint_number_for
from services.router.department_client import DepartmentClient
from tests.conftest import REPO, RunningStack, stack_env, start_stack, stop_stack
from tests.kafka_support import fields, records_now, wait_for_records

pytestmark = pytest.mark.integration

PREFIX = "dl."
INTAKE_ADDRESS = "tousu@bank.example"


@pytest.fixture(scope="module")
def loop_stack(embedded, smtp_capture, tmp_path_factory) -> Any:
    var_dir = tmp_path_factory.mktemp("department-loop")
    env = stack_env(
        embedded,
        var_dir,
        PREFIX,
        SMTP_HOST=smtp_capture.host,
        SMTP_PORT=str(smtp_capture.port),
        COMPLAINTFLOW_COMPLAINT_ADDRESSES=INTAKE_ADDRESS,
        COMPLAINTFLOW_SLA_SWEEP_INTERVAL_S="3600",
    )
    running = start_stack(["run"], env, var_dir)
    yield running
    stop_stack(running)


def cli(stack: RunningStack, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "complaintflow.cli", *args],
        env=stack.env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    print(f"$ complaintflow {' '.join(args)}  → exit {result.returncode}\n{result.stdout}{result.stderr}")
    return result


def submit(stack: RunningStack, description: str, email: str | None = None) -> tuple[str, str]:
    email = email or f"loop-{uuid.uuid4().hex[:10]}@example.com"
    body = {"name": "Test Customer", "email": email, "description": description, "consent": True}
    status, answer = stack.post("/api/v1/complaints", body)
    assert status == 202, answer
    return answer["complaint_id"], email


def routed_of(stack: RunningStack, complaint_id: str) -> RoutedComplaint:
    found = wait_for_records(
        stack.env["KAFKA_BOOTSTRAP_SERVERS"],
        PREFIX + "complaints.routed",
        lambda r: r.get("complaint", {}).get("complaint_id") == complaint_id and r.get("revision") == 1,
        timeout=45,
    )
    assert found, f"{complaint_id} was never routed:\n{stack.log_text()[-3000:]}"
    return RoutedComplaint.model_validate(fields(found[0]))


def queue_records(stack: RunningStack, department: str, complaint_id: str, kind: str, count: int = 1) -> list[dict]:
    found = wait_for_records(
        stack.env["KAFKA_BOOTSTRAP_SERVERS"],
        f"{PREFIX}dept.{department}",
        lambda r: r.get("complaint_id") == complaint_id and r.get("kind") == kind,
        count,
        timeout=45,
    )
    assert len(found) >= count, f"no {kind} for {complaint_id} on dept.{department}:\n{stack.log_text()[-3000:]}"
    return found


def customer_mail(stack: RunningStack, sender: str, subject: str, body: str, attachment: bytes | None = None) -> str:
    message_id = f"<loop.{uuid.uuid4().hex[:12]}@163.com>"
    message = EmailMessage()
    message["From"] = sender
    message["To"] = INTAKE_ADDRESS
    message["Subject"] = subject
    message["Message-ID"] = message_id
    message.set_content(body)
    if attachment is not None:
        message.add_attachment(attachment, maintype="image", subtype="png", filename="bank-sms.png")
    with smtplib.SMTP("127.0.0.1", stack.smtp_intake_port, timeout=30) as client:
        assert not client.sendmail(sender, [INTAKE_ADDRESS], message.as_bytes(policy=SMTP))
    return message_id


def tail(stack: RunningStack, department: str) -> str:
    group = f"{PREFIX}tail-{uuid.uuid4().hex[:8]}"  # a group of its own reads the queue from its beginning
    result = cli(stack, "dept", "tail", department, "--group", group, "--idle-timeout", "12")
    assert result.returncode == 0, result.stderr
    return result.stdout


def lines_of(output: str, number: str) -> list[str]:
    return [line for line in output.splitlines() if number in line]


# --- an answer for every department action ------------------------------------------------------------------
def test_a_refused_extension_exits_1_with_the_reason_and_the_customer_hears_nothing(loop_stack) -> None:
    complaint_id, _ = submit(loop_stack, "我的定期存款到期后银行没有按约定自动转存，利息损失了约800元。")
    routed = routed_of(loop_stack, complaint_id)
    number, department = routed.complaint.complaint_number, routed.department.value

    first = cli(loop_stack, "dept", "update", number, "--status", "extended", "--reason", "需调取监控录像核实",
                "--department", department)  # fmt: skip
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith(f"applied extended to {number}: decision now due ")

    second = cli(loop_stack, "dept", "update", number, "--status", "extended", "--reason", "案情复杂",
                 "--department", department)  # fmt: skip
    assert second.returncode == 1
    assert second.stdout.startswith(f"refused extended for {number}: extension refused: ")
    assert "approver" in second.stdout

    bootstrap = loop_stack.env["KAFKA_BOOTSTRAP_SERVERS"]
    extended = records_now(
        bootstrap,
        PREFIX + "complaints.events",
        lambda r: r.get("complaint_id") == complaint_id and r.get("kind") == "extended",
    )
    assert len(extended) == 1, "the refused extension told the customer nothing"
    assert not records_now(bootstrap, PREFIX + "complaints.deadletter", lambda r: r.get("complaint_id") == complaint_id)

    approved = cli(loop_stack, "dept", "update", number, "--status", "extended", "--reason", "案情复杂",
                   "--approver", "李行长", "--department", department)  # fmt: skip
    assert approved.returncode == 0 and approved.stdout.startswith("applied extended")


def test_an_unknown_number_is_refused_with_exit_1(loop_stack) -> None:
    result = cli(loop_stack, "dept", "update", "CF-20200101-ZZZZZZ", "--status", "accepted", "--department", "cards")
    assert result.returncode == 1
    assert "refused accepted for CF-20200101-ZZZZZZ: no complaint has the number CF-20200101-ZZZZZZ" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--status", "transferred", "--to", "nonexistent_dept"],
            "unknown department to transfer to 'nonexistent_dept'",
        ),
        (["--status", "accepted", "--department", "nonexistent_dept"], "unknown department 'nonexistent_dept'"),
        (["--status", "transferred"], "a transfer needs the department to transfer to"),
        (["--status", "accepted", "--approver", "李行长"], "--approver only goes with --status extended"),
    ],
    ids=["unknown-target", "unknown-sender", "transfer-without-to", "approver-without-extension"],
)
def test_an_update_that_cannot_be_right_exits_2_before_sending(loop_stack, args, message) -> None:
    number = complaint_number_for(f"never-sent-{uuid.uuid4()}", date(2026, 11, 22))
    result = cli(loop_stack, "dept", "update", number, *args)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr
    if "unknown department" in message:
        assert "the routing table's departments are: branch_service, cards" in result.stderr
    assert not records_now(
        loop_stack.env["KAFKA_BOOTSTRAP_SERVERS"],
        PREFIX + "complaints.status",
        lambda r: r.get("complaint_number") == number,
    ), "nothing was sent"


def test_a_bad_status_name_exits_2(loop_stack) -> None:
    result = cli(loop_stack, "dept", "update", "CF-20261122-7K3Q9M", "--status", "done")
    assert result.returncode == 2 and "'done' is not one of" in result.stderr


# --- everything a department must act on reaches its queue ----------------------------------------------------
def test_follow_ups_need_info_replies_sla_alerts_and_the_breach_escalation_reach_their_queues(loop_stack) -> None:
    complaint_id, email = submit(
        loop_stack,
        "信用卡昨晚被盗刷了三笔，共计12000元，我本人从未授权这些交易，卡一直在我身上。卡号6222021234567890123",
    )
    routed = routed_of(loop_stack, complaint_id)
    number, department = routed.complaint.complaint_number, routed.department.value
    assert department != "consumer_protection", "the breach escalation goes to another department than the owner"

    # A customer follow-up with a scanned attachment: masked text, attachment listed, on the owner's queue.
    scan = b"\x89PNG\r\n\x1a\n" + b"0" * 2048
    text = "补充：银行短信截图见附件，卡号6222021234567890123，盗刷时我人在北京。"
    customer_mail(loop_stack, email, f"关于投诉 {number} 的补充材料", text, scan)
    [follow_up] = queue_records(loop_stack, department, complaint_id, "follow_up")
    assert "6222021234567890123" not in follow_up["follow_up"]["text"]
    assert "盗刷时我人在北京" in follow_up["follow_up"]["text"]
    [attachment] = follow_up["follow_up"]["attachments"]
    assert (attachment["filename"], attachment["content_type"]) == ("bank-sms.png", "image/png")

    # The department asks for information; the customer's answer arrives typed as a need-info reply.
    asked = cli(loop_stack, "dept", "update", number, "--status", "need_info", "--note", "请提供报警回执",
                "--department", department)  # fmt: skip
    assert asked.returncode == 0 and asked.stdout.startswith(f"applied need_info to {number}")
    customer_mail(loop_stack, email, f"Re: 投诉 {number}", "报警回执编号 JJ2026112201，已在派出所登记。")
    [reply] = queue_records(loop_stack, department, complaint_id, "need_info_reply")
    assert "JJ2026112201" in reply["follow_up"]["text"]

    # The need-info request was the first contact, so the decision deadline is the clock left: its warning, then
    # its breach, which also escalates to consumer protection as a record of its own.
    warn_at = routed.complaint.received_at + (routed.deadlines.decision_by - routed.complaint.received_at) * 0.85
    assert cli(loop_stack, "sla", "sweep", "--at", warn_at.isoformat()).returncode == 0
    [warning] = queue_records(loop_stack, department, complaint_id, "sla_warning")
    assert warning["alert"]["deadline_kind"] == "decision"
    later = (routed.deadlines.decision_by + timedelta(days=1)).isoformat()
    assert cli(loop_stack, "sla", "sweep", "--at", later).returncode == 0
    [breach] = queue_records(loop_stack, department, complaint_id, "sla_breach")
    assert breach["alert"]["deadline_kind"] == "decision"
    queue_records(loop_stack, "consumer_protection", complaint_id, "escalation")

    # Consumer protection's client keeps the breach escalations, even when the routing itself was escalated
    # to it before (same complaint, same routing id): each record has an id of its own.
    client = DepartmentClient(
        loop_stack.env["KAFKA_BOOTSTRAP_SERVERS"],
        "consumer_protection",
        Settings(COMPLAINTFLOW_TOPIC_PREFIX=PREFIX),
        group_id=f"{PREFIX}cp-{uuid.uuid4().hex[:8]}",
    )
    try:
        mine = [r for r in client.records(idle_timeout_s=12) if r.complaint_id == complaint_id]
    finally:
        client.close()
    escalations = [r for r in mine if r.kind == DepartmentRecordKind.escalation and r.escalation]
    causes = sorted(r.escalation.cause for r in escalations if r.escalation.cause.startswith("sla_breached"))
    assert causes == ["sla_breached:decision"]
    assert all(r.routed.complaint.complaint_number == number for r in escalations)

    output = tail(loop_stack, department)
    shown = lines_of(output, number)
    kinds = [line.split("]")[0] + "]" for line in shown if line.startswith("[")]
    for kind in ("[complaint]", "[follow_up]", "[need_info_reply]", "[sla_warning]", "[sla_breach]"):
        assert kind in kinds, shown
    assert "    attachment: bank-sms.png (image/png, 2056 bytes)" in output.splitlines()
    assert "[escalation]" in tail(loop_stack, "consumer_protection")


def test_a_transfer_in_reaches_the_new_department_and_its_tail(loop_stack) -> None:
    complaint_id, _ = submit(loop_stack, "My credit card payment to my landlord was sent to the wrong account.")
    routed = routed_of(loop_stack, complaint_id)
    number = routed.complaint.complaint_number
    target = "payments" if routed.department.value != "payments" else "cards"
    moved = cli(loop_stack, "dept", "update", number, "--status", "transferred", "--to", target, "--reason",
                "wrong department", "--department", routed.department.value)  # fmt: skip
    assert moved.returncode == 0
    assert moved.stdout.startswith(f"applied transferred to {number}: now with {target}")
    again = cli(loop_stack, "dept", "update", number, "--status", "transferred", "--to", target, "--department", target)
    assert again.returncode == 1 and f"already with {target}" in again.stdout

    shown = lines_of(tail(loop_stack, target), number)
    assert any(line.startswith(f"[transfer_in] {number}") for line in shown), shown


def test_an_update_that_is_not_a_status_update_is_refused_and_dead_lettered(loop_stack) -> None:
    from kafka import KafkaProducer

    bootstrap = loop_stack.env["KAFKA_BOOTSTRAP_SERVERS"]
    update_id = f"upd-{uuid.uuid4()}"
    body = {"update_id": update_id, "complaint_number": "CF-20261122-7K3Q9M", "status": "done", "at": "2026-11-22"}
    producer = KafkaProducer(bootstrap_servers=bootstrap)
    try:
        producer.send(PREFIX + "complaints.status", key=b"CF-20261122-7K3Q9M", value=json.dumps(body).encode())
        producer.flush(30)
    finally:
        producer.close()
    [outcome] = wait_for_records(
        bootstrap, PREFIX + "complaints.status.outcomes", lambda r: r.get("update_id") == update_id
    )
    assert (outcome["outcome"], outcome["code"]) == ("refused", "invalid")
    assert "does not fit the StatusUpdate schema" in outcome["reason"]
    assert wait_for_records(
        bootstrap,
        PREFIX + "complaints.deadletter",
        lambda r: r.get("stage") == "router.status" and r.get("error_type") == "schema",
    )


def test_a_short_tail_leaves_the_queue_to_the_next_one(loop_stack) -> None:
    """A `dept tail` with a short idle timeout used to give up while its group was still joining; the broker then
    held the next member of that group back and the department saw nothing. Now each run waits for its partitions
    first: the first run shows the complaint, and a second run of the same group starts after it (nothing left)."""
    complaint_id, _ = submit(loop_stack, "The branch staff were rude and I queued for two hours to pay a bill.")
    routed = routed_of(loop_stack, complaint_id)
    group = f"{PREFIX}short-{uuid.uuid4().hex[:8]}"
    department = routed.department.value
    first = cli(loop_stack, "dept", "tail", department, "--group", group, "--idle-timeout", "1")
    assert first.returncode == 0, first.stderr
    assert lines_of(first.stdout, routed.complaint.complaint_number), first.stdout
    again = cli(loop_stack, "dept", "tail", department, "--group", group, "--idle-timeout", "1")
    assert again.returncode == 0 and routed.complaint.complaint_number not in again.stdout, again.stdout
