"""Scenario 6: personal data never leaks into what the system writes about complaints.

Customers whose complaints carry full card numbers, resident ID numbers, phone numbers and e-mail addresses
come in through every entry point (one of them is dead-lettered). Then everything the reliability run wrote
is scanned: every file the scenarios' worker processes wrote (logs, runtime files), this stack's ``/metrics``,
the reason of every dead letter, and every social reply suggestion. None may contain a full card number
(Luhn), a resident ID number (with its check digit), or a phone number or e-mail address of a test customer.
The complaint record itself (``complaints.normalized``, ``dept.*``) legitimately holds the full text, and the
customer's own mail carries their address, so those are not scanned. Runs after the other scenarios.
"""

from __future__ import annotations

import re
import smtplib
import urllib.request
import uuid
from pathlib import Path

import pytest
from kafka import KafkaConsumer

from kernel.topics import Topics
from services.intake.samples import VALID_CARD, VALID_RESIDENT_ID, VALID_VISA, gbk_email
from tests.conftest import stack_env, start_stack, stop_stack
from tests.delivery_servers import RecordingSmtp, SmtpServer
from tests.kafka_support import records_now
from tests.reliability.conftest import WRITTEN_DIRS
from tests.reliability.support import Tally, delivery_env, settle

pytestmark = [pytest.mark.integration, pytest.mark.reliability, pytest.mark.runs_last]

# Digits inside a word (an event id's hex such as evt_8c7018d4162880700088108a) are not a card number.
CARD = re.compile(r"(?<![0-9A-Za-z_.])[3-6](?:[ -]?\d){12,18}(?![0-9A-Za-z_])")
RESIDENT_ID = re.compile(r"(?<!\d)\d{6}(?:19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx](?![\dXx])")
NOT_SCANNED = {"outbox", "redis-data"}  # customers' own mail; Redis's data file holds the complaint records


def luhn_valid(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char) * (2 if index % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def id_check_digit_valid(number: str) -> bool:
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    total = sum(int(d) * w for d, w in zip(number[:17], weights, strict=True))
    return "10X98765432"[total % 11] == number[17].upper()


def leaks(text: str, exact: set[str]) -> list[str]:
    found = [value for value in exact if value.lower() in text.lower()]
    for match in CARD.finditer(text):
        digits = re.sub(r"\D", "", match.group())
        if 13 <= len(digits) <= 19 and luhn_valid(digits):
            found.append(f"card {digits[:4]}…")
    found += [f"ID {m.group()[:6]}…" for m in RESIDENT_ID.finditer(text) if id_check_digit_valid(m.group())]
    return found


def test_no_personal_data_in_logs_metrics_reasons_or_social_replies(embedded, summary, scenario_dir):
    prefix = "rl6."
    topics = Topics(prefix)
    handler = RecordingSmtp()
    smtp = SmtpServer(handler).start()
    env = stack_env(
        embedded,
        scenario_dir,
        prefix,
        **delivery_env(smtp),
        COMPLAINTFLOW_LOG_LEVEL="DEBUG",  # the most a log can say
    )
    stack = start_stack(["run"], env, scenario_dir)
    bootstrap = embedded.kafka_bootstrap_servers or ""
    tag = uuid.uuid4().hex[:6]
    phone, email = "13912345678", f"zhao.min.{tag}@example.cn"
    exact = {phone, "+8613912345678", email, "wangzhe1988@163.com", "13812345678", "13698765432", "18611112222"}
    try:
        answers = [
            stack.post(
                "/api/v1/complaints",
                {
                    "name": "赵敏",
                    "phone": phone,
                    "email": email,
                    "consent": True,
                    "preferred_contact": "email",
                    "description": f"我的信用卡{VALID_CARD}被盗刷，身份证号{VALID_RESIDENT_ID}，"
                    f"请回电13812345678或发邮件到{email}。",
                },
            )[0],
            stack.post(
                "/api/v1/intake/hotline",
                {
                    "call_id": f"CALL-{tag}",
                    "caller_number": "13698765432",
                    "started_at": "2026-11-22T09:31:05+08:00",
                    "language": "en",
                    "turns": [
                        {
                            "speaker": "customer",
                            "text": f"my visa {VALID_VISA} was charged twice, please help",
                            "confidence": 0.9,
                        }
                    ],
                },
            )[0],
            stack.post(
                "/api/v1/intake/social",
                {
                    "platform": "weibo",
                    "post_id": f"49{tag}",
                    "author_handle": "小鱼爱理财",
                    "text": f"银行乱扣费！卡号{VALID_CARD}，电话18611112222，客服不理人",
                    "is_public": True,
                },
            )[0],
            # Refused with field errors: the answer must not repeat the values.
            stack.post("/api/v1/complaints", {"name": "x", "phone": f"{VALID_CARD}", "card_last4": VALID_CARD})[0],
        ]
        with smtplib.SMTP("127.0.0.1", stack.smtp_intake_port, timeout=30) as client:
            client.sendmail("wangzhe1988@163.com", ["tousu@bank.example"], gbk_email())
        assert answers == [202, 202, 202, 422]

        social = KafkaConsumer(
            topics.notifications_social, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None
        )
        replies: list[str] = []

        def replied() -> bool:
            for records in social.poll(timeout_ms=500).values():
                replies.extend(r.value.decode(errors="replace") for r in records)
            return bool(replies) and len(handler.received()) >= 1

        settle(replied, 45)
        social.close()
        with urllib.request.urlopen(stack.http_url + "/metrics", timeout=10) as response:
            metrics = response.read().decode()
    finally:
        stop_stack(stack)
        smtp.stop()

    # Everything the reliability scenarios' processes wrote, this one's included.
    sources: dict[str, str] = {"/metrics": metrics}
    for root in {*WRITTEN_DIRS, scenario_dir}:
        for path in Path(root).rglob("*"):
            if path.is_file() and not NOT_SCANNED & set(path.relative_to(root).parts):
                sources[str(path)] = path.read_text(errors="replace")
    for scenario_prefix in ("rl1.", "rl2.", "rl3.", "rl4.", "rl5.", "rl6.", "rl7."):
        try:
            letters = records_now(bootstrap, Topics(scenario_prefix).deadletter, lambda r: True)
            social_replies = records_now(bootstrap, Topics(scenario_prefix).notifications_social, lambda r: True)
        except AssertionError:
            continue  # that scenario did not run
        sources[f"{scenario_prefix} dead-letter reasons"] = "\n".join(str(r.get("reason")) for r in letters)
        # The event log carries the customer's contact for the notifier, but never a card or ID number.
        events = records_now(bootstrap, Topics(scenario_prefix).events, lambda r: True)
        card_or_id = leaks("\n".join(str(r) for r in events), set())
        assert not card_or_id, f"{scenario_prefix} complaints.events: {card_or_id}"
        sources[f"{scenario_prefix} social replies"] = "\n".join(str(r) for r in social_replies)
    sources["this run's social replies"] = "\n".join(replies)

    found = {name: hits for name, text in sources.items() if (hits := leaks(text, exact))}
    scanned_bytes = sum(len(text) for text in sources.values())
    figures = Tally(
        offered=len(sources),
        delivered=len(sources) - len(found),
        lost=0,
        duplicated=0,
        extra={"sources_with_personal_data": len(found), "scanned_kib": scanned_bytes // 1024},
    )
    print(summary.record("personal_data", figures))
    assert replies, "no social reply was written, so none was scanned"
    assert not found, found
