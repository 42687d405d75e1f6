"""Every intake channel end to end through its real entry point: SMTP, HTTP, the kafka-python publisher and
``complaintflow import-mail``, against the session's broker, Redis, running stack and capture SMTP server.

Inputs carry unique message ids and sender addresses, so the tests share one stack without seeing each
other's complaints.
"""

from __future__ import annotations

import base64
import json
import mailbox
import re
import smtplib
import time
import urllib.request
import uuid
from collections.abc import Callable
from email.message import EmailMessage
from typing import Any

import pytest
from kafka import KafkaProducer

from kernel.embedded import EmbeddedStack
from kernel.topics import Topics
from schemas import Complaint, ComplaintEvent, DeadLetter, EventKind
from services.intake import samples
from services.intake.envelopes import email_envelope
from services.intake.publisher import ComplaintPublisher
from tests.conftest import run_cli
from tests.kafka_support import Record, fields, records_now, wait_for_records

pytestmark = pytest.mark.integration

TOPICS = Topics("e2e.")
INTAKE_ADDRESS = "tousu@bank.example"


# --- reading the topics ---------------------------------------------------------------------------


def complaints_for(embedded: EmbeddedStack, channel_ref: str, count: int = 1, timeout: float = 30.0) -> list[Complaint]:
    found = wait_for_records(
        embedded.kafka_bootstrap_servers or "",
        TOPICS.normalized,
        lambda r: r.get("channel_ref") == channel_ref,
        count,
        timeout,
    )
    return [Complaint.model_validate(fields(r)) for r in found]


def events_for(
    embedded: EmbeddedStack, match: Callable[[Record], bool], count: int = 1, timeout: float = 30.0
) -> list[ComplaintEvent]:
    found = wait_for_records(embedded.kafka_bootstrap_servers or "", TOPICS.events, match, count, timeout)
    return [ComplaintEvent.model_validate(fields(r)) for r in found]


# --- sending mail ---------------------------------------------------------------------------------


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


def personalised(raw: bytes, replacements: dict[str, str]) -> bytes:
    """A sample mail with its Message-ID, sender and the like swapped for this test's own values."""
    for old, new in replacements.items():
        assert old.encode() in raw, f"{old!r} is not in the sample"
        raw = raw.replace(old.encode(), new.encode())
    return raw


def send_mail(port: int, raw: bytes, sender: str) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        refused = client.sendmail(sender, [INTAKE_ADDRESS], raw)
    assert not refused


def plain_mail(sender: str, message_id: str, subject: str, body: str, **headers: str) -> bytes:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = INTAKE_ADDRESS
    message["Subject"] = subject
    message["Message-ID"] = message_id
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content(body)
    return message.as_bytes()


def metric_total(stack: Any, outcome: str, stage: str = "intake.email") -> float:
    with urllib.request.urlopen(stack.http_url + "/metrics", timeout=10) as response:
        text = response.read().decode()
    total = 0.0
    for line in text.splitlines():
        if (
            line.startswith("complaintflow_messages_total{")
            and f'outcome="{outcome}"' in line
            and f'stage="{stage}"' in line
        ):
            total += float(line.rsplit(" ", 1)[1])
    return total


def acks_to(smtp_capture: Any, address: str, timeout: float = 45.0) -> list[EmailMessage]:
    return smtp_capture.wait_for(lambda m: address in str(m["To"]), timeout=timeout)


@pytest.fixture(scope="module")
def acknowledged_gbk(stack: Any, smtp_capture: Any, embedded: EmbeddedStack) -> dict[str, Any]:
    """A GBK complaint mailed to the SMTP intake, normalised and acknowledged: the thread replies join."""
    sender = f"{unique('wangzhe.')}@163.com"
    message_id = f"<{unique('gbk.')}@163.com>"
    raw = personalised(
        samples.gbk_email(), {"wangzhe1988@163.com": sender, "<20261121234107.4f2a@163.com>": message_id}
    )
    send_mail(stack.smtp_intake_port, raw, sender)
    complaints = complaints_for(embedded, message_id)
    assert complaints, f"GBK mail not normalised:\n{stack.log_text()[-3000:]}"
    acks = acks_to(smtp_capture, sender)
    assert acks, f"no acknowledgement for the GBK mail:\n{stack.log_text()[-3000:]}"
    return {"sender": sender, "message_id": message_id, "complaint": complaints[0], "ack": acks[0]}


