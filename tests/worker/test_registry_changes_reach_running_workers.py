"""Registry changes seen by real workers (PostgreSQL, Redis, ``newsclf worker``
subprocesses): promotion and rollback without a restart, one version per
batch, relabel, and fetching the active model from the database."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

import pytest
from services import (
    bbc_rows,
    clone_artifact,
    last_json,
    run_cli,
    service_env,
    wait_until,
    write_feed,
)
from sqlalchemy import text

from newsclf.schema.db import make_engine

RELOAD_S = 0.5
"""NEWSCLF_RELOAD_INTERVAL_S of the tests' workers (``service_env``)."""


class Service:
    """The CLI, a worker environment and SQL access on one database."""

    def __init__(self, pg_url: str, redis_url: str, tmp_path: Path) -> None:
        self.tmp = tmp_path
        self.env = service_env(
            database_url=pg_url, broker_url=redis_url, models_dir=tmp_path / "cli-models"
        )
        self.engine = make_engine(pg_url)
        assert self.cli("db", "upgrade").returncode == 0

    def cli(self, *args: str, ok: bool = True) -> Any:
        done = run_cli(self.env, *args)
        if ok:
            assert done.returncode == 0, done.stderr[-3000:]
        return done

    def cli_json(self, *args: str) -> Any:
        return last_json(self.cli(*args, "--json").stdout)

    def sql(self, query: str, **params: Any) -> list[Any]:
        with self.engine.connect() as conn:
            return list(conn.execute(text(query), params).all())

    def enqueue(self, rows: list[dict[str, str]], name: str, *, wait: bool = True) -> int:
        feed = write_feed(self.tmp / f"{name}.csv", [r["text"] for r in rows], prefix=name)
        args = ["enqueue", str(feed), "--source", name, "--json"]
        if wait:
            args += ["--wait", "--timeout", "180"]
        summary = self.cli_json(*args)
        return int(summary["job_id"])

    def versions_of(self, source: str) -> dict[str, int]:
        """Prediction count per model version for the articles of ``source``."""
        rows = self.sql(
            "SELECT p.model_version, count(*) FROM predictions p JOIN articles a"
            " ON a.id = p.article_id WHERE a.source = :source GROUP BY p.model_version",
            source=source,
        )
        return {version: n for version, n in rows}

    def job_done(self, job_id: int) -> bool:
        status = self.cli_json("status", "--job", str(job_id))["jobs"][0]
        return bool(status["pending"] == 0)


@pytest.fixture
def service(pg_url: str, redis_url: str, tmp_path: Path) -> Service:
    return Service(pg_url, redis_url, tmp_path)


def _version(artifact: Path) -> str:
    return str(json.loads((artifact / "MANIFEST.json").read_text())["version"])


@pytest.mark.slow
def test_a_promotion_reaches_a_running_worker_between_batches_and_rollback_restores_the_first(
    service: Service, tiny_artifact: Path, bbc_csv: Path, tmp_path: Path, start_worker: Any
) -> None:
    v1 = _version(tiny_artifact)
    v2 = clone_artifact(tiny_artifact, tmp_path / "other", "v2-hot").name
    service.cli("models", "register", str(tiny_artifact))
    service.cli("models", "register", str(tmp_path / "other" / v2), "--no-activate")
    rows = bbc_rows(700, start=0, distinct=True)
    worker = start_worker(service.env)
    pid = worker.proc.pid

    service.enqueue(rows[:50], "before")
    assert service.versions_of("before") == {v1: 50}

    # Promote while a 400-article job is being labeled.
    during = service.enqueue(rows[50:450], "during", wait=False)
    service.cli("models", "promote", v2, "--by", "tester")
    wait_until(lambda: service.job_done(during), timeout=180, what="the job enqueued mid-promotion")
    time.sleep(2 * RELOAD_S)  # a batch after this sees the promotion
    service.enqueue(rows[450:500], "after")
    assert service.versions_of("after") == {v2: 50}

    # Every batch was served by one version; every prediction names its version.
    mixed = service.sql(
        "SELECT batch_id FROM predictions GROUP BY batch_id HAVING count(DISTINCT model_version) > 1"
    )
    assert mixed == []
    assert sum(service.versions_of("during").values()) == 400
    assert service.sql("SELECT count(*) FROM predictions WHERE model_version IS NULL") == [(0,)]

    rolled = service.cli_json("models", "rollback")
    assert rolled["version"] == v1
    time.sleep(2 * RELOAD_S)
    service.enqueue(rows[500:550], "rolled-back")
    assert service.versions_of("rolled-back") == {v1: 50}

    # relabel: the active model (v1 again) labels "after" too; v2's predictions stay.
    report = service.cli_json("relabel", "--source", "after")
    assert (report["matched"], report["published"], report["model_version"]) == (50, 50, v1)
    wait_until(
        lambda: service.versions_of("after") == {v1: 50, v2: 50}, timeout=120, what="relabel"
    )

    assert worker.proc.poll() is None and worker.proc.pid == pid  # never restarted
    log = worker.log()
    assert f"model loaded version={v2} previous={v1}" in log
    assert f"model loaded version={v1} previous={v2}" in log
    history = service.cli_json("models", "history")
    assert [(h["version"], h["by"]) for h in history[:2]] == [(v1, "rollback"), (v2, "tester")]


def test_a_worker_with_no_local_models_fetches_the_active_one_and_refuses_a_corrupted_blob(
    service: Service, tiny_artifact: Path, bbc_csv: Path, tmp_path: Path, start_worker: Any
) -> None:
    # Registered from directories that are then deleted: only the database has them.
    staged = tmp_path / "staged"
    v1 = _version(shutil.copytree(tiny_artifact, staged / _version(tiny_artifact)))
    v2 = clone_artifact(tiny_artifact, staged, "v2-corrupt").name
    service.cli("models", "register", str(staged / v1))
    service.cli("models", "register", str(staged / v2), "--no-activate")
    shutil.rmtree(staged)
    with service.engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE model_blobs SET data = set_byte(data, 600, (get_byte(data, 600) + 1) % 256)"
                " WHERE version = :v"
            ),
            {"v": v2},
        )

    worker_models = tmp_path / "worker-models"
    env = {**service.env, "NEWSCLF_MODELS_DIR": str(worker_models)}
    worker = start_worker(env)
    wait_until(lambda: (worker_models / v1).is_dir(), timeout=60, what="the fetched artifact")
    assert f"model fetched from the database version={v1}" in worker.log()
    service.enqueue(bbc_rows(30, start=0, distinct=True), "fetched")
    assert service.versions_of("fetched") == {v1: 30}

    service.cli("models", "promote", v2)
    time.sleep(2 * RELOAD_S)
    service.enqueue(bbc_rows(30, start=100, distinct=True), "refused")
    assert service.versions_of("refused") == {v1: 30}  # still serving the good model
    log = worker.log()
    assert f"model refused version={v2}: model blob of version {v2} is corrupted" in log
    assert f"still serving {v1}" in log
    assert not (worker_models / v2).exists()
    assert not [p for p in worker_models.iterdir() if p.name.startswith(".fetch")]
    assert worker.proc.poll() is None
