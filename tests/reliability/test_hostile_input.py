"""Scenario 5: hostile and broken input through the real entry points of a ``complaintflow run`` stack.

Every input gets a clear answer: a 4xx from HTTP or SMTP, or (once accepted) a complaint or a dead letter
with a reason. A 5 MB record on a raw topic is dead-lettered (cut to fit, with its size and digest) and the
valid records around it all become complaints. No worker dies, ``/healthz`` stays 200, and the process's
memory stays bounded. Floods from one sender are refused with 429 (HTTP) and 451 (SMTP); the limits are set
low for this stack.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import random
import smtplib
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from kafka import KafkaProducer

from kernel.topics import Topics
from schemas import Channel, complaint_id_for
from services.intake.envelopes import email_envelope, encode, json_envelope
from tests.conftest import RunningStack, stack_env, start_stack, stop_stack
from tests.delivery_servers import RecordingSmtp, SmtpServer
from tests.kafka_support import records_now
from tests.reliability.support import Tally, delivery_env, http_status, rss_kib, settle

pytestmark = [pytest.mark.integration, pytest.mark.reliability]

HTTP_LIMIT, SMTP_LIMIT = 60, 20
MAX_MAIL = 1024 * 1024
RSS_GROWTH_LIMIT_KIB = 200 * 1024


@dataclass
class Outcome:
    name: str
    answer: int | None  # HTTP status or SMTP reply code
    message_id: str | None = None  # raw-topic key of an accepted message, to find its complaint or dead letter


def mail(subject: str, body: bytes, headers: str = "", content_type: str = "text/plain; charset=utf-8") -> bytes:
    tag = uuid.uuid4().hex[:12]
    head = (
        f"From: Zhang Wei <zhang.{tag}@example.cn>\r\nTo: tousu@bank.example\r\nSubject: {subject}\r\n"
        f"Message-ID: <{tag}@hostile.example>\r\nMIME-Version: 1.0\r\nContent-Type: {content_type}\r\n{headers}\r\n"
    )
    return head.encode() + body


def nested_multipart(depth: int) -> bytes:
    body = b"the innermost complaint text, my card was charged twice\r\n"
    for level in range(depth):
        boundary = f"b{level}"
        body = (
            (
                f"--{boundary}\r\nContent-Type: "
                + ("text/plain" if level == 0 else f'multipart/mixed; boundary="b{level - 1}"')
                + "\r\n\r\n"
            ).encode()
            + body
            + f"\r\n--{boundary}--\r\n".encode()
        )
    return mail("nested", body, content_type=f'multipart/mixed; boundary="b{depth - 1}"')


def many_parts(count: int) -> bytes:
    parts = b"".join(
        b"--many\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n"
        + f'Content-Disposition: attachment; filename="f{i}.bin"\r\n\r\n'.encode()
        + base64.b64encode(os.urandom(48))
        + b"\r\n"
        for i in range(count)
    )
    return mail(
        "many parts",
        b"--many\r\nContent-Type: text/plain\r\n\r\nfee charged twice\r\n" + parts + b"--many--\r\n",
        content_type='multipart/mixed; boundary="many"',
    )


def hostile_mails() -> dict[str, bytes]:
    rng = random.Random(7)
    return {
        "random bytes": bytes(rng.randrange(256) for _ in range(4000)),
        # (with a Message-ID first, so the test can find what became of it: the SMTP client rewrites line ends)
        "random bytes in lines": b"Message-ID: <random.lines@hostile.example>\r\n"
        + b"\r\n".join(bytes(rng.randrange(32, 256) for _ in range(70)) for _ in range(60)),
        "truncated MIME": mail(
            "cut off",
            b"--cut\r\nContent-Type: text/plain\r\n\r\nmy transfer failed\r\n--cut\r\n"
            b"Content-Type: image/png\r\nContent-Transfer-Encoding: base64\r\n\r\niVBORw0KGgoAAAANSUhEUgAA",
            content_type='multipart/mixed; boundary="cut"',
        ),
        "deep multipart nesting": nested_multipart(400),
        "many parts": many_parts(3000),
        "invalid UTF-8": mail("bad utf-8", b"\xff\xfe\xfd \xc3\x28 my card \xe2\x82 was charged twice\r\n"),
        "wrong charset label": mail("gbk labelled utf-8", "信用卡被重复扣年费，请退款。".encode("gbk")),
        "unknown charset": mail("klingon", b"fee charged twice\r\n", content_type="text/plain; charset=x-klingon"),
        "header injection in subject": mail("refund\r\nBcc: everyone@bank.example", b"fee charged twice\r\n"),
        "script in body": mail(
            "<script>alert(1)</script>",
            b"<html><body><script>document.location='http://evil.example'</script>fee charged twice</body></html>",
            content_type="text/html; charset=utf-8",
        ),
    }


def as_received(raw: bytes) -> bytes:
    """The bytes the server gets for ``raw`` from ``smtplib``: the dots it quotes at line starts are unquoted by
    the server (both split lines at LF), and a final CRLF is added when the message does not end with one."""
    return raw if raw.endswith(b"\r\n") else raw + b"\r\n"


def send_mail(stack: RunningStack, raw: bytes) -> int:
    try:
        with smtplib.SMTP("127.0.0.1", stack.smtp_intake_port, timeout=30) as client:
            client.sendmail("sender@example.cn", ["tousu@bank.example"], raw)
    except smtplib.SMTPResponseException as exc:
        return exc.smtp_code
    except smtplib.SMTPRecipientsRefused as exc:
        return next(iter(exc.recipients.values()))[0]
    return 250


FORM = {
    "name": "张伟",
    "email": "zhang.wei@example.cn",
    "description": "手机银行转账失败但是钱被扣了5000元",
    "consent": True,
}


def hostile_requests() -> list[tuple[str, str, bytes, dict[str, str]]]:
    json_type = {"Content-Type": "application/json"}
    deep_array = b"[" * 200_000 + b"]" * 200_000
    deep_object = b'{"a":' * 20_000 + b"1" + b"}" * 20_000

    def body(value: object) -> bytes:
        return json.dumps(value, ensure_ascii=False).encode()

    return [
        ("not JSON", "/api/v1/complaints", b"{name: zhang", json_type),
        ("wrong content type", "/api/v1/complaints", body(FORM), {"Content-Type": "text/plain"}),
        ("JSON array", "/api/v1/complaints", body([FORM]), json_type),
        ("wrong types", "/api/v1/complaints", body({"name": 123, "consent": "yes", "description": ["x"]}), json_type),
        ("huge integer", "/api/v1/complaints", body(FORM)[:-1] + b', "amount": ' + b"9" * 400 + b"}", json_type),
        ("huge float", "/api/v1/complaints", body(FORM)[:-1] + b', "amount": 1e400}', json_type),
        ("deeply nested array", "/api/v1/complaints", deep_array[:250_000], json_type),
        ("deeply nested object", "/api/v1/complaints", deep_object, json_type),
        ("oversized body", "/api/v1/complaints", body({**FORM, "description": "扣款" * 200_000}), json_type),
        ("invalid UTF-8", "/api/v1/complaints", b'{"name": "\xff\xfe", "consent": true}', json_type),
        (
            "unknown platform",
            "/api/v1/intake/social",
            body({"platform": "myspace", "post_id": "1", "text": "bad bank"}),
            json_type,
        ),
        ("hotline wrong types", "/api/v1/intake/hotline", body({"call_id": "C-1", "turns": "abc"}), json_type),
        (
            "header injection in name",
            "/api/v1/complaints",
            body(
                {
                    **FORM,
                    "submission_id": f"rl5-{uuid.uuid4().hex[:8]}",
                    "name": "Evil\r\nBcc: all@bank.example",
                    "subject": "refund\r\nX-Injected: yes",
                    "email": "victim.rl5@example.cn",
                }
            ),
            json_type,
        ),
        (
            "script in name",
            "/api/v1/complaints",
            body(
                {
                    **FORM,
                    "submission_id": f"rl5-{uuid.uuid4().hex[:8]}",
                    "name": "<script>alert(1)</script>李雷",
                    "email": "li.lei.rl5@example.cn",
                }
            ),
            json_type,
        ),
    ]


HUGE_KEY = base64.b64encode(b"rl5-huge").decode()


def oversized_form() -> bytes:
    """A web-form envelope of about 5 MB: its description is far over the form's limit."""
    form = {**FORM, "submission_id": "rl5-huge", "description": "扣款" * 850_000}
    return encode(json_envelope(Channel.webform, "rl5-huge", form, "adapter"))


