"""Operator tools for ``complaints.deadletter``: list, show, and replay after the cause is fixed.

Replay sends the original bytes back to the topic they came from, where the idempotent handlers take them
again. Each dead letter is replayed at most once (a Redis marker), so running replay twice is harmless.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator

import click
import redis

from kernel.kafka import producer
from kernel.runtime import resolve_redis_url
from kernel.settings import Settings
from kernel.state import Keys
from kernel.topics import Topics
from schemas import ComplaintEvent, DeadLetter

REPLAY_STAGE = "replay"
RECORD_OVERHEAD_BYTES = 4096  # a record's batch framing and headers, left free under the producer's limit
KEPT_KEY_BYTES = 1024  # a longer key is not copied into the letter (its digest keys the record instead)


def fitted_dead_letter(letter: DeadLetter, original: bytes, max_record_bytes: int) -> DeadLetter:
    """The letter with the original's size and SHA-256, its body cut to what fits in one record if need be.

    A letter too large for the producer could not be published, and its partition could not move on (a dead letter
    is never skipped). The cut one keeps the reason, the source pointer (topic, partition, offset: the whole
    original is there while the topic keeps it), the size and digest of the original, and as much of its start as
    fits; ``original_truncated`` and the reason say so.
    """
    letter = letter.model_copy(
        update={"original_bytes": len(original), "original_sha256": hashlib.sha256(original).hexdigest()}
    )
    limit = max(1024, max_record_bytes - RECORD_OVERHEAD_BYTES)
    if len(letter.model_dump_json()) <= limit and len(letter.key_base64 or "") <= KEPT_KEY_BYTES * 4 // 3 + 4:
        return letter
    key_note = ""
    if letter.key_base64 and len(letter.key_base64) > KEPT_KEY_BYTES * 4 // 3 + 4:
        letter = letter.model_copy(update={"key_base64": None})
        key_note = "; its key, too long, is not kept"
    reason = (
        f"{letter.reason} [original of {len(original)} bytes too large for a dead letter: only its start is kept"
        f"{key_note}; sha256 {letter.original_sha256}]"
    )
    shell = letter.model_copy(update={"original_base64": "", "original_truncated": True, "reason": reason})
    room = limit - len(shell.model_dump_json())
    kept = original[: max(0, room) // 4 * 3]
    return shell.model_copy(update={"original_base64": base64.b64encode(kept).decode()})


def dead_letter_record_key(key: bytes | None) -> bytes | None:
    """The dead letter's record key: the original's key, or the digest of a key too long to copy."""
    if key is None or len(key) <= KEPT_KEY_BYTES:
        return key
    return hashlib.sha256(key).hexdigest().encode()


def read_dead_letters(settings: Settings, bootstrap: str, idle_ms: int = 1500) -> Iterator[DeadLetter]:
    """Every dead letter on the topic, oldest first (reads until the topic has been idle for ``idle_ms``)."""
    from kafka import KafkaConsumer

    from kernel.kafka import security_options

    consumer = KafkaConsumer(
        Topics(settings.topic_prefix).deadletter,
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        **security_options(settings),
    )
    try:
        while True:
            batch = consumer.poll(timeout_ms=idle_ms)
            if not batch:
                return
            for records in batch.values():
                for record in records:
                    try:
                        yield DeadLetter.model_validate_json(record.value)
                    except ValueError:
                        continue
    finally:
        consumer.close()


def list_dead_letters(settings: Settings, bootstrap: str, limit: int = 50, stage: str | None = None) -> list[str]:
    letters = [d for d in read_dead_letters(settings, bootstrap) if stage is None or d.stage == stage]
    lines = [
        f"{d.failed_at:%Y-%m-%d %H:%M:%S}  {d.dead_letter_id}  {d.stage:<16} "
        f"{d.source_topic or '-'}[{d.partition if d.partition is not None else '-'}]@"
        f"{d.offset if d.offset is not None else '-'}  {d.reason}"
        for d in letters[-limit:]
    ]
    return lines or ["no dead letters"]


def _decoded(data: bytes) -> str:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return f"<{len(data)} bytes, not UTF-8: {data[:64]!r}…>"
    return text if len(text) <= 4000 else text[:4000] + f"… ({len(text)} characters)"


def show_dead_letter(settings: Settings, bootstrap: str, dead_letter_id: str) -> str:
    for letter in read_dead_letters(settings, bootstrap):
        if letter.dead_letter_id == dead_letter_id:
            summary = letter.model_dump(mode="json", exclude={"original_base64"})
            original = _decoded(base64.b64decode(letter.original_base64))
            if letter.original_truncated:
                original += f"\n… (cut: the original has {letter.original_bytes} bytes)"
            return json.dumps(summary, indent=2, ensure_ascii=False) + "\n--- original ---\n" + original
    raise click.ClickException(f"no dead letter {dead_letter_id}")


def _redis(settings: Settings) -> redis.Redis:
    url = resolve_redis_url(settings)
    if not url:
        raise click.ClickException("no Redis to record replays in: start `complaintflow run` or set REDIS_URL")
    return redis.Redis.from_url(str(url), decode_responses=True)


def replay_target(letter: DeadLetter, topics: Topics) -> tuple[str, bytes | None, bytes] | None:
    """Topic, key and value to send the letter back as; None when it cannot be replayed."""
    if not letter.source_topic or letter.original_truncated:
        return None  # a cut original cannot be sent back as it was
    original = base64.b64decode(letter.original_base64)
    key = base64.b64decode(letter.key_base64) if letter.key_base64 else None
    if letter.stage.startswith("notifier."):
        # The notifier stores the failed delivery attempt; replay its event to the event topic.
        event = ComplaintEvent.model_validate(json.loads(original)["event"])
        return topics.events, event.complaint_id.encode(), event.model_dump_json().encode()
    return letter.source_topic, key, original


def replay_dead_letters(
    settings: Settings, bootstrap: str, ids: list[str], replay_all: bool, stage: str | None = None
) -> tuple[int, int]:
    wanted = set(ids)
    topics = Topics(settings.topic_prefix)
    store = _redis(settings)
    kafka = producer(bootstrap)
    replayed = skipped = 0
    try:
        for letter in read_dead_letters(settings, bootstrap):
            if not (replay_all and (stage is None or letter.stage == stage)) and letter.dead_letter_id not in wanted:
                continue
            wanted.discard(letter.dead_letter_id)
            target = replay_target(letter, topics)
            if target is None or not store.set(Keys.done(REPLAY_STAGE, letter.dead_letter_id), "1", nx=True):
                skipped += 1
                continue
            if letter.stage.startswith("notifier."):
                attempt = json.loads(base64.b64decode(letter.original_base64))
                key = Keys.notification(attempt["event"]["event_id"], attempt["channel"])
                if store.get(key) == "failed":
                    store.delete(key)  # let the notifier try this channel again
            topic, key_bytes, value = target
            kafka.send(topic, key=key_bytes, value=value)
            replayed += 1
        kafka.flush(30)
    finally:
        kafka.close()
    return replayed, skipped + len(wanted)