# --- e-mail ---------------------------------------------------------------------------------------


def test_gbk_email_becomes_one_complaint_with_correct_chinese_and_is_acknowledged(acknowledged_gbk):
    complaint: Complaint = acknowledged_gbk["complaint"]
    assert complaint.channel.value == "email"
    assert complaint.subject == "信用卡被盗刷5万多元，要求退款"
    assert "我是贵行信用卡持卡人王喆" in complaint.text and "合计人民币 52,380.00 元" in complaint.text
    assert complaint.customer.name == "王喆"
    assert complaint.customer.email == acknowledged_gbk["sender"]
    assert complaint.customer.phone == "+8613812345678"
    assert complaint.language.value == "zh"
    assert complaint.raw is not None and complaint.raw.topic == TOPICS.raw("email")
    for secret in ("6222 0212 3456 7894", "11010519491231002X", "138 1234 5678"):
        assert secret in complaint.text and secret not in complaint.redacted_text

    ack = acknowledged_gbk["ack"]
    assert complaint.complaint_number in str(ack["Subject"])
    assert ack["Auto-Submitted"] == "auto-generated" and ack["Message-ID"]


def test_html_only_email_yields_clean_text_without_script(stack, embedded):
    sender = f"{unique('emily.')}@example.org"
    message_id = f"<{unique('html.')}@mail.example.org>"
    raw = personalised(
        samples.html_only_email(),
        {"emily.carter@example.org": sender, "<CAF=html.only.001@mail.example.org>": message_id},
    )
    send_mail(stack.smtp_intake_port, raw, sender)
    [complaint] = complaints_for(embedded, message_id)
    assert "your ATM at the Nanjing Road branch kept my debit card" in complaint.text
    assert "Emily Carter" in complaint.text
    for markup in ("<", "track(", "font-family", "<script", "<p>"):
        assert markup not in complaint.text
    assert "html_only" in complaint.flags
    assert complaint.customer.phone == "+8613911112222"


def test_auto_replies_are_counted_and_never_answered(stack, smtp_capture, embedded):
    before = metric_total(stack, "auto_reply")
    robots = []
    for sample, old_sender, old_id in (
        (samples.out_of_office_email(), "zhang.min@corp.example.cn", "<ooo.778@corp.example.cn>"),
        (samples.bounce_email(), "MAILER-DAEMON@mx.example.net", "<bounce.1@mx.example.net>"),
    ):
        sender = f"{unique('robot.')}@corp.example.cn"
        message_id = f"<{unique('auto.')}@corp.example.cn>"
        raw = personalised(sample, {old_sender: sender, old_id: message_id})
        send_mail(stack.smtp_intake_port, raw, sender)
        robots.append((sender, message_id))

    deadline = time.monotonic() + 30
    while metric_total(stack, "auto_reply") < before + 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert metric_total(stack, "auto_reply") >= before + 2

    # A later complaint's acknowledgement shows the whole pipeline ran past the robots' mail.
    marker_sender = f"{unique('marker.')}@example.com"
    send_mail(
        stack.smtp_intake_port,
        plain_mail(
            marker_sender,
            f"<{unique('marker.')}@example.com>",
            "Card blocked abroad",
            "My card was blocked in Tokyo although I told the bank I was travelling.",
        ),
        marker_sender,
    )
    assert acks_to(smtp_capture, marker_sender), "marker complaint was not acknowledged"
    robot_ids = {message_id for _, message_id in robots}
    assert not records_now(
        embedded.kafka_bootstrap_servers or "", TOPICS.normalized, lambda r: r.get("channel_ref") in robot_ids
    )
    for sender, _ in robots:
        assert not smtp_capture.handler.find(lambda m, s=sender: s in str(m["To"]))