def post_raw(stack: RunningStack, path: str, data: bytes, headers: dict[str, str]) -> int:
    request = urllib.request.Request(stack.http_url + path, data=data, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return int(response.status)
    except urllib.error.HTTPError as err:
        return int(err.code)


def test_hostile_input_gets_clear_answers_and_kills_nothing(embedded, summary, scenario_dir):
    prefix = "rl5."
    topics = Topics(prefix)
    handler = RecordingSmtp()
    smtp = SmtpServer(handler).start()
    env = stack_env(
        embedded,
        scenario_dir,
        prefix,
        **delivery_env(smtp),
        COMPLAINTFLOW_HTTP_RATE_LIMIT_PER_MIN=str(HTTP_LIMIT),
        COMPLAINTFLOW_SMTP_RATE_LIMIT_PER_MIN=str(SMTP_LIMIT),
        COMPLAINTFLOW_SMTP_MAX_MESSAGE_BYTES=str(MAX_MAIL),
    )
    stack = start_stack(["run"], env, scenario_dir)
    bootstrap = embedded.kafka_bootstrap_servers or ""
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", max_request_size=16 * 1024 * 1024)
    outcomes: list[Outcome] = []
    try:
        rss_before = rss_kib(stack.process.pid)
        for name, raw in hostile_mails().items():
            answer = send_mail(stack, raw)
            outcomes.append(Outcome(f"smtp {name}", answer, email_envelope(as_received(raw), "smtp").message_id))
        outcomes.append(Outcome("smtp oversized", send_mail(stack, mail("big", b"x" * (MAX_MAIL + 1000)))))
        for name, path, data, headers in hostile_requests():
            answer = post_raw(stack, path, data, headers)
            # An accepted one must then become a complaint (its text cleaned), found by its submission id.
            submission = json.loads(data).get("submission_id") if answer == 202 else None
            outcomes.append(Outcome(f"http {name}", answer, submission))
        # An adapter writing straight to the raw topics skips the HTTP checks: the intake must catch it.
        junk = {
            "raw not JSON": (topics.raw(Channel.webform), b"rl5-junk-1", b"\xff\xfe not json at all"),
            "raw wrong types": (
                topics.raw(Channel.webform),
                b"rl5-junk-2",
                encode(json_envelope(Channel.webform, "rl5-junk-2", {"name": 5, "consent": "no"}, "adapter")),
            ),
            "raw unknown platform": (
                topics.raw(Channel.social),
                b"myspace:1",
                encode(json_envelope(Channel.social, "myspace:1", {"platform": "myspace", "post_id": "1"}, "adapter")),
            ),
        }
        junk["raw hotline envelope on the web-form topic"] = (
            topics.raw(Channel.webform),
            b"CALL-rl5-1",
            encode(json_envelope(Channel.hotline, "CALL-rl5-1", {"call_id": "CALL-rl5-1", "turns": []}, "adapter")),
        )
        junk["raw received in year 9999"] = (
            topics.raw(Channel.webform),
            b"rl5-y9999",
            encode(
                json_envelope(
                    Channel.webform, "rl5-y9999", FORM, "adapter", received_at=datetime(9999, 12, 31, 20, tzinfo=UTC)
                )
            ),
        )
        for name, (topic, key, value) in junk.items():
            producer.send(topic, key=key, value=value)
            outcomes.append(Outcome(name, None, key.decode()))
        # A 5 MB web-form record (its dead letter with the original would be larger than any record the stack
        # may write), with valid records right before and behind it on the same topic, over several partitions.
        oversized = oversized_form()
        for serial in range(12):
            if serial == 4:
                producer.send(topics.raw(Channel.webform), key=b"rl5-huge", value=oversized)
                outcomes.append(Outcome("raw oversized web form", None, "rl5-huge"))
            message_id = f"rl5-near-{serial}"
            form = {**FORM, "submission_id": message_id, "email": f"near.{serial}.rl5@example.cn"}
            value = encode(json_envelope(Channel.webform, message_id, form, "adapter"))
            producer.send(topics.raw(Channel.webform), key=message_id.encode(), value=value)
            outcomes.append(Outcome(f"raw valid web form {serial}", None, message_id))
        producer.flush()

        http_flood = [
            post_raw(stack, "/api/v1/complaints", b"{}", {"Content-Type": "application/json"})
            for _ in range(HTTP_LIMIT)
        ]
        smtp_flood = [send_mail(stack, mail("flood", b"fee charged twice again\r\n")) for _ in range(SMTP_LIMIT)]

        accepted = [o for o in outcomes if o.message_id and o.answer in (None, 202, 250)]

        def outcome_of(item: Outcome, letters: dict[str, str], complaints: set[str]) -> str | None:
            channel = (
                Channel.email
                if item.name.startswith("smtp")
                else (Channel.social if "platform" in item.name else Channel.webform)
            )
            if item.message_id in letters:
                return "dead letter: " + letters[item.message_id]
            if complaint_id_for(channel, item.message_id or "") in complaints:
                return "complaint"
            return None

        def read() -> tuple[dict[str, str], set[str]]:
            dead = records_now(bootstrap, topics.deadletter, lambda r: True)
            letters = {
                base64.b64decode(r["key_base64"]).decode(errors="replace"): r["reason"]
                for r in dead
                if r.get("key_base64")
            }
            complaints = {r["complaint_id"] for r in records_now(bootstrap, topics.normalized, lambda r: True)}
            return letters, complaints

        settle(lambda: all(outcome_of(o, *read()) for o in accepted), 60)
        letters, complaints = read()
        time.sleep(2.0)
        rss_after = rss_kib(stack.process.pid)

        report = {o.name: (o.answer, outcome_of(o, letters, complaints) if o in accepted else None) for o in outcomes}
        unanswered = [
            name
            for name, (answer, outcome) in report.items()
            if not ((answer is not None and 400 <= answer < 600) or outcome)
        ]
        figures = Tally(
            offered=len(outcomes),
            delivered=len(outcomes) - len(unanswered),
            lost=len(unanswered),
            duplicated=0,
            extra={
                "refused_4xx_5xx": sum(1 for a, _ in report.values() if a is not None and a >= 400),
                "dead_lettered": sum(1 for _, o in report.values() if o and o.startswith("dead letter")),
                "http_429": http_flood.count(429),
                "smtp_451": smtp_flood.count(451),
                "rss_growth_mib": (rss_after - rss_before) // 1024,
            },
        )
        print(summary.record("hostile_input", figures))
        for name, (answer, outcome) in report.items():
            print(f"  {name}: {answer} {outcome or ''}")

        assert not unanswered, {name: report[name] for name in unanswered}
        neighbours = {name: outcome for name, (_, outcome) in report.items() if name.startswith("raw valid web form")}
        assert len(neighbours) == 12 and set(neighbours.values()) == {"complaint"}, neighbours
        assert report["raw hotline envelope on the web-form topic"][1].startswith("dead letter: a hotline envelope")
        assert "received_at 9999-12-31" in report["raw received in year 9999"][1]
        (big,) = [r for r in records_now(bootstrap, topics.deadletter, lambda r: r.get("key_base64") == HUGE_KEY)]
        assert big["original_truncated"] and big["original_bytes"] == len(oversized)
        assert big["original_sha256"] == hashlib.sha256(oversized).hexdigest()
        assert big["source_topic"] == topics.raw(Channel.webform) and big["offset"] is not None
        assert all(reason.strip() for reason in letters.values())
        assert report["smtp oversized"][0] == 552
        assert report["http oversized body"][0] == 413 and report["http wrong content type"][0] == 415
        assert report["http not JSON"][0] == 400 and report["http unknown platform"][0] == 422
        assert 429 in http_flood and 451 in smtp_flood
        # Header injection never reaches an outgoing mail's headers.
        settle(lambda: len(handler.received()) >= 2, 30)
        for message in handler.received():
            assert message["Bcc"] is None and message["X-Injected"] is None
            parts = [str(message["To"])] + [
                part.get_content() for part in message.walk() if part.get_content_maintype() == "text"
            ]
            assert not any("<script" in text.lower() for text in parts), parts
        assert stack.process.poll() is None and http_status(stack, "/healthz") == 200
        assert rss_after - rss_before < RSS_GROWTH_LIMIT_KIB
    finally:
        producer.close()
        stop_stack(stack)
        smtp.stop()
