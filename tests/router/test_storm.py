"""The storm rule: windows, the distinct-customer threshold and stable incident ids."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from kernel.state import storm_customer_key
from schemas import Customer
from services.router.storm import StormRule


def test_windows_are_aligned_and_kept_two_windows() -> None:
    rule = StormRule(window_s=1800, min_customers=5)
    at = datetime(2026, 11, 20, 2, 17, tzinfo=UTC)
    assert rule.bucket(at) == rule.bucket(datetime(2026, 11, 20, 2, 0, tzinfo=UTC))
    assert rule.bucket(at + timedelta(minutes=13)) == rule.bucket(at) + 1
    assert rule.key_ttl_s() == 3600


def test_threshold_counts_customers() -> None:
    rule = StormRule(window_s=900, min_customers=3)
    assert [rule.is_storm(n) for n in (1, 2, 3, 20)] == [False, False, True, True]
    assert "3 customers" in rule.explain("digital_channels", "system_failure", 3)


def test_incident_id_is_stable_per_line_reason_and_window() -> None:
    first = StormRule.incident_id("digital_channels", "system_failure", 1968000)
    assert first == StormRule.incident_id("digital_channels", "system_failure", 1968000)
    assert first != StormRule.incident_id("digital_channels", "system_failure", 1968001)
    assert first != StormRule.incident_id("digital_channels", "operational_error", 1968000)
    assert first.startswith("inc")


def test_one_customer_key_per_customer_without_personal_data() -> None:
    by_mail = storm_customer_key(Customer(email="Li.Wei@Example.com"), "cmp_1")
    by_form = storm_customer_key(Customer(email="li.wei@example.com", phone="+8613800138000"), "cmp_2")
    assert by_mail == by_form  # the e-mail address comes before the phone number
    assert storm_customer_key(Customer(phone="+8613800138000"), "cmp_3") != by_mail
    assert storm_customer_key(Customer(customer_id="C1", email="li.wei@example.com"), "cmp_4") != by_mail
    anonymous = [storm_customer_key(Customer(), f"cmp_{n}") for n in range(3)]
    assert len(set(anonymous)) == 3  # no contact: each complaint counts as its own customer
    assert all("example" not in k and "138" not in k and len(k) == 24 for k in [by_mail, *anonymous])