def test_out_of_office_answer_to_our_acknowledgement_is_recorded_on_the_complaint(
    stack, smtp_capture, embedded, acknowledged_gbk
):
    original: Complaint = acknowledged_gbk["complaint"]
    message_id = f"<{unique('ooo.')}@163.com>"
    raw = personalised(
        samples.out_of_office_email(),
        {
            "zhang.min@corp.example.cn": acknowledged_gbk["sender"],
            "<ooo.778@corp.example.cn>": message_id,
            samples.ACK_MESSAGE_ID: str(acknowledged_gbk["ack"]["Message-ID"]),
        },
    )
    send_mail(stack.smtp_intake_port, raw, acknowledged_gbk["sender"])
    [event] = events_for(embedded, lambda r: r.get("details", {}).get("channel_ref") == message_id)
    assert event.kind == EventKind.auto_reply_recorded
    assert event.complaint_id == original.complaint_id
    assert event.details["reason"] == "Auto-Submitted: auto-replied"
    assert not records_now(
        embedded.kafka_bootstrap_servers or "", TOPICS.normalized, lambda r: r.get("channel_ref") == message_id
    )
    assert len(smtp_capture.handler.find(lambda m: acknowledged_gbk["sender"] in str(m["To"]))) == 1


def test_reply_to_our_acknowledgement_is_a_follow_up_of_the_original(stack, embedded, acknowledged_gbk):
    original: Complaint = acknowledged_gbk["complaint"]
    ack_id = str(acknowledged_gbk["ack"]["Message-ID"])
    reply_id = f"<{unique('reply.')}@163.com>"
    raw = personalised(
        samples.reply_to_ack_email(original.complaint_number),
        {
            "wangzhe1988@163.com": acknowledged_gbk["sender"],
            samples.ACK_MESSAGE_ID: ack_id,
            "<20261121234107.4f2a@163.com>": acknowledged_gbk["message_id"],
            "<20261122110200.9c1d@163.com>": reply_id,
        },
    )
    send_mail(stack.smtp_intake_port, raw, acknowledged_gbk["sender"])

    [event] = events_for(embedded, lambda r: r.get("details", {}).get("channel_ref") == reply_id)
    assert event.kind == EventKind.follow_up_received
    assert event.complaint_id == original.complaint_id
    assert event.complaint_number == original.complaint_number
    assert "又被扣了一笔 8,000 元" in event.details["text"]
    assert not records_now(
        embedded.kafka_bootstrap_servers or "", TOPICS.normalized, lambda r: r.get("channel_ref") == reply_id
    )


def test_quoting_someone_elses_complaint_number_opens_a_new_complaint(stack, embedded, acknowledged_gbk):
    original: Complaint = acknowledged_gbk["complaint"]
    stranger = f"{unique('neighbour.')}@example.com"
    in_body = f"<{unique('body.')}@example.com>"
    in_subject = f"<{unique('subject.')}@example.com>"
    send_mail(
        stack.smtp_intake_port,
        plain_mail(
            stranger,
            in_body,
            "Same fraud on my card",
            f"My neighbour told me her complaint {original.complaint_number} was handled quickly. "
            "My card was also skimmed at the Nanjing Road ATM and 3,000 yuan disappeared.",
        ),
        stranger,
    )
    send_mail(
        stack.smtp_intake_port,
        plain_mail(
            stranger,
            in_subject,
            f"Re: your complaint {original.complaint_number}",
            "I am writing about the skimming at the Nanjing Road ATM, my card lost 3,000 yuan too.",
        ),
        stranger,
    )

    for message_id in (in_body, in_subject):
        [complaint] = complaints_for(embedded, message_id)
        assert complaint.complaint_id != original.complaint_id
        assert complaint.complaint_number != original.complaint_number
    assert not records_now(
        embedded.kafka_bootstrap_servers or "",
        TOPICS.events,
        lambda r: r.get("details", {}).get("channel_ref") in (in_body, in_subject),
    )


