"""``complaintflow demo``: sample complaints of every channel through a running (or freshly started) stack."""

from __future__ import annotations

import json
import os
import re
import smtplib
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any

from kafka import KafkaConsumer
from rich.console import Console
from rich.table import Table

from domain.message_ids import sms_message_id
from kernel.doors import adapter_of, door_of
from kernel.runtime import read_stack_file
from kernel.settings import Settings
from kernel.topics import Topics
from schemas import Channel, ComplaintEvent, EventKind, RoutedComplaint, complaint_id_for
from services.intake import samples


@dataclass
class Sample:
    label: str
    channel: Channel
    complaint_id: str = ""
    number: str = "—"
    department: str = "—"
    severity: str = "—"
    notified: list[str] = field(default_factory=list)
    held: dict[str, str] = field(default_factory=dict)  # medium -> when it goes out (held for quiet hours)
    error: str | None = None

    @property
    def done(self) -> bool:
        return self.error is not None or (self.department != "—" and bool(self.notified or self.held))


def _post(url: str, body: dict[str, Any], token: str | None = None) -> dict[str, Any]:
    headers = {"Content-Type": "application/json"}
    if token:  # an adapter endpoint of a stack configured with adapter tokens
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST", headers=headers)
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def _fresh_email(raw: bytes, run: str, index: int) -> tuple[bytes, str]:
    """The sample mail with a new Message-ID, so each demo run files new complaints."""
    message_id = f"<demo-{run}-{index}@customer.example>"
    head, sep, body = raw.partition(b"\r\n\r\n") if b"\r\n\r\n" in raw else raw.partition(b"\n\n")
    head = re.sub(rb"(?im)^Message-ID:.*(\r?\n[ \t].*)*\r?\n", b"", head + b"\n").rstrip(b"\r\n")
    return f"Message-ID: {message_id}\r\n".encode() + head + sep + body, message_id


def send_samples(
    http_url: str, smtp_intake: str, run: str, adapter_tokens: Mapping[str, str] | None = None
) -> list[Sample]:
    """Sends the samples as each channel's adapter would, with its token when the stack asks for one."""
    sent: list[Sample] = []

    def web(label: str, channel: Channel, path: str, payload: dict[str, Any], ref: Callable[[dict], str]) -> None:
        sample = Sample(label, channel)
        try:
            token = (adapter_tokens or {}).get(adapter_of(path)) if door_of(path) == "adapter" else None
            answer = _post(http_url + path, payload, token)
            sample.complaint_id, sample.number = answer["complaint_id"], answer["complaint_number"]
        except (OSError, KeyError, urllib.error.HTTPError) as exc:
            sample.error = f"not accepted: {exc}"
        sent.append(sample)
        del ref

    for label, payload in (
        ("web form (en)", samples.webform_payload_en()),
        ("web form (zh)", samples.webform_payload_zh()),
    ):
        payload = {**payload, "submission_id": f"demo-{run}-{len(sent)}"}
        web(label, Channel.webform, "/api/v1/complaints", payload, lambda p: p["submission_id"])
    for label, payload in (
        ("hotline (zh)", samples.hotline_payload_zh()),
        ("hotline (en)", samples.hotline_payload_en()),
    ):
        payload = {**payload, "call_id": f"{payload['call_id']}-{run}"}
        web(label, Channel.hotline, "/api/v1/intake/hotline", payload, lambda p: p["call_id"])
    for label, payload in (
        ("weibo post (zh)", samples.social_payload_weibo()),
        ("x post (en)", samples.social_payload_x()),
    ):
        payload = {**payload, "post_id": f"{payload['post_id']}-{run}"}
        web(label, Channel.social, "/api/v1/intake/social", payload, lambda p: p["post_id"])

    sms = Sample("sms (zh)", Channel.sms)
    message_id = f"demo-{run}"
    sms.complaint_id = complaint_id_for(Channel.sms, sms_message_id(message_id))
    sms_path = "/api/v1/intake/sms"
    sender = f"+86139{zlib.crc32(run.encode()) % 10**8:08d}"
    try:  # from a number of its own, so it starts a complaint rather than answering an earlier one
        _post(
            http_url + sms_path,
            {"message_id": message_id, "from": sender, "text": samples.SMS_TEXT_ZH},
            (adapter_tokens or {}).get(adapter_of(sms_path)),
        )
    except (OSError, urllib.error.HTTPError) as exc:
        sms.error = f"not accepted: {exc}"
    sent.append(sms)

    host, _, port = smtp_intake.rpartition(":")
    for index, (label, raw) in enumerate(
        (("e-mail GBK (zh)", samples.gbk_email()), ("e-mail HTML (en)", samples.html_only_email()))
    ):
        sample = Sample(label, Channel.email)
        fresh, message_id = _fresh_email(raw, run, index)
        sample.complaint_id = complaint_id_for(Channel.email, message_id)
        try:
            with smtplib.SMTP(host, int(port), timeout=30) as smtp:
                smtp.sendmail("customer@customer.example", ["complaints@bank.example"], fresh)
        except (OSError, smtplib.SMTPException) as exc:
            sample.error = f"mail refused: {exc}"
        sent.append(sample)
    return sent


