"""The one reader of the environment.

Every setting is ``NEWSCLF_<NAME>`` in the environment (or a ``.env`` file in
the working directory). Nothing else in newsclf calls ``os.environ``::

    from newsclf.settings import get_settings
    settings = get_settings()
    settings.database_url
"""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from newsclf.urls import check_database_url, mask_url

DEFAULT_DATABASE_URL = "sqlite:///newsclf.db"
"""Embedded default: a SQLite file in the working directory."""

DEFAULT_BROKER_URL = "redis://localhost:6379/0"
"""Redis on this machine, database 0."""

DEFAULT_METRICS_PORT = 9464
"""Prometheus' customary exporter port; each process on one host needs a port of its own."""

DEFAULT_TRAIN_DATA = "../shared/data/bbc-text.csv"
"""Where the BBC News file lies in this project's setup (relative to the cwd)."""


class Settings(BaseSettings):
    """All of newsclf's knobs, each with its default."""

    model_config = SettingsConfigDict(env_prefix="NEWSCLF_", env_file=".env", extra="ignore")

    database_url: str = Field(DEFAULT_DATABASE_URL, description="SQLAlchemy URL of the database")
    broker_url: str = Field(DEFAULT_BROKER_URL, description="Celery broker (Redis) URL")
    models_dir: Path = Field(Path("models"), description="where artifacts are written and cached")
    train_data: Path = Field(Path(DEFAULT_TRAIN_DATA), description="labeled data for training")

    batch_size: int = Field(256, ge=1, description="most articles in one model call")
    merge_size: int = Field(
        4096, ge=1, description="most articles a worker takes at once (several model calls)"
    )
    batch_wait_s: float = Field(0.1, ge=0, description="how long a worker waits to fill a batch")
    task_chunk: int = Field(256, ge=1, description="article ids per Celery message at enqueue")
    tf_threads: int = Field(
        1, ge=0, description="TensorFlow intra-op threads per worker (0: one per core)"
    )
    model_calls: int = Field(
        2, ge=1, description="model batches a worker runs at once (sharing TensorFlow's threads)"
    )

    low_confidence: float = Field(
        0.6, ge=0, le=1, description="confidence under which review lists an article"
    )
    drift_threshold: float = Field(
        0.2,
        ge=0,
        le=1,
        description="drift score (Jensen-Shannon distance) over which `report` flags a day",
    )
    max_text_chars: int = Field(100_000, ge=1, description="longest text accepted at enqueue")
    long_text: str = Field(
        "truncate", pattern="^(truncate|reject)$", description="what to do with longer texts"
    )
    allow_private_feeds: bool = Field(
        False,
        description="fetch feed URLs on loopback/private/link-local addresses (an intranet server)",
    )
    feed_timeout_s: float = Field(
        30.0, gt=0, description="total seconds fetching one feed URL may take (redirects, body)"
    )
    max_attempts: int = Field(
        3, ge=1, description="deliveries of an article before it is marked failed"
    )
    visibility_timeout_s: int = Field(
        120, ge=1, description="seconds before Redis redelivers an unacked message"
    )
    broker_retry_s: float = Field(
        60.0, ge=0, description="how long enqueue and reconcile retry an unreachable broker"
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

    retrain_preset: str = Field(
        "default", pattern="^(default|seed)$", description="model preset retraining starts from"
    )
    retrain_config: str = Field(
        "", description='JSON ModelConfig overrides for retraining, e.g. {"epochs": 3}'
    )
    retrain_holdout: Path | None = Field(
        None, description="labeled file both models are scored on (empty: a split of train_data)"
    )
    retrain_holdout_portion: float = Field(
        0.2, gt=0, lt=1, description="share of train_data held out when retrain_holdout is empty"
    )
    retrain_seed: int = Field(42, description="seed of the held-out split (the same every run)")
    retrain_stale_s: float = Field(
        6 * 3600.0, gt=0, description="a retraining 'running' longer than this is presumed dead"
    )
    metrics_port: int = Field(
        DEFAULT_METRICS_PORT,
        ge=0,
        le=65535,
        description="port of a worker's or beat's /metrics, /livez, /readyz (0: off; one per process)",
    )
    queue_limit: int = Field(
        0, ge=0, description="most articles waiting in the classify queue; enqueue waits (0: none)"
    )
    log_format: str = Field(
        "text", pattern="^(text|json)$", description="worker and beat logs: text, or json per line"
    )
    user: str = Field(
        "",
        validation_alias=AliasChoices("newsclf_user", "user"),
        description="who promotes from the CLI when --by is not given (NEWSCLF_USER or USER)",
    )

    @field_validator("retrain_crontab")
    @classmethod
    def _crontab(cls, value: str) -> str:
        if value.strip() and len(value.split()) != 5:
            raise ValueError(
                "retrain_crontab needs 5 fields: minute hour day-of-month month day-of-week"
            )
        return value

    @field_validator("retrain_config")
    @classmethod
    def _retrain_config(cls, value: str) -> str:
        if value.strip():
            try:
                parsed = json.loads(value)
            except ValueError as exc:
                raise ValueError(f"retrain_config is not JSON: {exc}") from None
            if not isinstance(parsed, dict):
                raise ValueError("retrain_config must be a JSON object of ModelConfig fields")
        return value

    @field_validator("retrain_holdout", mode="before")
    @classmethod
    def _empty_path(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    def retrain_overrides(self) -> dict[str, object]:
        """``retrain_config`` parsed: ModelConfig fields to override."""
        return dict(json.loads(self.retrain_config)) if self.retrain_config.strip() else {}

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, url: str) -> str:
        """A URL newsclf can use (see ``newsclf.urls.check_database_url``); a plain
        postgresql:// URL means the psycopg 3 driver the project installs."""
        return check_database_url(url)

    @field_validator("broker_url")
    @classmethod
    def _broker_url(cls, url: str) -> str:
        """A URL with a scheme (Celery would read ``host:6379`` as a transport name)."""
        if "://" not in url:
            raise ValueError("not a broker URL: use e.g. redis://:PASSWORD@HOST:6379/0")
        return url

    def shown(self, name: str) -> str:
        """The setting ``name`` (a URL) as it may be printed or logged: password masked."""
        return mask_url(getattr(self, name))


@functools.cache
def get_settings() -> Settings:
    """The process's settings, read once."""
    return Settings()


def secret_from_env(name: str) -> str | None:
    """The value of the environment variable ``name`` (a password a command was told
    to read, e.g. ``--password-env``), or None when it is unset or empty."""
    return os.environ.get(name) or None
