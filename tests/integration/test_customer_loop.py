"""Every customer gets an answer and every complaint an owner, end to end on the session's stack: an
attachment-only mail, a withheld caller, an SMS reply, a private social message, threaded notification mails,
and a need-info request that stops the decision clock until the customer answers.

Inputs carry unique ids, addresses and phone numbers, so these tests share the stack with the other files.
"""

from __future__ import annotations

import random
import smtplib
import time
import urllib.parse
import urllib.request
import uuid
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from typing import Any

import pytest
from kafka import KafkaProducer

from kernel.embedded import EmbeddedStack
from kernel.topics import Topics
from schemas import ComplaintEvent, ComplaintStatus, RoutedComplaint, StatusUpdate
from services.intake import samples
from tests.kafka_support import fields, records_now, wait_for_records

pytestmark = pytest.mark.integration

TOPICS = Topics("e2e.")
INTAKE_ADDRESS = "tousu@bank.example"


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


def mobile() -> str:
    """A valid Chinese mobile number no other test uses."""
    return f"+86139{random.randrange(10**8):08d}"


def bootstrap(embedded: EmbeddedStack) -> str:
    return embedded.kafka_bootstrap_servers or ""


def routed_on(embedded: EmbeddedStack, topic: str, match: Any, timeout: float = 45.0) -> RoutedComplaint:
    found = wait_for_records(bootstrap(embedded), topic, lambda r: match(r.get("complaint", {})), 1, timeout)
    assert found, f"nothing matching reached {topic}"
    return RoutedComplaint.model_validate(fields(found[0]))


def events(
    embedded: EmbeddedStack, complaint_id: str, kind: str, timeout: float = 45.0, count: int = 1
) -> list[ComplaintEvent]:
    found = wait_for_records(
        bootstrap(embedded),
        TOPICS.events,
        lambda r: r.get("complaint_id") == complaint_id and r.get("kind") == kind,
        count,
        timeout,
    )
    return [ComplaintEvent.model_validate(fields(r)) for r in found]


def send_status(embedded: EmbeddedStack, update: StatusUpdate) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap(embedded), acks="all")
    try:
        producer.send(TOPICS.status, key=(update.complaint_id or "").encode(), value=update.model_dump_json().encode())
        producer.flush(15)
    finally:
        producer.close()


def sms_duplicates(stack: Any) -> float:
    with urllib.request.urlopen(stack.http_url + "/metrics", timeout=10) as response:
        lines = response.read().decode().splitlines()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in lines
        if line.startswith("complaintflow_messages_total{")
        and 'outcome="duplicate"' in line
        and 'stage="intake.sms"' in line
    )


def test_attachment_only_mail_is_acknowledged_in_the_customers_thread(stack, smtp_capture, embedded):
    sender = f"{unique('scan.')}@163.com"
    message_id = f"<{unique('scan.')}@163.com>"
    mail = EmailMessage()
    mail["From"] = f"李娜 <{sender}>"
    mail["To"] = INTAKE_ADDRESS
    mail["Message-ID"] = message_id
    mail.set_content(b"\x89PNG\r\n\x1a\n" + bytes(4096), maintype="image", subtype="png", filename="投诉信.png")
    with smtplib.SMTP("127.0.0.1", stack.smtp_intake_port, timeout=30) as client:
        assert not client.sendmail(sender, [INTAKE_ADDRESS], mail.as_bytes(policy=policy.SMTP))

    routed = routed_on(embedded, TOPICS.routed, lambda c: c.get("channel_ref") == message_id)
    complaint = routed.complaint
    assert "attachment_only" in complaint.flags and "投诉信.png" in complaint.text and "image/png" in complaint.text
    assert any(e.startswith("attachment_only:") for e in routed.explanations)
    department_copy = routed_on(
        embedded, TOPICS.department(routed.department), lambda c: c.get("channel_ref") == message_id
    )
    assert "attachment_only" in department_copy.complaint.flags

    acks = smtp_capture.wait_for(lambda m: sender in str(m["To"]), timeout=45)
    assert acks, f"no acknowledgement:\n{stack.log_text()[-3000:]}"
    ack = acks[0]
    assert complaint.complaint_number in str(ack["Subject"])
    assert ack["In-Reply-To"] == message_id and message_id in str(ack["References"])


