"""Fixtures that give tests real services: a fresh PostgreSQL database, a Redis
database of their own, a SQLite file, and the BBC data file.

PostgreSQL and Redis are the ones on 127.0.0.1 (``.ci/run`` starts them when
they are down). Override with NEWSCLF_TEST_PG (a server URL without database)
and NEWSCLF_TEST_REDIS.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BBC_CSV = Path(os.environ.get("NEWSCLF_TEST_BBC", ROOT.parent / "shared" / "data" / "bbc-text.csv"))
PG_SERVER = os.environ.get("NEWSCLF_TEST_PG", "postgresql://postgres@127.0.0.1:5432")
REDIS_SERVER = os.environ.get("NEWSCLF_TEST_REDIS", "redis://127.0.0.1:6379")


@pytest.fixture(scope="session")
def bbc_csv() -> Path:
    if not BBC_CSV.exists():
        pytest.fail(f"BBC data not found at {BBC_CSV}; set NEWSCLF_TEST_BBC")
    return BBC_CSV


def _admin_connect():  # type: ignore[no-untyped-def]
    import psycopg

    return psycopg.connect(PG_SERVER + "/test", autocommit=True)


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    name = "newsclf_t_" + uuid.uuid4().hex[:12]
    with _admin_connect() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{PG_SERVER}/{name}"
    finally:
        with _admin_connect() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'newsclf.db'}"


_redis_db = iter(range(1, 16))


@pytest.fixture
def redis_url() -> Iterator[str]:
    """A Redis database (1-15) for one test, flushed before and after."""
    import redis

    db = next(_redis_db, None)
    if db is None:  # more tests than databases: start again, flushing as we go
        globals()["_redis_db"] = iter(range(2, 16))
        db = 1
    url = f"{REDIS_SERVER}/{db}"
    client = redis.Redis.from_url(url)
    client.flushdb()
    try:
        yield url
    finally:
        client.flushdb()
        client.close()


@pytest.fixture
def newsclf_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """A clean environment for code that reads settings: cwd in tmp, caches cleared."""
    from newsclf.settings import get_settings

    for key in list(os.environ):
        if key.startswith("NEWSCLF_") and not key.startswith("NEWSCLF_TEST_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NEWSCLF_MODELS_DIR", str(tmp_path / "models"))
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()
