"""Runtime configuration: the one place that reads the environment (prefix ``CLAW_``)."""

from __future__ import annotations

import ssl
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from claw_lab.errors import ConfigurationError

RedisUrl = Annotated[str, Field(min_length=1)]
_REDIS_SCHEMES = {"redis", "rediss", "unix"}
_CERT_REQS = {"required": ssl.CERT_REQUIRED, "optional": ssl.CERT_OPTIONAL, "none": ssl.CERT_NONE}


def redact(url: str) -> str:
    """``url`` with any password replaced by ``***``, safe to print."""
    parts = urlsplit(url)
    if not parts.password:
        return url
    user = parts.username or ""
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def _check_redis_url(url: str, field: str) -> str:
    scheme = urlsplit(url).scheme
    if scheme not in _REDIS_SCHEMES:
        raise ValueError(f"{field} must be a redis://, rediss:// or unix:// URL, got scheme {scheme!r}")
    return url


class RunbookSchedule(BaseModel):
    """One entry of ``CLAW_RUNBOOK_SCHEDULES``: a runbook run by beat on a cron line or every N seconds."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    runbook: str = Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
    cron: str | None = Field(None, description="five fields: minute hour day-of-month month day-of-week (UTC)")
    every: float | None = Field(None, gt=0, description="seconds between runs")
    parameters: dict[str, JsonValue] = Field(default_factory=dict)
    name: str | None = Field(None, min_length=1, description="the beat entry's name (default: runbook-<runbook>)")

    @model_validator(mode="after")
    def _one_timing(self) -> RunbookSchedule:
        if (self.cron is None) == (self.every is None):
            raise ValueError("give either cron or every")
        if self.cron is not None and len(self.cron.split()) != 5:
            raise ValueError(f"cron must have five fields, got {self.cron!r}")
        return self

    @property
    def entry_name(self) -> str:
        """The name of the beat entry this schedule becomes."""
        return self.name or f"runbook-{self.runbook}"


class Settings(BaseSettings):
    """Every knob of claw_lab, read from ``CLAW_*`` variables (and an optional ``.env``)."""

    model_config = SettingsConfigDict(
        env_prefix="CLAW_", env_file=".env", env_file_encoding="utf-8", extra="ignore", frozen=True
    )

    # --- Redis -----------------------------------------------------------------------
    redis_url: RedisUrl = "redis://127.0.0.1:6379/0"
    broker_url: str | None = None
    result_backend: str | None = None
    redis_username: str | None = None
    redis_password: SecretStr | None = None
    redis_ssl_cert_reqs: Literal["required", "optional", "none"] = "required"
    redis_ssl_ca_certs: Path | None = None
    redis_ssl_certfile: Path | None = None
    redis_ssl_keyfile: Path | None = None
    redis_socket_timeout: float = Field(5.0, gt=0)
    redis_connect_timeout: float = Field(2.0, gt=0)
    redis_health_check_interval: int = Field(25, ge=0)

    # --- Registry --------------------------------------------------------------------
    key_prefix: str = Field("{claw}", min_length=1, max_length=32, pattern=r"^[^\s]+$")
    max_kwargs_bytes: int = Field(64 * 1024, ge=256)
    result_preview_chars: int = Field(2000, ge=0)
    traceback_lines: int = Field(20, ge=0)
    retention_seconds: int = Field(7 * 24 * 3600, ge=60)
    retention_max_tasks: int = Field(2_000_000, ge=100)
    events_max: int = Field(10_000, ge=100)
    runtime_window: int = Field(256, ge=8, le=10_000)
    idempotency_ttl: int = Field(24 * 3600, ge=1)
    tracking_linger: float = Field(0.02, ge=0, le=1)
    tracking_buffer_max: int = Field(10_000, ge=100)
    tracking_retry_seconds: float = Field(600.0, gt=0)
    dead_letters_max: int = Field(1000, ge=1)
    dead_letter_body_bytes: int = Field(64 * 1024, ge=0)

    # --- Workers ---------------------------------------------------------------------
    heartbeat_interval: float = Field(5.0, gt=0)
    task_modules: Annotated[list[str], NoDecode] = Field(default_factory=list)
    result_expires: int = Field(24 * 3600, ge=60)
    visibility_timeout: int = Field(2 * 3600, ge=1)
    unacked_restore_interval: int = Field(30, ge=1)
    default_priority: int = Field(5, ge=0, le=9)
    worker_concurrency: int | None = Field(None, ge=1)
    cleanup_interval: float = Field(3600.0, gt=0)
    health_check_interval: float = Field(60.0, gt=0)
    producer_timeout: float = Field(3.0, gt=0)

    # --- Health check ------------------------------------------------------------------
    health_queue_depth_max: int = Field(1000, ge=1)
    health_failure_rate_max: float = Field(0.25, gt=0, le=1)
    health_failure_min_samples: int = Field(20, ge=1)
    health_queued_grace: float = Field(300.0, ge=1)
    result_cleanup_max_keys: int = Field(100_000, ge=100)

    # --- API -------------------------------------------------------------------------
    api_host: str = "127.0.0.1"
    api_port: int = Field(8000, ge=0, le=65535)
    api_tokens: Annotated[list[str], NoDecode] = Field(default_factory=list, repr=False)
    api_tokens_file: Path | None = Field(
        None, description="a file of more CLAW_API_TOKENS entries, re-read when it changes"
    )
    api_tokens_reload: float = Field(30.0, ge=0, description="seconds between checks of the tokens file; 0: never")
    api_auth_disabled: bool = False
    metrics_public: bool = True
    max_body_bytes: int = Field(1024 * 1024, ge=1024)

    # --- Command line ----------------------------------------------------------------
    cli_timeout: float = Field(3.0, gt=0)

    # --- Local stack -----------------------------------------------------------------
    state_dir: Path = Path(".claw")
    flower_port: int = Field(5555, ge=0, le=65535)
    flower_address: str = "127.0.0.1"
    flower_basic_auth: SecretStr | None = Field(None, repr=False)
    flower_auth: str | None = None
    flower_auth_provider: str | None = None
    flower_oauth2_key: str | None = None
    flower_oauth2_secret: SecretStr | None = Field(None, repr=False)
    flower_oauth2_redirect_uri: str | None = None
    lab_port: int = Field(8888, ge=0, le=65535)

    # --- Jobs: language models --------------------------------------------------------
    llm_provider: Literal["retrieval", "openai"] = "retrieval"
    llm_base_url: str = Field("https://api.openai.com/v1", pattern=r"^https?://")
    llm_api_key: SecretStr | None = Field(None, repr=False)
    llm_auth_header: Literal["authorization", "api-key"] = "authorization"
    llm_api_version: str | None = None
    llm_model: str = Field("gpt-4o-mini", min_length=1)
    llm_stream: bool = True
    llm_stream_usage: bool = True
    llm_connect_timeout: float = Field(10.0, gt=0)
    llm_timeout: float = Field(120.0, gt=0)
    llm_max_attempts: int = Field(3, ge=1, le=10)
    llm_retry_max_wait: float = Field(30.0, ge=0)
    llm_progress_interval: float = Field(0.25, ge=0)

    # --- Jobs: knowledge bases -------------------------------------------------------
    embedder: Literal["wordllama", "sentence-transformers", "openai", "hashing"] = "wordllama"
    embedder_model: str | None = None
    embedder_dimension: int | None = Field(None, ge=8, le=8192)
    embedder_batch_size: int = Field(256, ge=1, le=10_000)
    embedder_base_url: str | None = Field(None, pattern=r"^https?://")
    embedder_api_key: SecretStr | None = Field(None, repr=False)
    vector_store: Literal["lancedb"] = "lancedb"
    vector_store_uri: str = Field("~/.claw_lab/vectors", min_length=1)
    vector_store_options: dict[str, str] = Field(default_factory=dict, repr=False)
    vector_index_threshold: int = Field(20_000, ge=256)
    vector_nprobes: int = Field(20, ge=1)
    vector_refine_factor: int | None = Field(None, ge=1)
    chunk_size: int = Field(800, ge=64, le=100_000)
    chunk_overlap: int = Field(120, ge=0)
    max_document_chars: int = Field(1_000_000, ge=1)
    document_roots: Annotated[list[Path], NoDecode] = Field(default_factory=list)
    knowledge_batch_documents: int = Field(250, ge=1)
    knowledge_batch_chars: int = Field(500_000, ge=1)
    retrieval_top_k: int = Field(4, ge=1, le=50)

    # --- Runbooks ----------------------------------------------------------------------
    runbook_dir: Path | None = Field(None, description="default: the project's notebooks/runbooks")
    runbook_output: str = Field("~/.claw_lab/runbooks", min_length=1)
    runbook_schedules: list[RunbookSchedule] = Field(default_factory=list)
    runbook_kernel: str = Field("python3", min_length=1)
    runbook_cell_timeout: float = Field(600.0, gt=0)
    runbook_start_timeout: float = Field(60.0, gt=0)

    # --- Jobs: notifications ---------------------------------------------------------
    webhook_secrets: dict[str, SecretStr] = Field(default_factory=dict, repr=False)
    webhook_timeout: float = Field(10.0, gt=0)
    webhook_allow: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="CIDRs, addresses or host names webhooks may reach though not public"
    )
    smtp_host: str = "localhost"
    smtp_port: int = Field(587, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: SecretStr | None = Field(None, repr=False)
    smtp_security: Literal["starttls", "ssl", "none"] = "starttls"
    smtp_ca_file: Path | None = None
    smtp_from: str = "claw-lab@localhost"
    smtp_timeout: float = Field(15.0, gt=0)
    notify_channel: Literal["log", "webhook", "email"] = "log"
    notify_target: str | None = None

    @field_validator("document_roots", mode="before")
    @classmethod
    def _split_paths(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("task_modules", "api_tokens", "webhook_allow", mode="before")
    @classmethod
    def _split_commas(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("webhook_allow")
    @classmethod
    def _allow_entries(cls, value: list[str]) -> list[str]:
        from claw_lab.egress import parse_allow

        parse_allow(value)
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_url_scheme(cls, value: str) -> str:
        return _check_redis_url(value, "CLAW_REDIS_URL")

    # --- Derived -----------------------------------------------------------------------
    @property
    def broker(self) -> str:
        """The broker URL: ``CLAW_BROKER_URL`` or the Redis URL."""
        return self.broker_url or self.redis_url

    @property
    def backend(self) -> str:
        """The result backend URL: ``CLAW_RESULT_BACKEND`` or the Redis URL."""
        return self.result_backend or self.redis_url

    def uses_tls(self, url: str | None = None) -> bool:
        """Whether ``url`` (default: the Redis URL) is a TLS ``rediss://`` URL."""
        return urlsplit(url or self.redis_url).scheme == "rediss"

    def redis_ssl_options(self) -> dict[str, object]:
        """The ``ssl_*`` keyword arguments for redis-py and kombu, for a ``rediss://`` URL."""
        options: dict[str, object] = {"ssl_cert_reqs": _CERT_REQS[self.redis_ssl_cert_reqs]}
        if self.redis_ssl_ca_certs:
            options["ssl_ca_certs"] = str(self.redis_ssl_ca_certs)
        if self.redis_ssl_certfile:
            options["ssl_certfile"] = str(self.redis_ssl_certfile)
        if self.redis_ssl_keyfile:
            options["ssl_keyfile"] = str(self.redis_ssl_keyfile)
        return options

    def redis_auth_options(self) -> dict[str, object]:
        """ACL username and password given apart from the URL (never logged)."""
        options: dict[str, object] = {}
        if self.redis_username:
            options["username"] = self.redis_username
        if self.redis_password is not None:
            options["password"] = self.redis_password.get_secret_value()
        return options


def load_settings(**overrides: object) -> Settings:
    """Build settings from the environment, turning a bad value into a `ConfigurationError`."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            field = ".".join(str(part) for part in error["loc"]) or "settings"
            variable = f"CLAW_{field.upper()}" if error["loc"] else field
            problems.append(f"{variable}: {error['msg']}")
        raise ConfigurationError("invalid settings: " + "; ".join(problems)) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return load_settings()
