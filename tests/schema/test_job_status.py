"""Job status read back (``worker.results.jobs_status``, ``newsclf status --job``): one job
is counted on its own, and a job that does not exist is a one-line error."""

from __future__ import annotations

import subprocess
from pathlib import Path

from services import newsclf_cmd, service_env
from sqlalchemy.orm import Session, sessionmaker

from newsclf.schema.articles import upsert_articles
from newsclf.schema.job_lines import add_job_articles
from newsclf.schema.jobs import create_job
from newsclf.schema.predictions import insert_predictions
from newsclf.worker.results import jobs_status


def test_jobs_status_counts_the_jobs_asked_for_and_only_those(
    sessions: sessionmaker[Session], add_model, prediction
) -> None:
    with sessions.begin() as session:
        add_model(session, "v1")
        jobs = []
        for j in range(3):
            job = create_job(session, source=f"feed{j}", model_version="v1")
            stored = upsert_articles(session, [{"text": f"job {j} article {i}"} for i in range(4)])
            add_job_articles(session, job.id, [(aid, i + 1) for i, (aid, _) in enumerate(stored)])
            labeled = [aid for aid, _ in stored[: j + 1]]  # job j: j + 1 labeled
            insert_predictions(session, [prediction(aid, "v1", {"sport": 1.0}) for aid in labeled])
            jobs.append(job.id)

    with sessions() as session:
        asked = jobs_status(session, job_ids=[jobs[0], jobs[2], 10**9])
        assert [(r["job_id"], r["labeled"], r["pending"]) for r in asked] == [
            (jobs[2], 3, 1),
            (jobs[0], 1, 3),
        ]
        assert jobs_status(session, job_ids=[]) == []
        newest = jobs_status(session, limit=2)
        assert [r["job_id"] for r in newest] == [jobs[2], jobs[1]]


def test_status_of_a_job_that_does_not_exist_is_a_one_line_error(
    pg_url: str, redis_url: str, tmp_path: Path
) -> None:
    from newsclf.schema.db import upgrade

    upgrade(pg_url)
    env = service_env(database_url=pg_url, broker_url=redis_url, models_dir=tmp_path)
    for extra in ((), ("--json",)):
        out = subprocess.run(
            newsclf_cmd("status", "--job", "424242", *extra),
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert out.returncode == 2, out.stderr
        assert out.stderr.strip() == "error: no job 424242: `newsclf status` lists the newest jobs"
        assert out.stdout == ""
