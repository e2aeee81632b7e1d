"""The one reader of the environment.

Every setting is ``NEWSCLF_<NAME>`` in the environment (or a ``.env`` file in
the working directory). Nothing else in newsclf calls ``os.environ``::

    from newsclf.settings import get_settings
    settings = get_settings()
    settings.database_url
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite:///newsclf.db"
"""Embedded default: a SQLite file in the working directory."""

DEFAULT_BROKER_URL = "redis://localhost:6379/0"
"""Redis on this machine, database 0."""

DEFAULT_TRAIN_DATA = "../shared/data/bbc-text.csv"
"""Where the BBC News file lies in this project's setup (relative to the cwd)."""


class Settings(BaseSettings):
    """All of newsclf's knobs, each with its default."""

    model_config = SettingsConfigDict(env_prefix="NEWSCLF_", env_file=".env", extra="ignore")

    database_url: str = Field(DEFAULT_DATABASE_URL, description="SQLAlchemy URL of the database")
    broker_url: str = Field(DEFAULT_BROKER_URL, description="Celery broker (Redis) URL")
    models_dir: Path = Field(Path("models"), description="where artifacts are written and cached")
    train_data: Path = Field(Path(DEFAULT_TRAIN_DATA), description="labeled data for training")

    batch_size: int = Field(512, ge=1, description="most articles in one model call")
    batch_wait_s: float = Field(0.1, ge=0, description="how long a worker waits to fill a batch")
    task_chunk: int = Field(64, ge=1, description="article ids per Celery message at enqueue")
    tf_threads: int = Field(0, ge=0, description="TensorFlow intra-op threads (0: one per core)")

    low_confidence: float = Field(
        0.6, ge=0, le=1, description="confidence under which review lists an article"
    )
    max_text_chars: int = Field(100_000, ge=1, description="longest text accepted at enqueue")
    long_text: str = Field(
        "truncate", pattern="^(truncate|reject)$", description="what to do with longer texts"
    )
    max_attempts: int = Field(
        3, ge=1, description="deliveries of an article before it is marked failed"
    )
    visibility_timeout_s: int = Field(
        120, ge=1, description="seconds before Redis redelivers an unacked message"
    )

    text_hook: str = Field(
        "", description="'module:function' applied to each text before the model (empty: none)"
    )

    reload_interval_s: float = Field(
        5.0, ge=0, description="how often workers check the active model"
    )
    retrain_every_s: float = Field(0, ge=0, description="beat interval for retraining (0: off)")
    retrain_crontab: str = Field(
        "", description="crontab 'm h dom mon dow' for retraining (empty: off)"
    )
    promotion_tolerance: float = Field(
        0.005, ge=0, description="accuracy a challenger may lose and still be promoted"
    )
    reconcile_every_s: float = Field(60.0, ge=0, description="beat interval for reconcile (0: off)")

    @field_validator("retrain_crontab")
    @classmethod
    def _crontab(cls, value: str) -> str:
        if value.strip() and len(value.split()) != 5:
            raise ValueError("retrain_crontab needs 5 fields: minute hour day-of-month month day-of-week")
        return value

    @field_validator("database_url")
    @classmethod
    def _driver(cls, url: str) -> str:
        """A plain postgresql:// URL means the psycopg 3 driver the project installs."""
        for prefix in ("postgresql://", "postgres://"):
            if url.startswith(prefix):
                return "postgresql+psycopg://" + url[len(prefix) :]
        return url


@functools.cache
def get_settings() -> Settings:
    """The process's settings, read once."""
    return Settings()


def secret_from_env(name: str) -> str | None:
    """The value of the environment variable ``name`` (a password a command was told
    to read, e.g. ``--password-env``), or None when it is unset or empty."""
    return os.environ.get(name) or None
