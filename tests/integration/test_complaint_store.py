"""The complaint store against the real redis-server: recording a complaint is once only, and redelivery-safe.

A database of its own (13), so the shared stack's complaints and this file's never meet.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from kernel.embedded import EmbeddedStack
from kernel.state import ComplaintStore, Keys
from schemas import Channel, Complaint, EmailDetails, complaint_id_for, complaint_number_for
from tests.conftest import on_own_redis_database
from tests.test_schemas import NOW, sample_complaint


def _on_own_database(embedded: EmbeddedStack, scenario: Callable[[ComplaintStore], Awaitable[None]]) -> None:
    on_own_redis_database(embedded, 13, lambda client: scenario(ComplaintStore(client)))


def _email_complaint(n: int) -> Complaint:
    complaint = sample_complaint()
    cid = complaint_id_for(Channel.email, f"mail-{n}")
    return complaint.model_copy(
        update={
            "complaint_id": cid,
            "complaint_number": complaint_number_for(cid, NOW.date()),
            "channel": Channel.email,
            "email": EmailDetails(message_id=f"<Mail-{n}@Example.CN>"),
        }
    )


def test_a_complaint_is_recorded_once_and_a_redelivery_keeps_its_status(embedded: EmbeddedStack) -> None:
    async def scenario(store: ComplaintStore) -> None:
        complaint = sample_complaint()
        assert await store.record_new(complaint) is True
        assert await store.get(complaint.complaint_id) == {
            "number": complaint.complaint_number,
            "status": "received",
            "complaint_id": complaint.complaint_id,
            "channel": "webform",
            "language": "zh",
            "received_at": complaint.received_at.isoformat(),
            "phone_last4": "5678",
            "email": "wang.fang@example.cn",
        }
        assert await store.id_for_number(complaint.complaint_number) == complaint.complaint_id
        assert await store.redis.keys(Keys.message_id("*")) == []  # no e-mail, no Message-ID lookup

        await store.update(complaint.complaint_id, status="routed")
        assert await store.record_new(complaint) is False  # a redelivery
        stored = await store.get(complaint.complaint_id)
        assert stored["status"] == "routed"
        assert stored["number"] == complaint.complaint_number

    _on_own_database(embedded, scenario)


def test_an_e_mail_complaint_can_be_found_by_its_message_id(embedded: EmbeddedStack) -> None:
    async def scenario(store: ComplaintStore) -> None:
        complaint = _email_complaint(1)
        assert await store.record_new(complaint) is True
        assert await store.id_for_message_ids(["<mail-1@example.cn>"]) == complaint.complaint_id
        assert await store.id_for_number(complaint.complaint_number) == complaint.complaint_id

    _on_own_database(embedded, scenario)


def test_complaints_are_still_recorded_after_the_server_forgot_its_scripts(embedded: EmbeddedStack) -> None:
    """After a Redis restart or SCRIPT FLUSH the script is loaded again, also by many callers in one round trip."""

    async def scenario(store: ComplaintStore) -> None:
        assert await store.record_new(_email_complaint(0)) is True
        await store.redis.script_flush()
        complaints = [_email_complaint(n) for n in range(1, 9)]
        assert await asyncio.gather(*(store.record_new(c) for c in complaints)) == [True] * 8
        assert await asyncio.gather(*(store.record_new(c) for c in complaints)) == [False] * 8
        for complaint in complaints:
            assert await store.id_for_number(complaint.complaint_number) == complaint.complaint_id

    _on_own_database(embedded, scenario)