def follow(bootstrap: str, topics: Topics, sent: list[Sample], timeout: float) -> None:
    by_id = {s.complaint_id: s for s in sent if s.complaint_id}
    consumer = KafkaConsumer(
        topics.routed,
        topics.deliveries,
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        consumer_timeout_ms=1000,
    )
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and not all(s.done for s in sent):
            for record in consumer:
                if record.topic == topics.routed:
                    routed = RoutedComplaint.model_validate_json(record.value)
                    sample = by_id.get(routed.complaint.complaint_id)
                    if sample:
                        sample.number = routed.complaint.complaint_number
                        sample.department = routed.department.value + (
                            f" (+{routed.escalate_to.value})" if routed.escalate_to else ""
                        )
                        sample.severity = routed.severity.value
                else:
                    event = ComplaintEvent.model_validate_json(record.value)
                    sample = by_id.get(event.complaint_id)
                    if not sample or event.details.get("for_event") != EventKind.acknowledged.value:
                        continue
                    medium = event.details.get("medium") or event.details.get("delivery", "?")
                    if event.kind == EventKind.notification_sent and medium not in sample.notified:
                        sample.notified.append(medium)
                        sample.held.pop(medium, None)
                    elif event.kind == EventKind.notification_deferred and medium not in sample.notified:
                        sample.held[medium] = event.details.get("send_after", "")
                if all(s.done for s in sent) or time.monotonic() > deadline:
                    break
    finally:
        consumer.close()


def _held_text(medium: str, send_after: str, zone: tzinfo | None) -> str:
    try:
        at = datetime.fromisoformat(send_after).astimezone(zone).strftime("%H:%M")
    except ValueError:
        return f"{medium} held (quiet hours)"
    return f"{medium} held until {at} (quiet hours)"


def acknowledgement_text(sample: Sample, zone: tzinfo | None = None) -> str:
    """What became of the sample's acknowledgement: sent, held for the customer's quiet hours (until when, in
    ``zone``), or not yet."""
    if sample.error:
        return sample.error
    parts = [f"{c} ✓" for c in sample.notified] + [_held_text(c, at, zone) for c, at in sample.held.items()]
    return ", ".join(parts) or "not yet"


def _table(sent: list[Sample], zone: tzinfo | None = None) -> Table:
    table = Table(title="complaintflow demo")
    # Ids are never cut: the number keeps its whole width, the other columns wrap instead.
    table.add_column("complaint number", no_wrap=True, min_width=max(len(s.number) for s in sent) if sent else None)
    for column in ("channel", "sample", "department", "severity", "acknowledgement"):
        table.add_column(column, overflow="fold")
    for s in sent:
        table.add_row(s.number, s.channel.value, s.label, s.department, s.severity, acknowledgement_text(s, zone))
    return table


def _ready(http_url: str) -> bool:
    """The stack's file is written before its servers listen: it is ready once /readyz says so."""
    try:
        with urllib.request.urlopen(http_url + "/readyz", timeout=5) as response:
            return response.status == 200
    except (OSError, urllib.error.HTTPError):
        return False


def _start_stack(settings: Settings) -> tuple[subprocess.Popen[bytes], dict[str, object]]:
    print("no running stack found: starting one (embedded broker and Redis) for the demo...", file=sys.stderr)
    process = subprocess.Popen(
        [sys.executable, "-m", "complaintflow.cli", "run"],
        env=os.environ.copy(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        stack = read_stack_file(settings)
        if stack and stack.get("pid") == process.pid and _ready(str(stack["http_url"])):
            return process, stack
        if process.poll() is not None:
            raise RuntimeError("the stack could not start; run `complaintflow run` to see why")
        time.sleep(0.3)
    process.terminate()
    raise RuntimeError("the stack did not start within 90 s")


def run_demo(settings: Settings, timeout: float) -> int:
    stack = read_stack_file(settings)
    process = None
    if stack is None:
        process, stack = _start_stack(settings)
    try:
        run = uuid.uuid4().hex[:8]
        tokens = settings.doors().adapter_tokens
        sent = send_samples(str(stack["http_url"]), str(stack["smtp_intake"]), run, tokens)
        follow(str(stack["kafka_bootstrap_servers"]), Topics(settings.topic_prefix), sent, timeout)
    finally:
        if process is not None:
            process.terminate()
            process.wait(30)
    Console().print(_table(sent, settings.tz))
    missing = [s for s in sent if not s.done]
    if missing:
        print(f"{len(missing)} sample(s) not routed and acknowledged within {timeout:.0f}s", file=sys.stderr)
        return 1
    if any(s.held for s in sent):
        print(
            "acknowledgements marked held wait for the customer's quiet hours to end; they are not lost",
            file=sys.stderr,
        )
    return 0