def test_customer_naming_their_complaint_number_in_the_subject_adds_a_follow_up(stack, embedded, acknowledged_gbk):
    original: Complaint = acknowledged_gbk["complaint"]
    message_id = f"<{unique('subject-thread.')}@163.com>"
    send_mail(
        stack.smtp_intake_port,
        plain_mail(
            acknowledged_gbk["sender"],
            message_id,
            f"关于投诉 {original.complaint_number} 的补充材料",
            "补充：银行短信通知截图已拍照，盗刷发生时我人在北京。",
        ),
        acknowledged_gbk["sender"],
    )
    [event] = events_for(embedded, lambda r: r.get("details", {}).get("channel_ref") == message_id)
    assert event.kind == EventKind.follow_up_received
    assert event.complaint_id == original.complaint_id


def test_satisfaction_reply_is_feedback_for_the_original(stack, embedded, acknowledged_gbk):
    original: Complaint = acknowledged_gbk["complaint"]
    reply_id = f"<{unique('sat.')}@163.com>"
    # The subject names no complaint of ours, so only the Message-ID of the acknowledgement can thread it.
    raw = personalised(
        samples.satisfaction_reply_email("5", "CF-20200101-AAAAAA"),
        {
            "emily.carter@example.org": acknowledged_gbk["sender"],
            "<sat.0001@mail.example.org>": reply_id,
            "<survey.cmp_3f1c2a9e@bank.example>": str(acknowledged_gbk["ack"]["Message-ID"]),
        },
    )
    send_mail(stack.smtp_intake_port, raw, acknowledged_gbk["sender"])
    [event] = events_for(embedded, lambda r: r.get("details", {}).get("channel_ref") == reply_id)
    assert event.kind == EventKind.feedback_received
    assert event.complaint_id == original.complaint_id
    assert event.details["score"] == "5"


@pytest.mark.parametrize(
    ("case", "envelope_sender", "headers"),
    [
        # The attacker's own server: MAIL FROM of the attacker, From: of the customer, nothing vouches for it.
        ("forged", "mallory@evil.example", {}),
        # The same, with an Authentication-Results "pass" the attacker wrote: no bank server stands before the
        # intake here, so that header can only disprove a sender, never prove one.
        (
            "self_certified",
            "mallory@evil.example",
            {"Authentication_Results": "mx.bank.example; dkim=pass header.d=163.com; dmarc=pass header.from=163.com"},
        ),
        # The customer's address as MAIL FROM too, but the bank's mail server found DMARC failing.
        (
            "dmarc_fail",
            None,
            {
                "Authentication_Results": "mx.bank.example; spf=softfail smtp.mailfrom=163.com;"
                " dmarc=fail header.from=163.com"
            },
        ),
    ],
)
def test_forged_from_never_scores_the_customers_complaint(
    stack, embedded, acknowledged_gbk, case, envelope_sender, headers
):
    original: Complaint = acknowledged_gbk["complaint"]
    message_id = f"<{unique(case + '.')}@163.com>"
    send_mail(
        stack.smtp_intake_port,
        plain_mail(
            acknowledged_gbk["sender"], message_id, f"Re: 投诉 {original.complaint_number} 满意度调查", "1", **headers
        ),
        envelope_sender or acknowledged_gbk["sender"],
    )
    [complaint] = complaints_for(embedded, message_id)
    assert complaint.complaint_id != original.complaint_id
    assert "unverified_sender" in complaint.flags
    assert complaint.unverified_link_to == original.complaint_number
    assert not records_now(
        embedded.kafka_bootstrap_servers or "",
        TOPICS.events,
        lambda r: r.get("details", {}).get("channel_ref") == message_id,
    )


