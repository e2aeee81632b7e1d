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
from services import (  # noqa: F401 - re-exported for older imports
    BBC_CSV,
    PG_SERVER,
    REDIS_SERVER,
    ROOT,
    VENV_BIN,
    WorkerProcess,
    newsclf_cmd,
    service_env,
)


@pytest.fixture(scope="session")
def bbc_csv() -> Path:
    if not BBC_CSV.exists():
        pytest.fail(f"BBC data not found at {BBC_CSV}; set NEWSCLF_TEST_BBC")
    return BBC_CSV


REQUIRE_SERVICES = bool(os.environ.get("CI") or os.environ.get("NEWSCLF_TEST_REQUIRE_SERVICES"))
"""In CI a missing PostgreSQL or Redis fails the run; on a laptop those tests are skipped."""


def _unavailable(what: str, exc: Exception) -> None:
    message = f"{what} not reachable ({str(exc).strip().splitlines()[0] if str(exc).strip() else exc!r})"
    if REQUIRE_SERVICES:
        pytest.fail(message)
    pytest.skip(message + "; start it to run this test (CI always does)")


def _admin_connect():  # type: ignore[no-untyped-def]
    import psycopg

    try:
        return psycopg.connect(PG_SERVER + "/test", autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        _unavailable(f"PostgreSQL at {PG_SERVER}", exc)


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
    client = redis.Redis.from_url(url, socket_connect_timeout=3)
    try:
        client.flushdb()
    except redis.exceptions.ConnectionError as exc:
        _unavailable(f"Redis at {REDIS_SERVER}", exc)
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



@pytest.fixture(scope="session")
def tiny_artifact(bbc_csv: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny model (a few units, one epoch, 300 BBC rows) trained by the real trainer."""
    import csv

    from trainer.model import ModelConfig
    from trainer.train import train

    tmp = tmp_path_factory.mktemp("tiny")
    subset = tmp / "subset.csv"
    with open(bbc_csv, newline="", encoding="utf-8") as src, open(subset, "w", newline="") as out:
        reader = csv.DictReader(src)
        writer = csv.DictWriter(out, fieldnames=["category", "text"])
        writer.writeheader()
        for i, row in enumerate(reader):
            if i == 300:
                break
            writer.writerow(row)
    config = ModelConfig.preset(
        "default", vocab_size=2000, embedding_dim=8, lstm_units=8, dense_units=8, max_length=100,
        epochs=1, seed=1,
    )
    return Path(train(subset, config=config, models_dir=tmp / "models").path)


@pytest.fixture
def start_worker(tmp_path: Path) -> Iterator[object]:
    """Start real worker subprocesses (``start_worker(env)``); all stopped at teardown."""
    started: list[WorkerProcess] = []

    def start(env: dict[str, str], *, ready: bool = True) -> WorkerProcess:
        worker = WorkerProcess(env, tmp_path / f"worker{len(started)}.log", name=f"w{len(started)}")
        started.append(worker)
        if ready:
            worker.wait_ready()
        return worker

    yield start
    for worker in started:
        worker.stop()
