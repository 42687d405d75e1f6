"""The one settings object, read from environment variables (and an optional ``.env``).

The names without a ``COMPLAINTFLOW_`` prefix are a contract with operators and compose files.
Unset Kafka or Redis means "start the embedded one"; unset SMTP means "the local mail sink".
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal, TypeVar
from zoneinfo import ZoneInfo

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from kernel.doors import Doors, check_token, parse_tokens

T = TypeVar("T")


def _env(name: str) -> AliasChoices:
    return AliasChoices(name)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore", frozen=True)

    # --- contract names -----------------------------------------------------------------------------
    kafka_bootstrap_servers: str | None = Field(default=None, validation_alias=_env("KAFKA_BOOTSTRAP_SERVERS"))
    redis_url: str | None = Field(default=None, validation_alias=_env("REDIS_URL"))
    smtp_host: str | None = Field(default=None, validation_alias=_env("SMTP_HOST"))
    smtp_port: int = Field(default=25, validation_alias=_env("SMTP_PORT"))
    smtp_username: str | None = Field(default=None, validation_alias=_env("SMTP_USERNAME"))
    smtp_password: str | None = Field(default=None, validation_alias=_env("SMTP_PASSWORD"))
    smtp_tls: Literal["none", "starttls", "tls"] = Field(default="none", validation_alias=_env("SMTP_TLS"))
    smtp_connections: int = Field(default=4, ge=1, le=64, validation_alias=_env("COMPLAINTFLOW_SMTP_CONNECTIONS"))
    sms_gateway_url: str | None = Field(default=None, validation_alias=_env("SMS_GATEWAY_URL"))
    http_port: int = Field(default=8080, validation_alias=_env("HTTP_PORT"))
    smtp_intake_port: int = Field(default=2525, validation_alias=_env("SMTP_INTAKE_PORT"))
    timezone: str = Field(default="Asia/Shanghai", validation_alias=_env("COMPLAINTFLOW_TIMEZONE"))
    var_dir: Path = Field(default=Path("./var"), validation_alias=_env("COMPLAINTFLOW_VAR_DIR"))

    # --- general ------------------------------------------------------------------------------------
    bind_host: str = Field(default="127.0.0.1", validation_alias=_env("COMPLAINTFLOW_BIND_HOST"))
    topic_prefix: str = Field(default="", validation_alias=_env("COMPLAINTFLOW_TOPIC_PREFIX"))
    topic_partitions: int = Field(default=6, ge=1, validation_alias=_env("COMPLAINTFLOW_TOPIC_PARTITIONS"))
    topic_replication: int = Field(default=1, ge=1, validation_alias=_env("COMPLAINTFLOW_TOPIC_REPLICATION"))
    group_prefix: str = Field(default="complaintflow", validation_alias=_env("COMPLAINTFLOW_GROUP_PREFIX"))
    # Whether the broker is an embedded one, for the Kafka client defaults below. Unset: when no bootstrap servers
    # are set. A process given the address of an embedded broker another process started (the bench's workers)
    # says true, so it gets that broker's defaults without each of them being passed on.
    kafka_embedded: bool | None = Field(default=None, validation_alias=_env("COMPLAINTFLOW_KAFKA_EMBEDDED"))
    # Kafka's own defaults in production; the embedded broker joins a group after ~half this timeout.
    kafka_session_timeout_s: float | None = Field(
        default=None, validation_alias=_env("COMPLAINTFLOW_KAFKA_SESSION_TIMEOUT_S")
    )
    kafka_heartbeat_interval_s: float | None = Field(
        default=None, validation_alias=_env("COMPLAINTFLOW_KAFKA_HEARTBEAT_INTERVAL_S")
    )
    # faust asks the broker to hold each fetch up to 1.5 s; the embedded broker holds it for a good part of
    # that even when records are waiting, which adds ~0.35 s per hop. Unset: 100 ms on the embedded broker.
    kafka_fetch_max_wait_ms: int | None = Field(
        default=None, ge=1, validation_alias=_env("COMPLAINTFLOW_KAFKA_FETCH_MAX_WAIT_MS")
    )
    # The embedded broker can show a record before one at a lower offset is written (see offsetgaps.py); a worker
    # waits this long for such a hole to fill. Unset: 500 ms on the embedded broker, off against Kafka; 0 = off.
    kafka_offset_gap_patience_ms: int | None = Field(
        default=None, ge=0, validation_alias=_env("COMPLAINTFLOW_KAFKA_OFFSET_GAP_PATIENCE_MS")
    )
    # How long a worker's producer gathers records before it sends a request. The embedded broker's CPU goes
    # with the number of requests, not the records in them. Unset: 20 ms on the embedded broker, 2 ms elsewhere.
    kafka_linger_ms: int | None = Field(default=None, ge=0, validation_alias=_env("COMPLAINTFLOW_KAFKA_LINGER_MS"))
    # Kafka authentication (production: every service has its own principal, and ACLs give it only its topics).
    # PLAINTEXT: none (the embedded broker); SASL_PLAINTEXT or SASL_SSL with a user name and password.
    kafka_security_protocol: Literal["PLAINTEXT", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        default="PLAINTEXT", validation_alias=_env("COMPLAINTFLOW_KAFKA_SECURITY_PROTOCOL")
    )
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = Field(
        default="PLAIN", validation_alias=_env("COMPLAINTFLOW_KAFKA_SASL_MECHANISM")
    )
    kafka_sasl_username: str | None = Field(default=None, validation_alias=_env("COMPLAINTFLOW_KAFKA_SASL_USERNAME"))
    kafka_sasl_password: str | None = Field(
        default=None, repr=False, validation_alias=_env("COMPLAINTFLOW_KAFKA_SASL_PASSWORD")
    )
    commit_interval_s: float = Field(default=1.0, gt=0, validation_alias=_env("COMPLAINTFLOW_COMMIT_INTERVAL_S"))
    # Records an agent reads ahead of its handlers. faust's 4,096 lets a backlog fill memory (a worker's RSS
    # grew with the backlog); one batch's worth keeps the next batch ready while one is handled.
    stream_buffer: int = Field(default=64, ge=1, validation_alias=_env("COMPLAINTFLOW_STREAM_BUFFER"))
    # The most records a stage handles as one batch. A batch is whatever arrived while the previous one was being
    # handled, and what arrives within ``stage_batch_wait_ms`` after its first record: a few records at a steady
    # load instead of one each (a third less CPU per complaint at 300 a second), growing to this under a backlog.
    stage_batch_max: int = Field(default=64, ge=1, validation_alias=_env("COMPLAINTFLOW_STAGE_BATCH_MAX"))
    stage_batch_wait_ms: float = Field(default=10.0, ge=0, validation_alias=_env("COMPLAINTFLOW_STAGE_BATCH_WAIT_MS"))
    # Bytes a worker fetches ahead per partition (the client default is 1 MiB). A worker holds up to this much
    # for every partition it reads (30 for an intake), so under a backlog its memory grows to that sum. A
    # record larger than this still comes in one fetch (the broker hands over a first batch whatever its size).
    fetch_partition_bytes: int = Field(
        default=128 * 1024, ge=1024, validation_alias=_env("COMPLAINTFLOW_FETCH_PARTITION_BYTES")
    )
    log_format: Literal["auto", "json", "console"] = Field(
        default="auto", validation_alias=_env("COMPLAINTFLOW_LOG_FORMAT")
    )
    log_level: str = Field(default="INFO", validation_alias=_env("COMPLAINTFLOW_LOG_LEVEL"))
    # auto: uvloop when it is installed (workers spend much of their time in socket I/O), else asyncio's own.
    event_loop: Literal["auto", "asyncio", "uvloop"] = Field(
        default="auto", validation_alias=_env("COMPLAINTFLOW_EVENT_LOOP")
    )
    max_handler_attempts: int = Field(default=3, ge=1, validation_alias=_env("COMPLAINTFLOW_MAX_HANDLER_ATTEMPTS"))

    # --- intake -------------------------------------------------------------------------------------
    http_max_body_bytes: int = Field(default=256 * 1024, validation_alias=_env("COMPLAINTFLOW_HTTP_MAX_BODY_BYTES"))
    # Rate limits per endpoint family, so one family cannot starve another: the public web form and the status
    # lookup per client address, the adapter endpoints per adapter (its token's name; the address without tokens).
    http_rate_limit_per_min: int = Field(
        default=120, ge=1, validation_alias=_env("COMPLAINTFLOW_HTTP_RATE_LIMIT_PER_MIN")
    )
    lookup_rate_limit_per_min: int = Field(
        default=30, ge=1, validation_alias=_env("COMPLAINTFLOW_LOOKUP_RATE_LIMIT_PER_MIN")
    )
    adapter_rate_limit_per_min: int = Field(
        default=3000, ge=1, validation_alias=_env("COMPLAINTFLOW_ADAPTER_RATE_LIMIT_PER_MIN")
    )
    # Wrong proofs (verify=) for one complaint number, from any address, before that number answers 429 ...
    lookup_max_failures: int = Field(default=5, ge=1, validation_alias=_env("COMPLAINTFLOW_LOOKUP_MAX_FAILURES"))
    # ... for this many seconds from the first of them.
    lookup_lockout_s: int = Field(default=900, ge=1, validation_alias=_env("COMPLAINTFLOW_LOOKUP_LOCKOUT_S"))
    # Bearer tokens: name=token pairs for the adapter endpoints under /api/v1/intake/, one for /metrics and
    # /dashboard. Unset: those endpoints are open, which the server allows only on a loopback address.
    adapter_tokens: str | None = Field(default=None, repr=False, validation_alias=_env("COMPLAINTFLOW_ADAPTER_TOKENS"))
    admin_token: str | None = Field(default=None, repr=False, validation_alias=_env("COMPLAINTFLOW_ADMIN_TOKEN"))
    smtp_rate_limit_per_min: int = Field(
        default=120, ge=1, validation_alias=_env("COMPLAINTFLOW_SMTP_RATE_LIMIT_PER_MIN")
    )
    smtp_max_message_bytes: int = Field(
        default=10 * 1024 * 1024, validation_alias=_env("COMPLAINTFLOW_SMTP_MAX_MESSAGE_BYTES")
    )
    complaint_addresses: str = Field(
        default="complaints@bank.example,tousu@bank.example",
        validation_alias=_env("COMPLAINTFLOW_COMPLAINT_ADDRESSES"),
        description="Comma-separated addresses the SMTP intake accepts mail for; '*' accepts any",
    )
    public_base_url: str | None = Field(default=None, validation_alias=_env("COMPLAINTFLOW_PUBLIC_BASE_URL"))
    # A mail follow-up attaches to a complaint only from its customer's address, and only when the receiving
    # server's Authentication-Results (SPF/DKIM/DMARC) do not fail; with this set, only when they pass.
    mail_require_auth_pass: bool = Field(default=False, validation_alias=_env("COMPLAINTFLOW_MAIL_REQUIRE_AUTH_PASS"))
    mail_authserv_id: str | None = Field(
        default=None,
        validation_alias=_env("COMPLAINTFLOW_MAIL_AUTHSERV_ID"),
        description="authserv-id of the bank's mail server in Authentication-Results; unset: the topmost header, "
        "which can then only disprove a sender",
    )

    # --- router -------------------------------------------------------------------------------------
    routing_table: Path | None = Field(default=None, validation_alias=_env("COMPLAINTFLOW_ROUTING_TABLE"))
    # Department confidence below which a routing is marked for review with its runner-up departments.
    review_below: float = Field(default=0.5, ge=0, le=1, validation_alias=_env("COMPLAINTFLOW_REVIEW_BELOW"))
    sla_profile: Literal["cn", "uk", "us"] = Field(default="cn", validation_alias=_env("COMPLAINTFLOW_SLA_PROFILE"))
    holidays_file: Path | None = Field(default=None, validation_alias=_env("COMPLAINTFLOW_HOLIDAYS_FILE"))
    repeat_window_days: int = Field(default=30, ge=1, validation_alias=_env("COMPLAINTFLOW_REPEAT_WINDOW_DAYS"))
    storm_threshold: int = Field(
        default=20,
        ge=2,
        validation_alias=_env("COMPLAINTFLOW_STORM_THRESHOLD"),
        description="Distinct customers (not complaints) about one line and reason within the window that make a storm",
    )
    storm_window_s: int = Field(default=900, ge=10, validation_alias=_env("COMPLAINTFLOW_STORM_WINDOW_S"))
    sla_sweep_interval_s: float = Field(default=5.0, gt=0, validation_alias=_env("COMPLAINTFLOW_SLA_SWEEP_INTERVAL_S"))
    sla_breach_apology: bool = Field(default=True, validation_alias=_env("COMPLAINTFLOW_SLA_BREACH_APOLOGY"))
    sla_pause_on_need_info: bool | None = Field(
        default=None,
        validation_alias=_env("COMPLAINTFLOW_SLA_PAUSE_ON_NEED_INFO"),
        description="Waiting on the customer stops the decision clock; unset: as the SLA profile says (cn: yes)",
    )

    # --- notifier -----------------------------------------------------------------------------------
    mail_from: str = Field(
        default="Complaints Service <complaints@bank.example>",
        validation_alias=_env("COMPLAINTFLOW_MAIL_FROM"),
    )
    reply_to: str | None = Field(default=None, validation_alias=_env("COMPLAINTFLOW_REPLY_TO"))
    quiet_hours: str = Field(default="21:00-08:00", validation_alias=_env("COMPLAINTFLOW_QUIET_HOURS"))
    sms_gateway_auth_header: str | None = Field(default=None, validation_alias=_env("SMS_GATEWAY_AUTH_HEADER"))
    sms_gateway_to_field: str = Field(default="to", validation_alias=_env("SMS_GATEWAY_TO_FIELD"))
    sms_gateway_text_field: str = Field(default="text", validation_alias=_env("SMS_GATEWAY_TEXT_FIELD"))
    sms_gateway_id_field: str = Field(default="message_id", validation_alias=_env("SMS_GATEWAY_ID_FIELD"))
    notify_max_attempts: int = Field(default=15, ge=1, validation_alias=_env("COMPLAINTFLOW_NOTIFY_MAX_ATTEMPTS"))
    notify_claim_lease_s: int = Field(default=30, ge=1, validation_alias=_env("COMPLAINTFLOW_NOTIFY_CLAIM_LEASE_S"))
    notify_retry_base_s: float = Field(default=1.0, gt=0, validation_alias=_env("COMPLAINTFLOW_NOTIFY_RETRY_BASE_S"))
    notify_retry_cap_s: float = Field(default=300.0, gt=0, validation_alias=_env("COMPLAINTFLOW_NOTIFY_RETRY_CAP_S"))

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        ZoneInfo(value)  # raises a clear error for an unknown zone
        return value

    def doors(self) -> Doors:
        """The HTTP doors' tokens, checked; TokenError names what is wrong without echoing a token (which is why
        the check is not a field validator: a validation error would show the value)."""
        admin = (self.admin_token or "").strip()
        return Doors(
            parse_tokens(self.adapter_tokens),
            check_token(admin, "COMPLAINTFLOW_ADMIN_TOKEN") if admin else None,
        )

    @property
    def kafka_sasl(self) -> bool:
        return self.kafka_security_protocol.startswith("SASL_")

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def embedded_kafka(self) -> bool:
        return not self.kafka_bootstrap_servers

    @property
    def embedded_redis(self) -> bool:
        return not self.redis_url

    @property
    def local_smtp_sink(self) -> bool:
        return not self.smtp_host

    @property
    def outbox_dir(self) -> Path:
        return self.var_dir / "outbox"

    @property
    def redis_data_dir(self) -> Path:
        """Where the embedded Redis keeps its append-only file (kept across restarts)."""
        return self.var_dir / "redis-data"

    def _kafka_choice(self, given: T | None, embedded: T, elsewhere: T) -> T:
        """A Kafka client setting: the value given, else the embedded broker's default or Kafka's."""
        if given is not None:
            return given
        on_embedded = self.embedded_kafka if self.kafka_embedded is None else self.kafka_embedded
        return embedded if on_embedded else elsewhere

    @property
    def session_timeout_s(self) -> float:
        return self._kafka_choice(self.kafka_session_timeout_s, 6.0, 45.0)

    @property
    def heartbeat_interval_s(self) -> float:
        return self._kafka_choice(self.kafka_heartbeat_interval_s, 1.0, 3.0)

    @property
    def fetch_max_wait_ms(self) -> int | None:
        """None leaves faust's own value (right for Apache Kafka, which answers as soon as records arrive)."""
        return self._kafka_choice(self.kafka_fetch_max_wait_ms, 100, None)

    @property
    def producer_linger_ms(self) -> int:
        return self._kafka_choice(self.kafka_linger_ms, 20, 2)

    @property
    def kafka_max_record_bytes(self) -> int:
        """The largest record the workers produce (and the topics are created to take): a mail of
        ``smtp_max_message_bytes`` in its raw envelope (base64, so 4/3 of it) with room for the envelope's fields."""
        return max(1024 * 1024, -(-self.smtp_max_message_bytes // 3) * 4 + 64 * 1024)

    @property
    def offset_gap_patience_s(self) -> float:
        return self._kafka_choice(self.kafka_offset_gap_patience_ms, 500, 0) / 1000

    @property
    def complaint_address_set(self) -> frozenset[str]:
        return frozenset(a.strip().lower() for a in self.complaint_addresses.split(",") if a.strip())

    def with_overrides(self, **changes: object) -> Settings:
        return self.model_copy(update=changes)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
