"""A dead letter always fits in one record: an oversized original is cut, and the letter says so."""

from __future__ import annotations

import base64
import hashlib
import json

from kernel.deadletters import dead_letter_record_key, fitted_dead_letter, replay_target
from kernel.streams import InboundMessage, dead_letter_for
from kernel.topics import Topics
from schemas import Channel, DeadLetter
from services.intake.envelopes import encode, json_envelope

LIMIT = 1024 * 1024


def oversized_form(size: int) -> bytes:
    """A web-form envelope as an adapter wrote it, with a description of ``size`` characters."""
    payload = {"name": "张伟", "email": "zhang.wei@example.cn", "description": "扣款" * (size // 6), "consent": True}
    return encode(json_envelope(Channel.webform, "form-9f2c", payload, "adapter"))


def letter_for(value: bytes, key: bytes | None = b"form-9f2c") -> DeadLetter:
    message = InboundMessage("complaints.raw.webform", 2, 4711, key, value)
    reason = "not a valid RawEnvelope: 1 field error(s)"
    return fitted_dead_letter(dead_letter_for(message, "intake.webform", reason, "schema"), value, LIMIT)


def test_a_small_original_is_kept_whole_with_its_size_and_digest():
    value = oversized_form(600)
    letter = letter_for(value)
    assert base64.b64decode(letter.original_base64) == value
    assert not letter.original_truncated
    assert letter.original_bytes == len(value) and letter.original_sha256 == hashlib.sha256(value).hexdigest()


def test_a_five_megabyte_original_is_cut_to_fit_and_the_letter_says_so():
    value = oversized_form(5_000_000)
    letter = letter_for(value)
    assert len(letter.model_dump_json().encode()) <= LIMIT
    kept = base64.b64decode(letter.original_base64)
    assert letter.original_truncated and value.startswith(kept) and len(kept) > LIMIT // 2
    assert letter.original_bytes == len(value) and letter.original_sha256 == hashlib.sha256(value).hexdigest()
    assert (letter.source_topic, letter.partition, letter.offset) == ("complaints.raw.webform", 2, 4711)
    assert letter.reason.startswith("not a valid RawEnvelope") and "only its start is kept" in letter.reason
    assert DeadLetter.model_validate(json.loads(letter.model_dump_json())) == letter
    assert replay_target(letter, Topics("")) is None  # a cut original is not sent back as if it were whole


def test_an_oversized_key_is_not_copied_and_the_record_is_keyed_by_its_digest():
    key = b"k" * 3_000_000
    letter = letter_for(b"{}", key)
    assert letter.key_base64 is None and "key, too long" in letter.reason
    assert len(letter.model_dump_json().encode()) <= LIMIT
    assert dead_letter_record_key(key) == hashlib.sha256(key).hexdigest().encode()
    assert dead_letter_record_key(b"form-9f2c") == b"form-9f2c"
