"""One settings object for every wadah process, read from the environment.

Development gets safe defaults (an embedded SQLite file, a local Redis, a throwaway
secret) so that a fresh clone runs with no configuration; production refuses to start
with a default or short secret, because a guessable JWT secret lets anyone mint tokens.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import quote

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

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

    port: int = 8000
    log_level: str = "INFO"

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