def test_smtp_intake_refuses_mail_for_other_addresses(stack):
    with (
        smtplib.SMTP("127.0.0.1", stack.smtp_intake_port, timeout=30) as client,
        pytest.raises(smtplib.SMTPRecipientsRefused),
    ):
        client.sendmail("someone@example.com", ["ceo@bank.example"], b"Subject: hi\r\n\r\nhello\r\n")


# --- hotline and social ---------------------------------------------------------------------------


def test_chinese_hotline_transcript_keeps_customer_turns_and_agent_summary_apart(stack, embedded):
    call = samples.hotline_payload_zh() | {"call_id": unique("CALL-ZH-")}
    status, body = stack.post("/api/v1/intake/hotline", call)
    assert status == 202, body
    [complaint] = complaints_for(embedded, call["call_id"])
    assert complaint.complaint_number == body["complaint_number"]
    assert complaint.channel.value == "hotline"
    assert "柜员态度特别差" in complaint.text and "多收了我五十元手续费" in complaint.text
    assert "请问有什么可以帮您" not in complaint.text  # the agent's turns are not the complaint
    assert complaint.customer.phone == "+8613698765432"
    assert complaint.hotline is not None
    assert complaint.hotline.agent_summary == call["agent_summary"]
    assert complaint.hotline.agent_summary not in complaint.text
    assert complaint.hotline.call_id == call["call_id"] and complaint.hotline.agent_id == "A1043"
    assert not complaint.hotline.low_confidence


def test_low_confidence_transcript_is_flagged_not_dropped(stack, embedded):
    call = samples.hotline_payload_en() | {"call_id": unique("CALL-EN-")}
    status, body = stack.post("/api/v1/intake/hotline", call)
    assert status == 202, body
    [complaint] = complaints_for(embedded, call["call_id"])
    assert complaint.hotline is not None and complaint.hotline.low_confidence
    assert complaint.hotline.asr_confidence is not None and complaint.hotline.asr_confidence < 0.6
    assert "low_asr_confidence" in complaint.flags
    assert complaint.customer.phone == "+14155550132"


def test_public_weibo_post_carries_its_reach_and_no_contact_details(stack, embedded):
    post = samples.social_payload_weibo() | {"post_id": unique("49732")}
    status, body = stack.post("/api/v1/intake/social", post)
    assert status == 202, body
    [complaint] = complaints_for(embedded, f"weibo:{post['post_id']}")
    assert complaint.channel.value == "social"
    assert complaint.social is not None
    assert (complaint.social.platform, complaint.social.post_id) == ("weibo", post["post_id"])
    assert complaint.social.public and "public_post" in complaint.flags
    reach = (complaint.social.followers, complaint.social.reposts, complaint.social.likes)
    assert reach == (182_000, 356, 2140)
    assert complaint.social.url == post["url"]
    assert complaint.customer.phone is None and complaint.customer.email is None
    assert (complaint.customer.social_platform, complaint.customer.social_handle) == ("weibo", "小鱼爱理财")
    assert complaint.customer.preferred_contact is not None
    assert complaint.customer.preferred_contact.value == "social"
    assert "680元年费" in complaint.text


# --- delivery guarantees --------------------------------------------------------------------------


