"""Scheduled retraining end to end: ``newsclf beat`` with a 2-second retrain
interval publishes ``newsclf.retrain`` to the ``train`` queue, a real worker
runs it with a tiny model config, and the run lands in ``training_runs``;
``newsclf retrain --wait`` goes the same way."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest
from services import (
    TINY_RETRAIN_CONFIG,
    bbc_rows,
    newsclf_cmd,
    run_cli,
    service_env,
    wait_until,
    write_labeled,
)
from sqlalchemy import select

from newsclf.schema.db import make_engine, session_factory
from newsclf.schema.models import TrainingRun


@pytest.mark.slow
def test_the_beat_schedule_runs_a_retraining_on_a_train_queue_worker_and_records_it(
    pg_url: str,
    redis_url: str,
    tiny_artifact: Path,
    bbc_csv: Path,
    tmp_path: Path,
    start_worker: Any,
) -> None:
    import redis

    env = service_env(
        database_url=pg_url,
        broker_url=redis_url,
        models_dir=tmp_path / "models",
        train_data=str(write_labeled(tmp_path / "base.csv", bbc_rows(500, start=0, distinct=True))),
        retrain_config=json.dumps(TINY_RETRAIN_CONFIG),
        retrain_every_s="2",
        reconcile_every_s="0",
    )
    assert run_cli(env, "db", "upgrade").returncode == 0
    assert run_cli(env, "models", "register", str(tiny_artifact)).returncode == 0
    sessions = session_factory(make_engine(pg_url))

    def runs() -> list[TrainingRun]:
        with sessions() as session:
            return list(session.scalars(select(TrainingRun).order_by(TrainingRun.id)))

    start_worker(env)
    beat_log = tmp_path / "beat.log"
    with open(beat_log, "ab") as log:
        beat = subprocess.Popen(
            newsclf_cmd("beat", "--loglevel", "INFO"),
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_until(runs, timeout=120, what=f"a scheduled run; beat log:\n{beat_log.read_text()}")
    finally:
        os.killpg(beat.pid, signal.SIGTERM)
        beat.wait(20)
    redis.Redis.from_url(redis_url).delete("train")  # what beat queued meanwhile

    finished = wait_until(
        lambda: [r for r in runs() if r.status not in ("running", "skipped")],
        timeout=240,
        what="the scheduled run to finish",
    )
    run = finished[0]
    assert (run.trigger, run.status) == ("beat", "done"), run.reason
    assert run.decision in ("promoted", "rejected") and run.reason
    assert (run.n_base, run.n_feedback, run.n_holdout) == (400, 0, 100)
    assert run.metrics["challenger"]["n"] == run.metrics["champion"]["n"] == 100
    assert (
        run.champion_version == json.loads((tiny_artifact / "MANIFEST.json").read_text())["version"]
    )
    assert "Scheduler: Sending due task retrain (newsclf.retrain)" in beat_log.read_text()

    # `newsclf retrain --wait` sends the same task and waits for its recorded run.
    asked = run_cli(env, "retrain", "--wait", "--timeout", "240", "--json")
    assert asked.returncode == 0, asked.stderr[-3000:]
    on_demand = json.loads(asked.stdout.strip().splitlines()[-1])
    assert on_demand["status"] == "done" and on_demand["decision"] in ("promoted", "rejected")
    with sessions() as session:
        assert session.get_one(TrainingRun, on_demand["run_id"]).trigger == "cli"
