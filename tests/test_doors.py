"""The pure rules of the HTTP doors: token parsing and checking, the loopback rule, lockout arithmetic, the checks
of an Idempotency-Key and of a submission's digest, impossible dates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from kernel.doors import (
    Doors,
    TokenError,
    adapter_of,
    bearer_token,
    door_of,
    is_loopback,
    lookup_retry_after,
    open_doors_problem,
    parse_tokens,
)
from kernel.settings import Settings
from services.intake import samples
from services.intake.channels.hotline import HotlineTranscript
from services.intake.channels.social import SocialPost
from services.intake.channels.webform import WebformSubmission
from services.intake.http_api import BadRequest, content_digest, idempotency_key

HOTLINE = "Hx7pQ2vL9sK4mN8rT3wY6zB1"
SOCIAL = "Sg5kJ8dF2hL7pQ4wE9rT1yU6"
ADMIN = "Ad3mZ9xC6vB2nM5qW8eR1tY4"
DOORS = Doors({"hotline": HOTLINE, "social": SOCIAL}, ADMIN)


def test_tokens_are_name_token_pairs_separated_by_commas_or_spaces() -> None:
    assert parse_tokens(f"hotline={HOTLINE}, social={SOCIAL}") == {"hotline": HOTLINE, "social": SOCIAL}
    assert parse_tokens(f"Hotline={HOTLINE}\nsms={SOCIAL}") == {"hotline": HOTLINE, "sms": SOCIAL}
    assert parse_tokens(None) == {} and parse_tokens("  ") == {}


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("hotline", "name=token"),
        (f"={HOTLINE}", "not a valid name"),
        ("hotline=short", "16 to 512"),
        (f"hotline={HOTLINE},hotline={SOCIAL}", "two tokens"),
        (f"hotline={HOTLINE},social={HOTLINE}", "share one token"),
    ],
)
def test_bad_token_settings_are_refused_without_echoing_a_token(text: str, complaint: str) -> None:
    with pytest.raises(TokenError, match=complaint) as caught:
        parse_tokens(text)
    assert HOTLINE not in str(caught.value) and "short" not in str(caught.value).replace("should", "")


def test_settings_give_the_doors_and_name_a_weak_admin_token() -> None:
    settings = Settings(
        _env_file=None, COMPLAINTFLOW_ADAPTER_TOKENS=f"hotline={HOTLINE}", COMPLAINTFLOW_ADMIN_TOKEN=ADMIN
    )  # type: ignore[call-arg]
    assert settings.doors() == Doors({"hotline": HOTLINE}, ADMIN)
    assert HOTLINE not in repr(settings) and ADMIN not in repr(settings)
    weak = Settings(_env_file=None, COMPLAINTFLOW_ADMIN_TOKEN="admin")  # type: ignore[call-arg]
    with pytest.raises(TokenError, match="COMPLAINTFLOW_ADMIN_TOKEN"):
        weak.doors()


def test_bearer_header() -> None:
    assert bearer_token(f"Bearer {HOTLINE}") == HOTLINE
    assert bearer_token(f"bearer   {HOTLINE} ") == HOTLINE
    assert bearer_token(f"Basic {HOTLINE}") is None
    assert bearer_token("Bearer ") is None and bearer_token(None) is None


def test_every_path_under_the_intake_prefix_is_an_adapter_door() -> None:
    assert door_of("/api/v1/intake/hotline") == door_of("/api/v1/intake/sms") == "adapter"
    assert adapter_of("/api/v1/intake/sms") == "sms" and adapter_of("/api/v1/intake/Social/x") == "social"
    assert door_of("/metrics") == door_of("/dashboard") == door_of("/dashboard/data") == "admin"
    for path in ("/api/v1/complaints", "/api/v1/complaints/CF-20261206-7K3Q9M", "/healthz", "/readyz", "/metricsx"):
        assert door_of(path) == "open", path


def test_a_token_opens_its_own_door_only() -> None:
    assert DOORS.judge("/api/v1/intake/hotline", f"Bearer {HOTLINE}").status == 0
    assert DOORS.judge("/api/v1/intake/hotline", f"Bearer {HOTLINE}").adapter == "hotline"
    assert DOORS.judge("/api/v1/intake/hotline", None).status == 401
    assert DOORS.judge("/api/v1/intake/hotline", f"Bearer {SOCIAL}").status == 403
    assert DOORS.judge("/api/v1/intake/hotline", f"Bearer {ADMIN}").status == 403
    assert DOORS.judge("/api/v1/intake/sms", f"Bearer {HOTLINE}").status == 403  # no token for sms: closed
    assert DOORS.judge("/metrics", f"Bearer {HOTLINE}").status == 403
    assert DOORS.judge("/dashboard/data", f"Bearer {ADMIN}").status == 0
    assert DOORS.judge("/healthz", None).status == 0
    assert DOORS.judge("/api/v1/complaints", None).status == 0


def test_without_tokens_the_doors_are_open() -> None:
    assert Doors().judge("/api/v1/intake/hotline", None).status == 0
    assert Doors().judge("/metrics", None).status == 0


def test_off_loopback_a_server_needs_its_tokens() -> None:
    for host in ("127.0.0.1", "127.0.0.5", "::1", "[::1]", "localhost"):
        assert is_loopback(host) and open_doors_problem(host, {}, None) is None
    for host in ("0.0.0.0", "::", "10.1.2.3", "intake.bank.example"):
        assert not is_loopback(host)
    problem = open_doors_problem("0.0.0.0", {}, None)
    assert problem and "COMPLAINTFLOW_ADAPTER_TOKENS and COMPLAINTFLOW_ADMIN_TOKEN" in problem
    assert "127.0.0.1" in problem
    assert open_doors_problem("0.0.0.0", {"hotline": HOTLINE}, ADMIN) is None
    # A router serves /metrics but no adapter endpoint: the admin token is enough.
    assert open_doors_problem("0.0.0.0", {}, ADMIN, serves_adapters=False) is None
    assert "ADMIN" in (open_doors_problem("0.0.0.0", {"hotline": HOTLINE}, None) or "")


def test_lockout_arithmetic() -> None:
    # Five proofs may be tried; the sixth in the window waits for what is left of it.
    assert [lookup_retry_after(n, 800, 5, 900) for n in range(1, 6)] == [None] * 5
    assert lookup_retry_after(6, 800, 5, 900) == 800
    assert lookup_retry_after(60, 3, 5, 900) == 3
    # A key without expiry (-1) or gone in between (-2) never gives a zero or negative Retry-After.
    assert lookup_retry_after(6, -1, 5, 900) == 900 and lookup_retry_after(6, -2, 5, 900) == 900
    assert lookup_retry_after(2, 900, 1, 900) == 900


def test_idempotency_key_is_bounded_and_printable() -> None:
    assert idempotency_key(None) is None
    assert idempotency_key(" 3f1c1b2e-8a63-4f4e-9d55-6f1b8f1e2a10 ") == "3f1c1b2e-8a63-4f4e-9d55-6f1b8f1e2a10"
    for bad in ("k" * 5000, "k" * 129, "", "two words", "键"):
        with pytest.raises(BadRequest) as caught:
            idempotency_key(bad)
        assert caught.value.status == 400 and "128" in caught.value.message


def test_the_digest_is_of_the_content_not_its_spelling() -> None:
    form = samples.webform_payload_zh()
    first = WebformSubmission.model_validate(form)
    respelt = WebformSubmission.model_validate(dict(reversed(list(form.items()))) | {"name": f"  {form['name']} "})
    assert content_digest(first) == content_digest(respelt)
    other = WebformSubmission.model_validate(form | {"description": form["description"] + " 又扣了一次。"})
    assert content_digest(first) != content_digest(other)


@pytest.mark.parametrize("when", ["9999-12-31T23:59:59+14:00", "9999-12-31T23:59:59-14:00", "1970-01-01T00:00:00Z"])
def test_impossible_call_and_post_times_are_refused(when: str) -> None:
    with pytest.raises(ValidationError, match="must be a real time"):
        HotlineTranscript.model_validate(samples.hotline_payload_zh() | {"started_at": when})
    with pytest.raises(ValidationError, match="must be a real time"):
        SocialPost.model_validate(samples.social_payload_weibo() | {"created_at": when})


def test_a_call_an_hour_ago_is_fine() -> None:
    an_hour_ago = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    assert HotlineTranscript.model_validate(samples.hotline_payload_zh() | {"started_at": an_hour_ago}).started_at
