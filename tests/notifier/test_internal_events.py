"""Which events the notifier passes over without a handler: the internal kinds only, read from the record's bytes."""

from __future__ import annotations

import pytest

from schemas import CUSTOMER_FACING_EVENTS, EventKind
from services.notifier.worker import internal_event

from .conftest import build_event


@pytest.mark.parametrize("kind", list(EventKind))
def test_internal_kinds_are_passed_over_and_customer_facing_ones_handled(kind: EventKind) -> None:
    value = build_event(kind, details={"kind": "incident"}).model_dump_json().encode()
    assert internal_event(value) is (kind not in CUSTOMER_FACING_EVENTS)


def test_a_kind_this_version_does_not_know_goes_to_the_handler() -> None:
    """The handler's parse refuses it and dead-letters it, so it can be replayed by a version that knows it."""
    value = build_event(EventKind.notification_sent).model_dump_json().encode()
    assert not internal_event(value.replace(b'"kind":"notification_sent"', b'"kind":"promise_to_call_back"'))


def test_a_record_laid_out_otherwise_goes_to_the_handler() -> None:
    assert not internal_event(b'{"kind": "notification_sent", "schema_version": 1}')
    assert not internal_event(b"\x00\x01not json")