def test_same_message_delivered_twice_is_one_complaint_with_one_acknowledgement(stack, smtp_capture, embedded):
    sender = f"{unique('michael.')}@example.com"
    message_id = f"<{unique('dup.')}@example.com>"
    raw = personalised(
        samples.multipart_with_attachment_email(),
        {"michael.li@example.com": sender, "<mixed.0042@example.com>": message_id},
    )
    envelope = email_envelope(raw, "kafka-adapter")
    duplicates_before = metric_total(stack, "duplicate")
    publisher = ComplaintPublisher(embedded.kafka_bootstrap_servers or "", "e2e.")
    try:
        publisher.publish(envelope)
        publisher.publish(envelope)
        publisher.flush()
    finally:
        publisher.close()

    [complaint] = complaints_for(embedded, message_id)
    assert complaint.attachments and complaint.attachments[0].filename == "statement-2026-10.pdf"
    assert acks_to(smtp_capture, sender)
    deadline = time.monotonic() + 20
    while metric_total(stack, "duplicate") <= duplicates_before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert metric_total(stack, "duplicate") == duplicates_before + 1

    bootstrap = embedded.kafka_bootstrap_servers or ""
    assert len(records_now(bootstrap, TOPICS.normalized, lambda r: r.get("channel_ref") == message_id)) == 1
    acknowledged = events_for(
        embedded, lambda r: r.get("complaint_id") == complaint.complaint_id and r.get("kind") == "acknowledged"
    )
    assert len(acknowledged) == 1
    assert len(smtp_capture.handler.find(lambda m: sender in str(m["To"]))) == 1


def test_garbage_goes_to_dead_letter_and_the_worker_keeps_going(stack, embedded):
    bootstrap = embedded.kafka_bootstrap_servers or ""
    key = unique("wf-after-garbage-")
    garbage = b"\x00\xff\xfe{not an envelope \xc3\x28"
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    try:
        sent = producer.send(TOPICS.raw("webform"), key=key.encode(), value=garbage).get(timeout=15)
    finally:
        producer.close()

    [letter_record] = wait_for_records(
        bootstrap,
        TOPICS.deadletter,
        lambda r: (
            r.get("source_topic") == sent.topic
            and r.get("offset") == sent.offset
            and r.get("partition") == sent.partition
        ),
    )
    letter = DeadLetter.model_validate(fields(letter_record))
    assert base64.b64decode(letter.original_base64) == garbage
    assert base64.b64decode(letter.key_base64 or "") == key.encode()
    assert letter.stage == "intake.webform"
    assert letter.reason == "envelope is not valid JSON"
    assert letter_record["_key"] == key.encode()

    # The same key lands on the same partition, after the garbage: it must still be processed.
    publisher = ComplaintPublisher(bootstrap, "e2e.")
    try:
        publisher.publish_webform(samples.webform_payload_zh() | {"submission_id": key}, message_id=key)
        publisher.flush()
    finally:
        publisher.close()
    [complaint] = complaints_for(embedded, key)
    assert complaint.raw is not None and complaint.raw.partition == sent.partition
    assert complaint.raw.offset > sent.offset


def test_payload_that_breaks_the_channel_rules_is_dead_lettered_with_the_fields_named(embedded):
    bootstrap = embedded.kafka_bootstrap_servers or ""
    message_id = unique("wf-invalid-")
    value = samples.envelope("webform", message_id, payload={"name": "赵敏", "consent": True})
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    try:
        sent = producer.send(TOPICS.raw("webform"), key=message_id.encode(), value=value).get(timeout=15)
    finally:
        producer.close()
    [letter] = wait_for_records(
        bootstrap,
        TOPICS.deadletter,
        lambda r: (
            r.get("source_topic") == sent.topic
            and r.get("offset") == sent.offset
            and r.get("partition") == sent.partition
        ),
    )
    assert letter["error_type"] == "validation_error"
    assert letter["reason"].startswith("webform payload rejected:")
    assert "description: Field required" in letter["reason"]
    assert base64.b64decode(letter["original_base64"]) == value


def test_same_customer_through_two_channels_the_same_day_is_linked(stack, embedded):
    local = f"139{uuid.uuid4().int % 10**8:08d}"
    form = samples.webform_payload_zh() | {"submission_id": unique("wf-linked-"), "phone": local}
    status, _ = stack.post("/api/v1/complaints", form)
    assert status == 202
    [first] = complaints_for(embedded, form["submission_id"])
    call = samples.hotline_payload_zh() | {"call_id": unique("CALL-LINKED-"), "caller_number": local}
    status, _ = stack.post("/api/v1/intake/hotline", call)
    assert status == 202
    [second] = complaints_for(embedded, call["call_id"])
    assert first.customer.phone == second.customer.phone == f"+86{local}"
    assert second.related_to == [first.complaint_id]
    assert second.complaint_id != first.complaint_id


