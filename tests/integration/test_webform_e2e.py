"""The walking skeleton: web form → Kafka → intake → router → department topic → acknowledgement e-mail."""

from __future__ import annotations

import json
import uuid

from kafka import KafkaConsumer

from schemas import RoutedComplaint


def _webform(email: str) -> dict:
    return {
        "name": "Li Wei",
        "email": email,
        "phone": "13912345678",
        "product": "credit card",
        "description": "My credit card was charged an annual fee of 300 yuan twice this month. "
        "Please refund the duplicate fee.",
        "amount": 300,
        "preferred_contact": "email",
        "language": "en",
        "consent": True,
    }


def test_webform_complaint_reaches_department_and_customer_gets_acknowledgement(stack, smtp_capture, embedded):
    email = f"li.wei+{uuid.uuid4().hex[:8]}@example.com"
    status, body = stack.post("/api/v1/complaints", _webform(email))
    assert status == 202, body
    number = body["complaint_number"]
    assert number.startswith("CF-") and body["status_url"].endswith(number)

    acks = smtp_capture.wait_for(lambda m: email in str(m["To"]), timeout=60)
    assert acks, f"no acknowledgement for {number}:\n{stack.log_text()[-3000:]}"
    ack = acks[0]
    assert number in str(ack["Subject"])
    assert ack["Auto-Submitted"] == "auto-generated"
    assert ack["Message-ID"]
    assert number in ack.get_body(("plain",)).get_content()

    consumer = KafkaConsumer(
        bootstrap_servers=embedded.kafka_bootstrap_servers,
        auto_offset_reset="earliest",
        consumer_timeout_ms=15000,
        group_id=None,
    )
    consumer.subscribe([t for t in consumer.topics() if t.startswith("e2e.dept.")])
    found = []
    for record in consumer:
        # A department topic also carries typed records (follow-ups, SLA warnings) of other tests' complaints.
        if json.loads(record.value).get("complaint", {}).get("complaint_number") == number:
            found.append(RoutedComplaint.model_validate_json(record.value))
            break
    consumer.close()
    assert found, "complaint not on any department topic"
    assert found[0].department.value == "cards"
    assert found[0].explanations

    status, view = stack.get(f"/api/v1/complaints/{number}?verify=5678")
    assert status == 200 and view["complaint_number"] == number and view["department"] == "cards"
    assert stack.get(f"/api/v1/complaints/{number}?verify=0000")[0] == 404


def test_bad_webform_gets_readable_errors_per_field_and_nothing_is_published(stack):
    status, body = stack.post("/api/v1/complaints", {"name": "", "email": "not-an-address", "consent": False})
    assert status == 422
    fields = {e["field"] for e in body["errors"]}
    assert {"email", "description", "consent"} <= fields
    assert all(e["message"] for e in body["errors"])
    assert stack.post("/api/v1/complaints", b"{not json")[0] == 400
