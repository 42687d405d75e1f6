"""Mail up to the documented size (COMPLAINTFLOW_SMTP_MAX_MESSAGE_BYTES, 10 MiB) and mail with lines longer than
RFC 5322's 1,000 characters, over real SMTP into the running stack: accepted (250), published as they came, and
made into complaints."""

from __future__ import annotations

import base64
import os
import smtplib
import uuid

import pytest

from kernel.embedded import EmbeddedStack
from kernel.topics import Topics
from tests.kafka_support import wait_for_records

pytestmark = pytest.mark.integration

TOPICS = Topics("e2e.")
INTAKE_ADDRESS = "tousu@bank.example"
MIB = 1024 * 1024


def send(port: int, raw: bytes, sender: str) -> tuple[int, bytes]:
    """The server's answer to the message: (code, text)."""
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=120) as client:
            client.sendmail(sender, [INTAKE_ADDRESS], raw)
    except smtplib.SMTPResponseException as exc:
        return exc.smtp_code, exc.smtp_error
    return 250, b""


def raw_record_of(embedded: EmbeddedStack, message_id: str) -> bytes:
    """The mail's bytes as published on the raw e-mail topic."""
    (record,) = wait_for_records(
        embedded.kafka_bootstrap_servers or "",
        TOPICS.raw("email"),
        lambda r: r.get("message_id") == message_id,
        1,
        60,
    )
    return base64.b64decode(record["payload_base64"])


def complaint_of(embedded: EmbeddedStack, message_id: str) -> dict:
    (record,) = wait_for_records(
        embedded.kafka_bootstrap_servers or "", TOPICS.normalized, lambda r: r.get("channel_ref") == message_id, 1, 60
    )
    return record


def mail_head(tag: str, content_type: str) -> str:
    return (
        f"From: Wang Fang <wang.{tag}@example.cn>\r\nTo: {INTAKE_ADDRESS}\r\nSubject: statement dispute {tag}\r\n"
        f"Message-ID: <{tag}@mail.example.cn>\r\nDate: Sun, 22 Nov 2026 10:31:05 +0800\r\nMIME-Version: 1.0\r\n"
        f"Content-Type: {content_type}\r\n"
    )


def test_a_nine_mebibyte_mail_with_a_pdf_is_accepted_and_becomes_a_complaint(stack, embedded):
    tag = f"big{uuid.uuid4().hex[:10]}"
    pdf = b"%PDF-1.7\n" + os.urandom(int(6.6 * MIB))  # base64 makes it about 8.8 MiB on the wire
    attachment = b"\r\n".join(base64.encodebytes(pdf).splitlines())
    raw = (
        mail_head(tag, 'multipart/mixed; boundary="pdfpart"').encode()
        + b"\r\n--pdfpart\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        + "我的信用卡账单上有一笔3200元的消费不是我本人操作的，账单扫描件见附件，请核实并退款。\r\n".encode()
        + b"--pdfpart\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n"
        + b'Content-Disposition: attachment; filename="statement-2026-11.pdf"\r\n\r\n'
        + attachment
        + b"\r\n--pdfpart--\r\n"
    )
    assert 8.5 * MIB < len(raw) < 9.5 * MIB
    assert send(stack.smtp_intake_port, raw, f"wang.{tag}@example.cn") == (250, b"")
    message_id = f"<{tag}@mail.example.cn>"
    assert raw_record_of(embedded, message_id) == raw
    complaint = complaint_of(embedded, message_id)
    assert "3200" in complaint["text"] and complaint["channel"] == "email"


def test_lines_longer_than_a_thousand_characters_are_accepted_and_kept_as_they_came(stack, embedded):
    tag = f"long{uuid.uuid4().hex[:10]}"
    sentence = "The annual fee of 680 yuan was charged twice on my credit card and nobody answers my calls. "
    plain_line = (sentence * 40).strip()  # about 3,700 characters on one line
    html_line = "<html><body><p>" + "".join(f"<span>{sentence}</span>" for _ in range(3000)) + "</p></body></html>"
    for content_type, body in (
        ("text/plain; charset=utf-8", plain_line),
        ("text/html; charset=utf-8", html_line),  # one line of about 300 KB, as some web mailers send it
    ):
        tag_n = f"{tag}{len(body)}"
        raw = (mail_head(tag_n, content_type) + "\r\n" + body + "\r\n").encode()
        assert send(stack.smtp_intake_port, raw, f"wang.{tag_n}@example.cn") == (250, b"")
        message_id = f"<{tag_n}@mail.example.cn>"
        assert raw_record_of(embedded, message_id) == raw
        assert "annual fee of 680 yuan was charged twice" in complaint_of(embedded, message_id)["text"]
