"""One settings object for every wadah process, read from the environment.

Development gets safe defaults (an embedded SQLite file, a local Redis, a throwaway
secret) so that a fresh clone runs with no configuration; production refuses to start
with a default or short secret, because a guessable JWT secret lets anyone mint tokens.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import quote

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEV_JWT_SECRET = "wadah-development-secret-do-not-use-in-production"  # noqa: S105 - the refused default
MIN_PRODUCTION_SECRET_LENGTH = 32
EMBEDDED_SQLITE_PATH = Path("var") / "wadah.db"


class InsecureSettingsError(RuntimeError):
    """Raised at start-up when production is configured with a secret anyone could guess."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    env: Literal["development", "production"] = "development"

    # Database: DATABASE_URL wins; else the course's DB_* variables; else embedded SQLite.
    database_url: str | None = None
    db_host: str | None = None
    db_port: int = 3306
    db_user: str = "root"
    db_pass: str = ""
    db_name: str = "wadah"
    # Kept below MySQL's default wait_timeout (28,800 s) and any proxy's idle cut-off.
    db_pool_recycle_seconds: int = 1800
    db_pool_size: int = 20

    redis_url: str = "redis://127.0.0.1:6379/0"
    # Prefix for every Redis key and the arq queue, so several deployments (or test runs)
    # can share one Redis without seeing each other's jobs.
    redis_namespace: str = "wadah"

    jwt_secret: str = DEV_JWT_SECRET
    jwt_ttl_hours: float = Field(default=24, gt=0)
    # A deleted user's token, or one issued before a password change, stops working at once
    # in the process that made the change, and within this many seconds in every other API
    # process (docs/security.md).
    auth_user_cache_seconds: float = Field(default=2.0, ge=0)
    # Login throttling (Redis): this many attempts for one email, or failed ones from one
    # client address, within the window answer 429 until the window ends. Each attempt is
    # reserved before its password is checked. Fails open without Redis.
    login_max_failures_per_email: int = Field(default=5, ge=1)
    login_max_failures_per_address: int = Field(default=50, ge=1)
    login_failure_window_seconds: int = Field(default=900, ge=1)
    # New accounts from one client address per window; more answer 429 (api.throttle).
    registration_max_per_address: int = Field(default=20, ge=1)
    registration_window_seconds: int = Field(default=3600, ge=1)
    # argon2 threads per API process: new passwords (registration, password change) are
    # hashed by at most this many at once, checks (login) have their own threads, so a
    # burst of registrations queues behind the first instead of starving logins.
    password_hash_workers: int = Field(default=1, ge=1)
    password_verify_workers: int = Field(default=4, ge=1)
    # Proxies whose X-Forwarded-For names the client (comma-separated addresses or CIDR
    # networks, e.g. `10.0.0.5,172.18.0.0/16`). Empty: the header is ignored, and the
    # client is the TCP peer, so no client can pick the address its throttle counts.
    trusted_proxies: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Browser origins allowed to call the API cross-origin, comma-separated
    # (`https://app.example.com,https://admin.example.com`); empty: none.
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)

    port: int = 8000
    log_level: str = "INFO"
    # HTTP limits of `python -m api` (api.protocol, docs/security.md): a request head
    # larger than this is a 431, read no further; a head must arrive within the head
    # timeout and a body must not stall longer than the idle timeout (408 otherwise).
    http_max_head_bytes: int = Field(default=64 * 1024, ge=1024, le=64 * 1024)
    http_head_timeout_seconds: float = Field(default=10.0, gt=0)
    http_body_idle_timeout_seconds: float = Field(default=30.0, gt=0)

    # `text` (readable, the default) or `json` (one object per line, for a log pipeline).
    log_format: Literal["text", "json"] = "text"

    # Prometheus metrics (docs/operations.md). Off: no /metrics anywhere, no per-request cost.
    metrics_enabled: bool = True
    # The API's /metrics on a port of its own (e.g. 9100) instead of the API's port, for
    # an API reachable from outside while only the scraper reaches this port.
    metrics_port: int | None = None
    # The worker's /metrics port (its jobs, and the queue's health from the rows); 0: any
    # free port (several workers on one host, as the tests run them).
    worker_metrics_port: int = Field(default=9101, ge=0, le=65535)
    # The queue-health query (jobs by status, oldest queued, outbox) runs at most this often;
    # scrapes in between get the figures it last read.
    queue_metrics_interval_seconds: float = Field(default=10.0, ge=0)

    # Background jobs (docs/jobs.md explains each choice).
    job_max_tries: int = Field(default=5, ge=1)  # attempts before a job ends `failed` with its last error
    job_retry_base_seconds: float = Field(default=2.0, gt=0)  # transient-error backoff: base * 2**(try-1)
    job_retry_max_seconds: float = Field(default=300.0, gt=0)
    job_shutdown_grace_seconds: int = Field(default=25, ge=0)  # SIGTERM: running jobs get this long
    job_retention_days: float = Field(default=30, gt=0)  # finished job rows (and their files) kept this long
    worker_max_jobs: int = Field(default=50, ge=1)
    worker_poll_delay_seconds: float = Field(default=0.01, gt=0)
    # A full garbage collection this often (0: never), which also empties CPython's free lists.
    worker_gc_interval_seconds: float = Field(default=10.0, ge=0)
    # Each of the worker's two Redis pools (arq's, the outbox's) holds at most this many connections;
    # jobs wait for a free one. One of arq's is held by the wake-up subscription, hence at least 2.
    worker_redis_connections: int = Field(default=16, ge=2)
    # Liveness: the worker's poll loop touches this file every few seconds; the health
    # check (`python -m worker.healthcheck`) fails once it is older than the max age.
    worker_heartbeat_file: Path = Path("var") / "worker-heartbeat"
    worker_heartbeat_max_age_seconds: float = Field(default=20.0, ge=10)
    # Outbox: rows the API could not hand to Redis are sent by the workers' dispatcher.
    dispatch_interval_seconds: float = Field(default=1.0, gt=0)
    dispatch_grace_seconds: float = Field(default=5.0, ge=0)  # leave fresh rows to the API's own enqueue
    # Cleanup cron: `[second] minute hour day month weekday`, UTC; nightly at 03:00 by default.
    cleanup_schedule: str = "0 3 * * *"
    retention_days: float = Field(default=30, gt=0)  # soft-deleted rows are hard-deleted after this
    import_max_rows: int = Field(default=1_000_000, ge=1)
    import_max_bytes: int = Field(default=512 * 1024 * 1024, ge=1)
    # Per-user quotas (api.quotas, docs/security.md): imports and exports queued or running
    # at once (429 beyond), bytes uploaded per UTC day, and how long a finished export is
    # the answer to the same export asked again.
    quota_active_imports: int = Field(default=2, ge=1)
    quota_active_exports: int = Field(default=2, ge=1)
    quota_upload_bytes_per_day: int = Field(default=1024 * 1024 * 1024, ge=1)
    export_reuse_seconds: float = Field(default=300.0, ge=0)
    # Job files live in the database (shared.job_files). Chunks no job owns (an upload whose
    # API process died) are removed once none was added for this long.
    job_file_abandon_seconds: float = Field(default=600, gt=0)
    # Welcome email: without SMTP_HOST the message is written to the log instead.
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_from: str = "wadah <no-reply@localhost>"
    smtp_starttls: bool = True
    smtp_timeout_seconds: float = Field(default=10.0, gt=0)

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        if self.db_host:
            auth = quote(self.db_user, safe="")
            if self.db_pass:
                auth += ":" + quote(self.db_pass, safe="")
            return f"mysql+asyncmy://{auth}@{self.db_host}:{self.db_port}/{self.db_name}"
        return f"sqlite+aiosqlite:///{EMBEDDED_SQLITE_PATH}"

    @property
    def database_is_embedded(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")

    @property
    def queue_name(self) -> str:
        return f"{self.redis_namespace}:queue"

    @field_validator("cors_origins", "trusted_proxies", mode="before")
    @classmethod
    def _split_commas(cls, value: object) -> object:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @model_validator(mode="after")
    def _refuse_insecure_production(self) -> Settings:
        if self.env != "production":
            return self
        if self.jwt_secret == DEV_JWT_SECRET:
            raise InsecureSettingsError(
                "ENV=production but JWT_SECRET is unset or the development default: "
                "set JWT_SECRET to a random value of at least "
                f"{MIN_PRODUCTION_SECRET_LENGTH} characters (e.g. `openssl rand -hex 32`)"
            )
        if len(self.jwt_secret) < MIN_PRODUCTION_SECRET_LENGTH:
            raise InsecureSettingsError(
                f"ENV=production but JWT_SECRET has {len(self.jwt_secret)} characters; "
                f"at least {MIN_PRODUCTION_SECRET_LENGTH} are required"
            )
        return self


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings; tests clear the cache after changing the environment."""
    return Settings()
