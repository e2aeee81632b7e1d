"""Redis loses every message in the middle of a job (FLUSHDB: this Redis keeps
nothing on disk, so a restart is the same): ``newsclf reconcile`` rebuilds the
queue from the database and the job completes with none missing, none twice."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import redis
from faults import MID_JOB, assert_alive, bbc_texts, held_mid_job, make_service, write_csv
from servers import own_redis_db

N_ARTICLES = 3000


@pytest.mark.slow
def test_after_redis_is_flushed_mid_job_reconcile_requeues_the_rest_and_the_job_completes(
    pg_url: str, tiny_artifact: Path, bbc_csv: Path, tmp_path: Path, start_worker
) -> None:
    with own_redis_db() as redis_url:
        service = make_service(pg_url, redis_url, tiny_artifact, tmp_path, **MID_JOB)
        feed = write_csv(tmp_path / "feed.csv", bbc_texts(bbc_csv, N_ARTICLES))
        worker, job = held_mid_job(service, start_worker, feed)
        client = redis.Redis.from_url(redis_url)
        queued = client.llen("classify")
        client.flushdb()
        client.close()
        at_flush = service.progress(job)
        service.gate.open()

        result = service.cli("reconcile", "--json")
        assert result.returncode == 0, result.stderr
        report = json.loads(result.stdout.strip().splitlines()[-1])
        done = service.wait_done(job, alive=lambda: assert_alive(worker))
        counts = service.predictions(job)
        print(
            f"\nFAULT redis-flush: at flush {at_flush['labeled']}/{N_ARTICLES} labeled, "
            f"{queued} messages lost from the queue; reconcile re-queued {report['republished']} "
            f"articles; after: {done['labeled']} labeled, {done['failed']} failed, "
            f"{counts['rows']} prediction rows"
        )
        assert 0 < at_flush["labeled"] < N_ARTICLES and queued > 0
        assert report["jobs"] == [job] and report["republished"] > 0
        assert (done["status"], done["labeled"], done["failed"]) == ("done", N_ARTICLES, 0)
        assert counts == {"rows": N_ARTICLES, "articles": N_ARTICLES, "most_per_article": 1}
