"""Fixtures that give tests real services: a fresh PostgreSQL database, a Redis
database of their own, a SQLite file, and the BBC data file.

PostgreSQL and Redis are throwaway servers the suite starts itself (``servers.py``),
or the servers named by NEWSCLF_TEST_PG and NEWSCLF_TEST_REDIS; either way a test
touches only the databases it created.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from servers import ServerUnavailable, own_database, own_redis_db, postgres, redis_server
from services import BBC_CSV, WorkerProcess, bbc_rows, write_labeled


@pytest.fixture(scope="session")
def bbc_csv() -> Path:
    if not BBC_CSV.exists():
        pytest.fail(f"BBC data not found at {BBC_CSV}; set NEWSCLF_TEST_BBC")
    return BBC_CSV


REQUIRE_SERVICES = bool(os.environ.get("CI") or os.environ.get("NEWSCLF_TEST_REQUIRE_SERVICES"))
"""In CI a missing PostgreSQL or Redis fails the run; on a laptop those tests are skipped."""


def _unavailable(what: str, exc: Exception) -> None:
    message = f"{what} not available ({str(exc).strip().splitlines()[0] if str(exc).strip() else exc!r})"
    if REQUIRE_SERVICES:
        pytest.fail(message)
    pytest.skip(message + "; start it to run this test (CI always does)")


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    import psycopg

    try:
        postgres()
    except (ServerUnavailable, psycopg.OperationalError, OSError) as exc:
        _unavailable("PostgreSQL", exc)
    with own_database() as url:
        yield url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'newsclf.db'}"


@pytest.fixture(params=["postgresql", "sqlite"])
def database_url(request: pytest.FixtureRequest) -> str:
    """A fresh, empty database of each kind in turn: the test runs once on PostgreSQL
    (``pg_url``) and once on SQLite (``sqlite_url``)."""
    kind = "pg_url" if request.param == "postgresql" else "sqlite_url"
    return str(request.getfixturevalue(kind))


@pytest.fixture
def migrated_database_url(database_url: str) -> str:
    """``database_url`` with the newsclf tables (``newsclf db upgrade``)."""
    from newsclf.schema.db import upgrade

    upgrade(database_url)
    return database_url


@pytest.fixture
def redis_url() -> Iterator[str]:
    """A Redis database of this test's own (empty when taken), emptied afterwards."""
    try:
        redis_server()
    except (ServerUnavailable, OSError) as exc:
        _unavailable("Redis", exc)
    with own_redis_db() as url:
        yield url


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
    from newsclf.trainer.model import ModelConfig
    from newsclf.trainer.train import train

    tmp = tmp_path_factory.mktemp("tiny")
    subset = write_labeled(tmp / "subset.csv", bbc_rows(300))
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