# --- web form -------------------------------------------------------------------------------------


def test_webform_markup_is_neutralised(stack, embedded):
    form = samples.webform_payload_en() | {
        "submission_id": unique("wf-html-"),
        "email": f"{unique('daniel.')}@example.co.uk",
        "name": "Daniel <b>Okafor</b>",
        "description": "The fee <img src=x onerror=alert(1)> was never disclosed. <script>steal()</script>"
        "<a href='javascript:alert(2)'>see here</a> "
        "Please refund &lt;b&gt;1,250 USD&lt;/b&gt;.",
    }
    status, body = stack.post("/api/v1/complaints", form)
    assert status == 202, body
    [complaint] = complaints_for(embedded, form["submission_id"])
    assert complaint.complaint_number == body["complaint_number"]
    for markup in ("<", ">", "steal()", "onerror", "javascript:"):
        assert markup not in complaint.text
    assert "was never disclosed" in complaint.text and "see here" in complaint.text
    assert complaint.customer.name == "Daniel Okafor"
    assert "markup_removed" in complaint.flags

    number = body["complaint_number"]
    assert stack.get(f"/api/v1/complaints/{number}?verify=9999")[0] == 404
    assert stack.get(f"/api/v1/complaints/{number}")[0] == 404
    status, view = stack.get(f"/api/v1/complaints/{number}?verify={form['email']}")
    assert status == 200 and view["complaint_number"] == number


def test_webform_refuses_oversized_bodies_and_names_each_bad_field(stack):
    huge = samples.webform_payload_zh() | {"description": "投诉" * 200_000}
    status, _ = stack.post("/api/v1/complaints", json.dumps(huge).encode())
    assert status == 413

    status, body = stack.post(
        "/api/v1/complaints",
        {
            "name": "赵敏",
            "phone": "12345",
            "card_last4": "6222021234567894",
            "description": "太差了",
            "amount": -5,
            "consent": True,
            "descripton": "typo",
        },
    )
    assert status == 422
    errors = {e["field"]: e["message"] for e in body["errors"]}
    assert {"phone", "card_last4", "description", "amount", "descripton"} <= set(errors)
    assert "last 4 digits" in errors["card_last4"]
    assert "6222021234567894" not in json.dumps(body)  # no echo of personal data


def test_status_of_an_unknown_number_is_404(stack):
    status, body = stack.get("/api/v1/complaints/CF-20260101-ZZZZZZ?verify=1234")
    assert status == 404 and "verify" in body["error"]


# --- import-mail ----------------------------------------------------------------------------------


def test_import_mail_from_mbox_yields_two_complaints(stack, embedded, tmp_path):
    box_path = tmp_path / "complaints.mbox"
    box = mailbox.mbox(str(box_path))
    ids = [f"<{unique('mbox.')}@example.cn>" for _ in range(2)]
    box.add(
        plain_mail(
            f"{unique('lina.')}@example.cn",
            ids[0],
            "网点排队两个小时",
            "周六上午在人民路支行排队两个小时，只开了一个窗口，大堂经理态度很差。",
        )
    )
    box.add(
        plain_mail(
            f"{unique('tom.')}@example.com",
            ids[1],
            "Mortgage rate not lowered",
            "The bank did not lower my mortgage rate after the LPR cut, as my contract says.",
        )
    )
    box.flush()
    box.close()

    stdout = run_cli("import-mail", str(box_path), env=stack.env, timeout=60)
    assert re.search(r"imported 2 message\(s\)", stdout)
    for message_id in ids:
        [complaint] = complaints_for(embedded, message_id)
        assert complaint.channel.value == "email"
    assert "人民路支行" in complaints_for(embedded, ids[0])[0].text