def test_withheld_caller_reaches_the_department_as_no_contact(stack, embedded):
    call = samples.hotline_payload_zh() | {"call_id": unique("CALL-WH-"), "caller_number": "withheld"}
    status, body = stack.post("/api/v1/intake/hotline", call)
    assert status == 202, body
    routed = routed_on(embedded, TOPICS.routed, lambda c: c.get("channel_ref") == call["call_id"])
    on_queue = routed_on(
        embedded, TOPICS.department(routed.department), lambda c: c.get("channel_ref") == call["call_id"]
    )
    assert on_queue.complaint.customer.phone is None and "no_contact" in on_queue.complaint.flags
    assert any(e.startswith("no_contact:") and "call-back" in e for e in on_queue.explanations)


def test_inbound_sms_threads_onto_the_senders_complaint_or_starts_one(stack, embedded):
    phone = mobile()
    call = samples.hotline_payload_zh() | {"call_id": unique("CALL-SMS-"), "caller_number": phone}
    status, body = stack.post("/api/v1/intake/hotline", call)
    assert status == 202, body
    routed = routed_on(embedded, TOPICS.routed, lambda c: c.get("channel_ref") == call["call_id"])
    complaint_id = routed.complaint.complaint_id

    duplicates_before = sms_duplicates(stack)
    by_sender = {"message_id": unique("SM"), "from": phone, "text": "补充一下，柜员姓王，当时是下午三点左右。"}
    status, answer = stack.post("/api/v1/intake/sms", by_sender)
    assert status == 202 and answer["status"] == "accepted", answer
    assert stack.post("/api/v1/intake/sms", by_sender)[0] == 202  # the gateway retries: one follow-up
    by_number = {
        "MessageSid": unique("SM"),
        "From": phone,
        "Body": f"关于{routed.complaint.complaint_number.lower()}，手续费的收据我拍照了。",
    }
    form = urllib.parse.urlencode({**by_number, "AccountSid": "AC0001", "NumSegments": "1"}).encode()
    status, answer = stack.post("/api/v1/intake/sms", form, {"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 202 and answer["message_id"] == by_number["MessageSid"], answer  # a form post, as Twilio sends

    follow_ups = wait_for_records(
        bootstrap(embedded),
        TOPICS.events,
        lambda r: r.get("kind") == "follow_up_received" and r.get("complaint_id") == complaint_id,
        2,
        45,
    )
    refs = sorted(r["details"]["channel_ref"] for r in follow_ups)
    assert refs == sorted([f"sms:{by_sender['message_id']}", f"sms:{by_number['MessageSid']}"])
    # The gateway's retry carries the same message id: it is counted as a duplicate, not attached twice.
    deadline = time.monotonic() + 30
    while sms_duplicates(stack) < duplicates_before + 1 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert sms_duplicates(stack) >= duplicates_before + 1
    again = records_now(
        bootstrap(embedded),
        TOPICS.events,
        lambda r: r.get("kind") == "follow_up_received" and r.get("complaint_id") == complaint_id,
    )
    assert len(again) == 2
    assert all(r["channel"] == "sms" for r in follow_ups)

    stranger = mobile()
    new = {
        "message_id": unique("SM"),
        "from": stranger,
        "text": "我的信用卡被冻结了，打客服电话一直没人接，请尽快处理。",
    }
    assert stack.post("/api/v1/intake/sms", new)[0] == 202
    started = routed_on(embedded, TOPICS.routed, lambda c: c.get("channel_ref") == f"sms:{new['message_id']}")
    assert started.complaint.channel.value == "sms" and started.complaint.customer.phone == stranger
    assert events(embedded, started.complaint.complaint_id, "acknowledged")


def test_private_wechat_message_gets_a_private_reply(stack, embedded):
    message = {
        "platform": "wechat",
        "post_id": unique("wx"),
        "author_handle": unique("wxid_"),
        "text": "你们的手机银行转账一直失败，钱扣了对方没收到，客服也打不通。",
        "is_public": False,
    }
    status, body = stack.post("/api/v1/intake/social", message)
    assert status == 202, body
    found = wait_for_records(
        bootstrap(embedded),
        TOPICS.notifications_social,
        lambda r: r.get("complaint_id") == body["complaint_id"] and r.get("event_kind") == "acknowledged",
        1,
        45,
    )
    assert found, f"no reply suggestion:\n{stack.log_text()[-3000:]}"
    reply = found[0]
    assert reply["visibility"] == "direct_message" and reply["handle"] == message["author_handle"]
    assert "私信" not in reply["suggested_text"] and body["complaint_number"] in reply["suggested_text"]


def test_need_info_stops_the_clock_and_the_customers_sms_reply_starts_it(stack, smtp_capture, embedded):
    email, phone = f"{unique('wait.')}@example.com", mobile()
    form = {
        "name": "赵磊",
        "email": email,
        "phone": phone,
        "description": "上个月理财产品赎回的钱到现在还没到账，客户经理说系统问题，已经等了二十天。",
        "consent": True,
    }
    status, body = stack.post("/api/v1/complaints", form)
    assert status == 202, body
    complaint_id = body["complaint_id"]
    routed = routed_on(embedded, TOPICS.routed, lambda c: c.get("complaint_id") == complaint_id)
    [ack] = smtp_capture.wait_for(lambda m: email in str(m["To"]), timeout=45)

    send_status(
        embedded,
        StatusUpdate(
            update_id=unique("upd-"),
            complaint_id=complaint_id,
            complaint_number=body["complaint_number"],
            status=ComplaintStatus.need_info,
            department=routed.department,
            note="请提供赎回申请的截图",
            at=datetime.now(UTC),
        ),
    )
    [paused] = events(embedded, complaint_id, "sla_paused")
    assert paused.deadline == routed.deadlines.decision_by

    # The request for information reaches the customer in the acknowledgement's thread.
    asked = smtp_capture.wait_for(lambda m: email in str(m["To"]) and m["Message-ID"] != ack["Message-ID"], 45)
    assert asked, f"no need-info mail:\n{stack.log_text()[-3000:]}"
    assert asked[0]["In-Reply-To"] == ack["Message-ID"] and ack["Message-ID"] in str(asked[0]["References"])

    reply = {"message_id": unique("SM"), "from": phone, "text": "截图已经发到你们邮箱了，请查收。"}
    assert stack.post("/api/v1/intake/sms", reply)[0] == 202
    [answer] = events(embedded, complaint_id, "follow_up_received")
    assert answer.details["answers"] == "need_info"
    [resumed] = events(embedded, complaint_id, "sla_resumed")
    new_deadline = datetime.fromisoformat(resumed.details["new_deadline"])
    assert new_deadline >= routed.deadlines.decision_by and resumed.deadline == new_deadline
    assert int(resumed.details["paused_s"]) >= 0

    # Asked again, and this time the answer comes another way: the department moving on starts the clock.
    def update(status: ComplaintStatus, update_id: str) -> None:
        send_status(
            embedded,
            StatusUpdate(
                update_id=update_id,
                complaint_id=complaint_id,
                complaint_number=body["complaint_number"],
                status=status,
                department=routed.department,
                note="请提供银行流水",
                at=datetime.now(UTC),
            ),
        )

    second_ask, moving_on = unique("upd-"), unique("upd-")
    update(ComplaintStatus.need_info, second_ask)
    assert events(embedded, complaint_id, "sla_paused", count=2)
    update(ComplaintStatus.investigating, moving_on)
    resumes = events(embedded, complaint_id, "sla_resumed", count=2)
    assert len({e.event_id for e in resumes}) == 2
